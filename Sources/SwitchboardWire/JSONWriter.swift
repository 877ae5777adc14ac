// Compact JSON writer into a byte array; used to build outbound frames once.

/// Appends JSON text to a byte buffer. Frames are built with it once and the
/// bytes are then shared by every recipient.
public struct JSONWriter {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// A writer whose buffer starts with `headroom` zero bytes (room a
    /// transport may need in front of the payload).
    public init(headroom: Int = 0, capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(headroom + capacity)
        if headroom > 0 { bytes.append(contentsOf: repeatElement(0, count: headroom)) }
    }

    /// The text written so far (headroom excluded only when it is zero).
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    /// Appends raw, already valid JSON text.
    public mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends raw, already valid JSON bytes.
    public mutating func raw<S: Sequence>(_ json: S) where S.Element == UInt8 {
        bytes.append(contentsOf: json)
    }

    /// Appends a quoted, escaped JSON string.
    public mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var runStart = 0
            for (i, byte) in utf8.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                appendEscape(byte)
                runStart = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscape(_ byte: UInt8) {
        switch byte {
        case 0x22: raw("\\\"")
        case 0x5C: raw("\\\\")
        case 0x0A: raw("\\n")
        case 0x0D: raw("\\r")
        case 0x09: raw("\\t")
        default:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            raw("\\u00")
            bytes.append(hex[Int(byte >> 4)])
            bytes.append(hex[Int(byte & 0xF)])
        }
    }

    /// Appends an integer.
    public mutating func int<I: BinaryInteger>(_ value: I) {
        if let exact = Int64(exactly: value) { int(exact) } else { bytes.append(contentsOf: String(value).utf8) }
    }

    /// Appends an integer.
    public mutating func int(_ value: Int64) { bytes.appendDecimal(value) }

    /// Appends an integer as a JSON string (`"42"`): ids that exceed
    /// JavaScript's exact integers travel as strings.
    public mutating func quotedInt(_ value: Int64) {
        bytes.append(UInt8(ascii: "\""))
        int(value)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends any JSON value (object keys sorted).
    public mutating func write(_ value: JSON) {
        switch value {
        case .null: raw("null")
        case .bool(let b): b ? raw("true") : raw("false")
        case .int(let i): int(i)
        case .double(let d):
            if d.rounded() == d, abs(d) < 1e15 { int(Int64(d)) } else { bytes.append(contentsOf: "\(d)".utf8) }
        case .string(let s): string(s)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (i, key) in members.keys.sorted().enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                string(key)
                bytes.append(UInt8(ascii: ":"))
                write(members[key]!)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// Starts an object member: `,"key":` (comma unless first).
    public mutating func key(_ name: StaticString, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        raw("\":")
    }
}

extension [UInt8] {
    /// Appends `value`'s decimal digits (with `-` when negative), written in
    /// place: `String(value)` went through the generic description and a
    /// UTF-8 copy for every number of every frame and statement parameter.
    public mutating func appendDecimal(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }
}
