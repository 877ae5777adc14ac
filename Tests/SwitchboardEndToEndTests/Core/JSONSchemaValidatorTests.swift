// The test validator itself: it loads every schema of Protocol/schemas, agrees
// with the golden examples, and rejects each kind of violation it claims to check.
import Foundation
import SwitchboardWire
import Testing

@Suite struct JSONSchemaValidatorTests {
    func schema(_ text: String) throws -> JSONSchema { try JSONSchema(try JSON.parse(Array(text.utf8))) }
    func keywords(_ schema: JSONSchema, _ instance: String) throws -> [String] {
        schema.violations(of: try JSON.parse(Array(instance.utf8))).map(\.keyword)
    }

    @Test func everyProtocolSchemaLoads() throws {
        for prefix in ["server.", "client."] {
            let loaded = try FrameSchemas.load(prefix: prefix).get()
            #expect(loaded.count >= 9, "\(prefix)")
        }
    }

    @Test func everyGoldenExampleMeetsItsSchema() throws {
        let examples = FrameSchemas.directory.deletingLastPathComponent().appendingPathComponent("examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".json") }
        #expect(files.count >= 20)
        for file in files.sorted() {
            // client.subscribe-since.json is a variant of client.subscribe.
            let stem = file.dropLast(".json".count).split(separator: "-")[0]
            let side = stem.hasPrefix("client.") ? "client." : "server."
            let schemas = try FrameSchemas.load(prefix: side).get()
            let schema = try #require(schemas[String(stem.dropFirst(side.count))], "\(file)")
            let frame = try JSON.parse(Array(try Data(contentsOf: examples.appendingPathComponent(file))))
            #expect(schema.violations(of: frame).isEmpty, "\(file): \(schema.violations(of: frame))")
        }
    }

    @Test func anUnknownKeywordFailsLoudly() {
        for text in [
            #"{"type":"object","patternProperties":{}}"#, #"{"properties":{"a":{"format":"email"}}}"#,
            #"{"items":{"anyOf":[]}}"#, #"{"$ref":"https://example.com/other.json"}"#, ##"{"$ref":"#/$defs/missing"}"##,
            #"{"type":"text"}"#, #"{"minLength":-1}"#, #"{"pattern":"("}"#, #"{"$defs":{"x":{"if":true}}}"#,
        ] {
            #expect(throws: SchemaError.self, "\(text)") { try schema(text) }
        }
    }

    @Test func typesAndConstants() throws {
        let s = try schema(
            #"{"type":"object","properties":{"t":{"const":"x"},"n":{"type":["integer","null"]},"e":{"enum":[1,"a"]}}}"#)
        #expect(try keywords(s, #"{"t":"x","n":null,"e":1}"#) == [])
        #expect(try keywords(s, #"{"n":2.0,"e":"a"}"#) == [])
        #expect(try keywords(s, "[]") == ["type"])
        #expect(try keywords(s, #"{"t":"y"}"#) == ["const"])
        #expect(try keywords(s, #"{"n":"1"}"#) == ["type"])
        #expect(try keywords(s, #"{"n":1.5}"#) == ["type"])
        #expect(try keywords(s, #"{"e":2}"#) == ["enum"])
        #expect(try keywords(try schema(#"{"type":"boolean"}"#), "1") == ["type"])
        #expect(try keywords(try schema(#"{"type":"number"}"#), "1.5") == [])
        #expect(try keywords(try schema(#"{"type":"string"}"#), "null") == ["type"])
    }

    @Test func objectRules() throws {
        let s = try schema(#"{"properties":{"a":{"type":"string"}},"required":["a","b"],"additionalProperties":false}"#)
        #expect(try keywords(s, #"{"a":"x","b":1}"#) == ["additionalProperties"])
        let open = try schema(
            #"{"properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":{"type":"integer"}}"#)
        #expect(try keywords(open, #"{"a":"x","b":1}"#) == [])
        #expect(try keywords(open, #"{"b":1}"#) == ["required"])
        #expect(try keywords(open, #"{"a":1,"b":"1"}"#).sorted() == ["type", "type"])
        let violation = open.violations(of: try JSON.parse(Array(#"{"a":"x","b":"1"}"#.utf8)))
        #expect(violation.map(\.instancePath) == ["/b"])
    }

    @Test func stringRules() throws {
        let s = try schema(
            #"{"type":["string","integer"],"pattern":"^[a-z]+:[0-9]+$","minLength":3,"maxLength":5,"minimum":-2,"maximum":9007199254740991}"#
        )
        #expect(try keywords(s, #""ab:12""#) == [])
        #expect(try keywords(s, #""ab:1x""#) == ["pattern"])
        #expect(try keywords(s, #""a:""#).sorted() == ["minLength", "pattern"])
        #expect(try keywords(s, #""abc:12""#) == ["maxLength"])
        // Characters are code points: "é" is one.
        #expect(try keywords(try schema(#"{"maxLength":1}"#), #""é""#) == [])
        // pattern and lengths do not apply to integers, bounds do not apply to strings.
        #expect(try keywords(s, "7") == [])
        #expect(try keywords(s, "-3") == ["minimum"])
        #expect(try keywords(s, "9007199254740992") == ["maximum"])
        #expect(try keywords(s, "9007199254740991") == [])
    }

    @Test func arraysCompositionAndReferences() throws {
        let s = try schema(
            ##"{"type":"array","minItems":1,"maxItems":2,"items":{"$ref":"#/$defs/entry"},"##
                + #""$defs":{"entry":{"type":"object","oneOf":[{"required":["a"]},{"required":["b"]}]}}}"#)
        #expect(try keywords(s, #"[{"a":1},{"b":2}]"#) == [])
        #expect(try keywords(s, "[]") == ["minItems"])
        #expect(try keywords(s, #"[{"a":1},{"a":1},{"a":1}]"#) == ["maxItems"])
        #expect(try keywords(s, #"[{"a":1,"b":2}]"#) == ["oneOf"])
        #expect(try keywords(s, #"[{"c":1}]"#) == ["oneOf"])
        #expect(try keywords(s, #"[5]"#).sorted() == ["oneOf", "type"])
    }

    @Test func framesAreCheckedByTheirType() throws {
        #expect(FrameSchemas.problems(of: #"{"type":"pong","id":"p","time":1764400000000}"#) == [])
        #expect(FrameSchemas.problems(of: #"{"type":"pong","id":1.5,"time":1}"#).count == 1)
        #expect(FrameSchemas.problems(of: #"{"type":"pong","time":"1"}"#).first?.contains("/time: type") == true)
        #expect(FrameSchemas.problems(of: #"{"type":"launch"}"#).first?.contains("unknown frame type") == true)
        #expect(FrameSchemas.problems(of: "[1]") == ["not a JSON object"])
        #expect(FrameSchemas.problems(of: #"{"type":7}"#) == ["no string 'type'"])
        let tooLong = "topic:" + String(repeating: "x", count: 195)
        #expect(FrameSchemas.problems(of: #"{"type":"unsubscribed","channel":"\#(tooLong)"}"#).count == 1)
        #expect(FrameSchemas.problems(of: #"{"type":"unsubscribed","channel":"\#(tooLong.dropLast())"}"#) == [])
    }
}
