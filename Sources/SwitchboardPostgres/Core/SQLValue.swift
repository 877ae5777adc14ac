// Typed statement parameters and typed rows. Values cross the wire as text
// (libpq's text format); these types decide that text in one place, so call
// sites bind `.int64(id)` and read `row.int64("seq")` instead of building
// positional `[String?]` arrays and parsing `row[3]` by hand.

import SwitchboardWire

/// A bound parameter of a statement, in PostgreSQL's text format.
public struct SQLValue: Sendable, Equatable, CustomStringConvertible {
    /// The text sent to the server; nil is SQL NULL.
    public let wireText: String?

    private init(_ wireText: String?) { self.wireText = wireText }

    /// SQL NULL.
    public static let null = SQLValue(nil)

    /// A `bigint` (NULL when nil).
    public static func int64(_ value: Int64?) -> SQLValue { SQLValue(value.map(String.init)) }
    /// An integer (NULL when nil).
    public static func int(_ value: Int?) -> SQLValue { SQLValue(value.map(String.init)) }
    /// Text (NULL when nil). A NUL character cannot be sent: the statement
    /// is refused with a data exception (see `PGConnection`).
    public static func text(_ value: String?) -> SQLValue { SQLValue(value) }
    /// A boolean (NULL when nil).
    public static func bool(_ value: Bool?) -> SQLValue { SQLValue(value.map { $0 ? "true" : "false" }) }
    /// A `double precision` (NULL when nil).
    public static func double(_ value: Double?) -> SQLValue {
        SQLValue(value.map { v in v.isNaN ? "NaN" : v.isInfinite ? (v < 0 ? "-Infinity" : "Infinity") : String(v) })
    }
    /// JSON text, e.g. a request body (cast it in SQL: `$1::jsonb`).
    public static func json(_ bytes: [UInt8]) -> SQLValue { SQLValue(String(decoding: bytes, as: UTF8.self)) }
    /// A `bigint[]`, for `= ANY($1::bigint[])` and `unnest`.
    public static func int64Array(_ values: [Int64]) -> SQLValue {
        array(values) { value, bytes in bytes.appendDecimal(value) }
    }
    /// A `text[]`, for `= ANY($1::text[])` and `unnest`. Every element is
    /// quoted, so commas, braces, quotes and the word NULL stay text.
    public static func textArray(_ values: [String]) -> SQLValue {
        array(values) { value, bytes in appendQuoted(value, to: &bytes) }
    }

    /// A `bigint[]` whose elements may be NULL.
    public static func optionalInt64Array(_ values: [Int64?]) -> SQLValue {
        array(values) { value, bytes in
            if let value { bytes.appendDecimal(value) } else { bytes.append(contentsOf: "NULL".utf8) }
        }
    }
    /// A `text[]` whose elements may be NULL.
    public static func optionalTextArray(_ values: [String?]) -> SQLValue {
        array(values) { value, bytes in
            if let value { appendQuoted(value, to: &bytes) } else { bytes.append(contentsOf: "NULL".utf8) }
        }
    }

    /// One array of the elements of `arrays` (each a one-dimensional array
    /// made by the functions above), in order: how merged jobs bind the
    /// concatenation of their arrays without taking them apart.
    public static func concatenatingArrays(_ arrays: [SQLValue]) -> SQLValue {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(arrays.reduce(2) { $0 + ($1.wireText?.utf8.count ?? 0) })
        for array in arrays {
            guard let wire = array.wireText?.utf8, wire.count > 2 else { continue }
            if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: wire.dropFirst().dropLast())
        }
        bytes.append(UInt8(ascii: "}"))
        return SQLValue(String(decoding: bytes, as: UTF8.self))
    }

    // The array literals are built in one byte buffer: the chat send builds
    // nine of them for every message on the loop thread, where map, joined
    // and concatenation cost an allocation per element and per step.
    private static func array<T>(_ values: [T], _ element: (T, inout [UInt8]) -> Void) -> SQLValue {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(32 * values.count + 2)
        for (i, value) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            element(value, &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
        return SQLValue(String(decoding: bytes, as: UTF8.self))
    }

    /// A quoted element: `"` and `\` escaped with a backslash, nothing else.
    private static func appendQuoted(_ s: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
            bytes.append(byte)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public var description: String { wireText.map { "'\($0)'" } ?? "NULL" }
}

/// Column names of one result, shared by its rows.
final class Columns: Sendable {
    let names: [String]
    let index: [String: Int]
    init(_ names: [String]) {
        self.names = names
        // The first of duplicate names wins, as in SQL `SELECT *` habits.
        var index: [String: Int] = [:]
        for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
        self.index = index
    }
}

/// One result row, read by column name into typed values. A missing column,
/// a NULL where a value is required, or text that does not parse throws a
/// decode error (never a default such as 0).
public struct Row: Sendable {
    let columns: Columns
    /// The row's values in text format, by position (nil: NULL).
    public let values: [String?]

    /// The raw text of `column` (nil: NULL); throws if there is no such column.
    package func raw(_ column: String) throws(PostgresError) -> String? {
        guard let i = columns.index[column] else { throw .decode(column) }
        return values[i]
    }

    private func required(_ column: String) throws(PostgresError) -> String {
        guard let text = try raw(column) else { throw .decode(column) }
        return text
    }

    private func parsed<T>(_ column: String, _ parse: (String) -> T?) throws(PostgresError) -> T? {
        guard let text = try raw(column) else { return nil }
        guard let value = parse(text) else { throw .decode(column) }
        return value
    }

    /// A non-NULL text column.
    package func text(_ column: String) throws(PostgresError) -> String { try required(column) }
    /// A text column that may be NULL.
    package func optionalText(_ column: String) throws(PostgresError) -> String? { try raw(column) }

    /// A non-NULL integer column.
    package func int64(_ column: String) throws(PostgresError) -> Int64 {
        guard let value = try parsed(column, { Int64($0) }) else { throw .decode(column) }
        return value
    }
    /// An integer column that may be NULL.
    package func optionalInt64(_ column: String) throws(PostgresError) -> Int64? { try parsed(column) { Int64($0) } }

    /// A non-NULL integer column that fits an `Int`.
    package func int(_ column: String) throws(PostgresError) -> Int {
        guard let value = try parsed(column, { Int($0) }) else { throw .decode(column) }
        return value
    }
    /// An `Int` column that may be NULL.
    package func optionalInt(_ column: String) throws(PostgresError) -> Int? { try parsed(column) { Int($0) } }

    /// A non-NULL boolean column (`t`/`f`).
    package func bool(_ column: String) throws(PostgresError) -> Bool {
        guard let value = try parsed(column, Self.bool) else { throw .decode(column) }
        return value
    }
    /// A boolean column that may be NULL.
    package func optionalBool(_ column: String) throws(PostgresError) -> Bool? { try parsed(column, Self.bool) }

    /// A non-NULL floating-point column.
    package func double(_ column: String) throws(PostgresError) -> Double {
        guard let value = try parsed(column, { Double($0) }) else { throw .decode(column) }
        return value
    }
    /// A floating-point column that may be NULL.
    package func optionalDouble(_ column: String) throws(PostgresError) -> Double? { try parsed(column) { Double($0) } }

    /// A non-NULL column as UTF-8 bytes (JSON text: `body::text`).
    package func bytes(_ column: String) throws(PostgresError) -> [UInt8] { Array(try required(column).utf8) }
    /// A column as UTF-8 bytes, nil when NULL.
    package func optionalBytes(_ column: String) throws(PostgresError) -> [UInt8]? { try raw(column).map { Array($0.utf8) } }

    private static func bool(_ text: String) -> Bool? {
        switch text {
        case "t": return true
        case "f": return false
        default: return nil
        }
    }
}
