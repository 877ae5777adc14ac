// C stays inside its wrapper module: only SwitchboardLWS imports
// CLibWebSockets, only SwitchboardPostgres imports CLibPQ, only
// SwitchboardAuth imports CCrypto, only SwitchboardRedis imports CHiredis.
// The load tool's client pool is the one file outside them that speaks lws
// (the client side is the tool's own).
import Foundation
import Testing

@Suite struct ModuleBoundaryTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let owners = [
        "CLibWebSockets": "SwitchboardLWS", "CLibPQ": "SwitchboardPostgres", "CCrypto": "SwitchboardAuth",
        "CHiredis": "SwitchboardRedis",
    ]
    /// Single files outside the wrappers allowed to import a C module (privately).
    static let exceptions = ["CLibWebSockets": "loadtest/Sources/LWSClientPool.swift"]

    @Test func onlyTheWrapperImportsItsCModule() throws {
        var offenders: [String] = []
        var checked = 0
        for folder in ["Sources", "loadtest", "Tests"] {
            let base = Self.root.appendingPathComponent(folder)
            guard let files = FileManager.default.enumerator(atPath: base.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                checked += 1
                let text = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
                for line in text.split(separator: "\n") {
                    let words = line.split(separator: " ").map(String.init)
                    guard let at = words.firstIndex(of: "import"), at + 1 < words.count,
                        let owner = Self.owners[words[at + 1]]
                    else { continue }
                    let path = "\(folder)/\(file)"
                    if !(folder == "Sources" && file.hasPrefix(owner + "/")) && Self.exceptions[words[at + 1]] != path {
                        offenders.append(path)
                    }
                }
            }
        }
        #expect(checked > 20)
        #expect(offenders.isEmpty, "C imported outside its wrapper: \(offenders)")
    }

    @Test func wrappersImportCPrivately() throws {
        var files: [(cModule: String, path: String)] = []
        for (cModule, owner) in Self.owners {
            let dir = Self.root.appendingPathComponent("Sources/\(owner)")
            for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".swift") {
                files.append((cModule, "Sources/\(owner)/\(file)"))
            }
        }
        files += Self.exceptions.map { ($0.key, $0.value) }
        for (cModule, path) in files {
            let text = try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)
            #expect(
                !text.contains("\nimport \(cModule)") && !text.hasPrefix("import \(cModule)")
                    && !text.contains("public import \(cModule)"), "\(path) must use internal/private import")
        }
    }
}
