// Reading the few fields the chat worker needs from a hub frame in one pass
// over its bytes, without building a JSON tree: at thousands of frames a
// second the tree (a dictionary and a String per member) cost the load tool
// more CPU than the hub spent on the message. Only the top level of the
// object is read (and `body`'s top level, for `sent_us`), so text inside
// strings or nested values is never taken for a field. A frame that is not a
// JSON object is ignored, as before.

/// A range of a frame's bytes.
struct ByteSpan {
    var start: Int
    var end: Int
    var isEmpty: Bool { start == end }
}

/// One pass over the members of a JSON object.
struct ObjectScanner {
    let bytes: UnsafeRawBufferPointer
    private var index: Int
    private let end: Int

    /// Scans the object that `span` of `bytes` holds (whitespace around it allowed).
    init?(_ bytes: UnsafeRawBufferPointer, _ span: ByteSpan) {
        self.bytes = bytes
        index = span.start
        end = span.end
        skipWhitespace()
        guard index < end, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
    }

    init?(_ bytes: UnsafeRawBufferPointer) { self.init(bytes, ByteSpan(start: 0, end: bytes.count)) }

    /// The next member: its key's raw bytes (between the quotes) and its
    /// value's bytes; nil at the end of the object or on malformed input.
    mutating func next() -> (key: ByteSpan, value: ByteSpan)? {
        skipWhitespace()
        guard index < end else { return nil }
        if bytes[index] == UInt8(ascii: ",") {
            index += 1
            skipWhitespace()
        }
        guard index < end, bytes[index] == UInt8(ascii: "\""), let key = skipString() else { return nil }
        skipWhitespace()
        guard index < end, bytes[index] == UInt8(ascii: ":") else { return nil }
        index += 1
        skipWhitespace()
        let start = index
        guard skipValue() else { return nil }
        return (ByteSpan(start: key.start + 1, end: key.end - 1), ByteSpan(start: start, end: index))
    }

    private mutating func skipWhitespace() {
        while index < end {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// Skips a string starting at its opening quote; its span with the quotes.
    private mutating func skipString() -> ByteSpan? {
        let start = index
        index += 1
        while index < end {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""):
                index += 1
                return ByteSpan(start: start, end: index)
            default: index += 1
            }
        }
        return nil
    }

    /// Skips one value (nested objects and arrays whole).
    private mutating func skipValue() -> Bool {
        guard index < end else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""): return skipString() != nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while index < end {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    guard skipString() != nil else { return false }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 {
                        index += 1
                        return true
                    }
                default: break
                }
                index += 1
            }
            return false
        default:
            // A number or a literal: up to the next delimiter.
            let start = index
            while index < end {
                switch bytes[index] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D:
                    return index > start
                default: index += 1
                }
            }
            return false
        }
    }
}

extension UnsafeRawBufferPointer {
    /// Whether `span` holds exactly the bytes of `literal`.
    func span(_ span: ByteSpan, is literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard span.end - span.start == n else { return false }
        let p = literal.utf8Start
        for i in 0..<n where self[span.start + i] != p[i] { return false }
        return true
    }

    /// The bytes of `span` that follow `prefix`, or nil when they do not start with it.
    func span(_ span: ByteSpan, droppingPrefix prefix: [UInt8]) -> ByteSpan? {
        guard span.end - span.start >= prefix.count else { return nil }
        for i in 0..<prefix.count where self[span.start + i] != prefix[i] { return nil }
        return ByteSpan(start: span.start + prefix.count, end: span.end)
    }

    /// A JSON integer (`-`? digits, nothing else) within Int64, or nil.
    func integer(_ span: ByteSpan) -> Int64? {
        var i = span.start
        let negative = i < span.end && self[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < span.end else { return nil }
        var value: Int64 = 0
        while i < span.end {
            let d = self[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.subtractingReportingOverflow(Int64(d))  // negative accumulation reaches Int64.min
            guard !o1, !o2 else { return nil }
            value = s
            i += 1
        }
        if negative { return value }
        return value == Int64.min ? nil : -value
    }

    /// A JSON string holding a decimal integer (`"123"`), or nil.
    func quotedInteger(_ span: ByteSpan) -> Int64? {
        guard span.end - span.start >= 2, self[span.start] == UInt8(ascii: "\""), self[span.end - 1] == UInt8(ascii: "\"")
        else { return nil }
        return integer(ByteSpan(start: span.start + 1, end: span.end - 1))
    }

    /// The text of a JSON string without escapes (nil when it has some or is not a string).
    func plainString(_ span: ByteSpan) -> String? {
        guard span.end - span.start >= 2, self[span.start] == UInt8(ascii: "\""), self[span.end - 1] == UInt8(ascii: "\"")
        else { return nil }
        let inner = UnsafeRawBufferPointer(rebasing: self[(span.start + 1)..<(span.end - 1)])
        if inner.contains(UInt8(ascii: "\\")) { return nil }
        return String(decoding: inner, as: UTF8.self)
    }
}
