// Notification ids on the wire: the hub writes them as strings (protocol
// revision 2) and reads either form a client may hold — a string of decimal
// digits or a non-negative JSON integer — within 2^53−1, the range every
// JSON implementation holds exactly.

/// Reading a notification id (a cursor: `since`, `after`, `up_to`, `ids`).
public enum NotificationID {
    /// Largest id read: 2^53−1.
    public static let max: Int64 = 9_007_199_254_740_991

    /// The id in `value`: a string of 1 to 16 decimal digits or a
    /// non-negative integer, at most `max`; nil for anything else.
    public static func read(_ value: JSON) -> Int64? {
        switch value {
        case .int, .double:
            guard let i = value.intValue else { return nil }
            return i >= 0 && i <= max ? i : nil
        case .string(let s): return parse(s)
        default: return nil
        }
    }

    /// The id in `text` (decimal digits only: no sign, no space), or nil.
    public static func parse(_ text: String) -> Int64? {
        let digits = text.utf8
        // 16 digits hold every value up to 2^53−1 and cannot overflow Int64.
        guard !digits.isEmpty, digits.count <= 16,
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        var value: Int64 = 0
        for d in digits { value = value * 10 + Int64(d - UInt8(ascii: "0")) }
        return value <= max ? value : nil
    }
}
