// A small JSON value used on the hot path. Foundation's coders cost ~9 µs per
// 200-byte frame on this project's machines, so frames are parsed and written by hand.

/// A JSON value. Integers stay exact (`int`); other numbers are `double`.
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The element at `index` of an array, or nil.
    public subscript(index: Int) -> JSON? {
        if case .array(let elements) = self, elements.indices.contains(index) { return elements[index] }
        return nil
    }

    /// The string payload, or nil.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer payload (a double with no fraction counts), or nil.
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: return Int64(d)
        default: return nil
        }
    }

    /// The boolean payload, or nil.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// True for objects.
    public var isObject: Bool {
        if case .object = self { return true }
        return false
    }
}

extension JSON {
    /// Parses UTF-8 bytes. Throws `JSONError` on malformed input, nesting
    /// deeper than `maxDepth`, or trailing content.
    public static func parse<Bytes: Collection>(_ bytes: Bytes, maxDepth: Int = 64) throws -> JSON
    where Bytes.Element == UInt8 {
        if let fast = try bytes.withContiguousStorageIfAvailable({ buffer in
            var parser = JSONParser(buffer, maxDepth: maxDepth)
            return try parser.parseDocument()
        }) {
            return fast
        }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(buffer, maxDepth: maxDepth)
            return try parser.parseDocument()
        }
    }

    /// Parses a string.
    public static func parse(_ text: String) throws -> JSON {
        try parse(Array(text.utf8))
    }

    /// The compact JSON text of this value; object keys are sorted so the
    /// output is deterministic.
    public var serialized: String {
        var writer = JSONWriter()
        writer.write(self)
        return writer.string
    }

    /// The compact JSON bytes of this value.
    public var bytes: [UInt8] {
        var writer = JSONWriter()
        writer.write(self)
        return writer.bytes
    }
}

/// Why a JSON text was rejected.
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Byte offset where parsing stopped.
    public let offset: Int
    /// A short human-readable reason, never echoing input.
    public let reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}
