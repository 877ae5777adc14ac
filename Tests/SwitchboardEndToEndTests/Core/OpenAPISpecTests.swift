// Protocol/openapi.yaml passes the strict OAS 3.0 check (scripts/check-openapi.py,
// whose validator scripts/setup --tests installs), and the check rejects what
// it should: a nullable allOf and a dangling $ref.
import Foundation
import Testing

@Suite struct OpenAPISpecTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let spec = root.appendingPathComponent("Protocol/openapi.yaml")

    /// The checker's exit status and output for `file`.
    func check(_ file: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.root.appendingPathComponent("scripts/check-openapi.py").path, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// A copy of the spec with `original` replaced by `broken`.
    func brokenCopy(_ original: String, _ broken: String) throws -> URL {
        let text = try String(contentsOf: Self.spec, encoding: .utf8)
        #expect(text.contains(original), "the spec no longer holds \(original)")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-\(UUID().uuidString).yaml")
        try text.replacingOccurrences(of: original, with: broken).write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test func theSpecIsValidUnderTheStrictCheck() throws {
        let (status, output) = try check(Self.spec)
        #expect(status == 0, "\(output) (missing validator? run scripts/setup --tests)")
    }

    @Test func aNullableAllOfIsRefused() throws {
        let url = try brokenCopy(
            """
                                      anyOf:
                                        - $ref: '#/components/schemas/Message'
                                        - {type: object, nullable: true, enum: [null]}
            """,
            """
                                      allOf: [{$ref: '#/components/schemas/Message'}]
                                      nullable: true
            """)
        defer { try? FileManager.default.removeItem(at: url) }
        let (status, output) = try check(url)
        #expect(status == 1)
        #expect(output.contains("nullable without a type"), "\(output)")
    }

    @Test func aDanglingReferenceIsRefused() throws {
        let url = try brokenCopy("$ref: '#/components/schemas/MessagePage'", "$ref: '#/components/schemas/NoSuchPage'")
        defer { try? FileManager.default.removeItem(at: url) }
        let (status, output) = try check(url)
        #expect(status == 1, "\(output)")
    }
}
