// The exact text of array parameters (no server needed): they are built
// byte by byte, and PostgreSQL must read back what was sent.
import SwitchboardPostgres
import Testing

@Suite struct SQLValueWireTests {
    @Test func int64ArraysAreDigitsBetweenBraces() {
        #expect(SQLValue.int64Array([]).wireText == "{}")
        #expect(SQLValue.int64Array([0, 7, -12, .max, .min]).wireText == "{0,7,-12,9223372036854775807,-9223372036854775808}")
        #expect(SQLValue.optionalInt64Array([nil, 42, nil]).wireText == "{NULL,42,NULL}")
    }

    @Test func textElementsAreQuotedWithQuoteAndBackslashEscaped() {
        #expect(SQLValue.textArray([]).wireText == "{}")
        #expect(SQLValue.textArray(["a", "", "NULL", "x,y", "{z}"]).wireText == #"{"a","","NULL","x,y","{z}"}"#)
        #expect(SQLValue.textArray([#"say "hi""#, #"back\slash"#, "é ✓"]).wireText == #"{"say \"hi\"","back\\slash","é ✓"}"#)
        #expect(SQLValue.optionalTextArray([nil, "b", nil]).wireText == #"{NULL,"b",NULL}"#)
    }
}
