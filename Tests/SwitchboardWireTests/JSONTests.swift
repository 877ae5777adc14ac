// The hand-written JSON parser and writer.
import Testing
@testable import SwitchboardWire

@Suite struct JSONTests {
    @Test func parsesEveryKind() throws {
        let json = try JSON.parse(#" {"a":[1,-2.5,true,false,null,"x\n\u00e9\ud83d\ude00"],"b":{"c":9223372036854775807}} "#)
        #expect(json["a"] == .array([.int(1), .double(-2.5), .bool(true), .bool(false), .null, .string("x\né😀")]))
        #expect(json["b"]?["c"] == .int(Int64.max))
    }

    @Test func roundTripsThroughTheWriter() throws {
        let value: JSON = .object([
            "k": .string("quote \" backslash \\ tab \t ctl \u{01}"), "n": .int(-5),
            "list": .array([.double(1.5), .null, .object([:])]),
        ])
        #expect(try JSON.parse(value.serialized) == value)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"abc", "\"\\x\"", "\"\\ud800\"",
        "{\"a\":1}x", "[\"\u{01}\"]", "1e999",
    ])
    func rejectsMalformed(text: String) {
        #expect(throws: JSONError.self) { try JSON.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONError.self) { try JSON.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func limitsNesting() throws {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONError.self) { try JSON.parse(Array(deep.utf8), maxDepth: 64) }
        #expect((try? JSON.parse(Array(deep.utf8), maxDepth: 128)) != nil)
    }

    /// Issue 10 #4: libpq cuts text at NUL, so no string from outside may
    /// hold one; other escapes still decode.
    @Test func refusesTheNULEscapeInStringsAndKeys() {
        #expect(throws: JSONError.self) { try JSON.parse(#""X\u0000a""#) }
        #expect(throws: JSONError.self) { try JSON.parse(#"{"a\u0000":1}"#) }
        #expect(throws: JSONError.self) { try JSON.parse(Array("\"a\u{0}b\"".utf8)) }
        #expect((try? JSON.parse(#""X\u0001a""#))?.stringValue == "X\u{1}a")
    }

    /// Issue 12: a number jsonb cannot store would fail a whole merged batch
    /// of chat sends (PostgreSQL's numeric refuses an exponent past ±1000),
    /// so the parser refuses it, and tokens no real value needs.
    @Test func refusesNumbersPostgreSQLCannotStore() {
        for text in ["1e-1001", "1E1001", "0e+99999999999999999999", "-0.5e-1001"] {
            #expect(throws: JSONError.self, "\(text)") { try JSON.parse(#"{"t":\#(text)}"#) }
        }
        #expect(throws: JSONError.self) { try JSON.parse("0." + String(repeating: "1", count: 1000)) }
        #expect((try? JSON.parse("1e-1000")) != nil)
        #expect((try? JSON.parse("-2.5E+300")) != nil)
        #expect((try? JSON.parse("0." + String(repeating: "1", count: 990))) != nil)
    }
}
