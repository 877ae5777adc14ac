// Every frame an end-to-end test receives is checked against the schema of its
// `type` (Protocol/schemas/server.<type>.schema.json) by WebSocketTestClient:
// a frame of an unknown type, or one that breaks its schema, records an issue
// in the test that received it, naming the frame and the rule.
import Foundation
import SwitchboardWire
import Testing

enum FrameSchemas {
    /// Protocol/schemas in this checkout.
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocol/schemas")

    /// The schemas of one side (`server.` or `client.`) by frame type, or why they cannot be used.
    static func load(prefix: String) -> Result<[String: JSONSchema], SchemaError> {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".schema.json") }
        guard !files.isEmpty else { return .failure(SchemaError(path: directory.path, problem: "no \(prefix)*.schema.json")) }
        var schemas: [String: JSONSchema] = [:]
        for file in files {
            let type = String(file.dropFirst(prefix.count).dropLast(".schema.json".count))
            do {
                let document = try JSON.parse(Array(try Data(contentsOf: directory.appendingPathComponent(file))))
                schemas[type] = try JSONSchema(document)
            } catch let error as SchemaError {
                return .failure(SchemaError(path: file + "#" + error.path, problem: error.problem))
            } catch {
                return .failure(SchemaError(path: file, problem: "unreadable: \(error)"))
            }
        }
        return .success(schemas)
    }

    /// The schemas of the frames the hub sends, loaded once.
    static let server = load(prefix: "server.")

    /// What is wrong with a text frame the hub sent (empty when it is valid).
    static func problems(of text: String, against loaded: Result<[String: JSONSchema], SchemaError> = server) -> [String] {
        let schemas: [String: JSONSchema]
        switch loaded {
        case .success(let loaded): schemas = loaded
        case .failure(let error): return ["the schemas cannot be used: \(error)"]
        }
        guard let frame = try? JSON.parse(Array(text.utf8)), case .object = frame else { return ["not a JSON object"] }
        guard let type = frame["type"]?.stringValue else { return ["no string 'type'"] }
        guard let schema = schemas[type] else { return ["unknown frame type '\(type)' (no server.\(type).schema.json)"] }
        return schema.violations(of: frame).map { "server.\(type).schema.json: \($0)" }
    }

    /// Records an issue (at the test's call) for each problem of a received frame.
    static func check(_ text: String, sourceLocation: SourceLocation) {
        for problem in problems(of: text) {
            let shown = text.count > 300 ? String(text.prefix(300)) + "…" : text
            Issue.record("frame \(shown) breaks its schema: \(problem)", sourceLocation: sourceLocation)
        }
    }
}
