// The text of one NOTIFY on the cluster channel: a batch of messages, each
// length-prefixed, or references to rows of `cluster_payloads` for messages
// past NOTIFY's payload limit. Written here by the link's sender, and by SQL
// that NOTIFYs from inside a committing transaction (the same format).
import SwitchboardWire

/// The NOTIFY payload format of the PostgreSQL cluster link.
///
/// A payload is a sequence of frames, read left to right:
/// - inline: `<length>:<message>` — `length` is the message's size in UTF-8
///   bytes, in decimal (1 to 7 ASCII digits, no sign), followed by exactly
///   that many bytes of message. `5:hello3:a:b` holds `hello` and `a:b`.
/// - reference: `#<id>;` — the message is the `body` of the row of
///   `cluster_payloads` with that `id` (decimal, 1 to 18 digits), inserted
///   in the transaction that sent the NOTIFY.
///
/// In SQL, one message `m` as a whole payload is
/// `octet_length(m)::text || ':' || m`; a payload stays under
/// `maxPayloadBytes` bytes.
public enum ClusterPayload {
    /// Most bytes of one payload (PostgreSQL refuses 8,000 and more).
    public static let maxPayloadBytes = 7_900

    /// One frame of a payload.
    public enum Frame: Equatable, Sendable {
        /// A message carried in the payload.
        case message([UInt8])
        /// A message stored in `cluster_payloads` under this id.
        case reference(Int64)
    }

    /// Size of `message`'s inline frame.
    public static func frameSize(_ message: [UInt8]) -> Int { decimalDigits(message.count) + 1 + message.count }

    /// Appends `message`'s inline frame to `payload`.
    public static func appendFrame(_ message: [UInt8], to payload: inout [UInt8]) {
        payload.appendDecimal(Int64(message.count))
        payload.append(UInt8(ascii: ":"))
        payload.append(contentsOf: message)
    }

    /// One payload carrying `messages` in order, or nil when they do not fit
    /// in `maxPayloadBytes` (send the rest in another, or by reference).
    public static func encode(_ messages: [[UInt8]]) -> String? {
        var payload: [UInt8] = []
        payload.reserveCapacity(messages.reduce(0) { $0 + frameSize($1) })
        for message in messages { appendFrame(message, to: &payload) }
        guard payload.count <= maxPayloadBytes else { return nil }
        return String(decoding: payload, as: UTF8.self)
    }

    /// The frames of `payload` in order. A payload that breaks the format
    /// (another writer on the channel, a bug) yields the frames before the
    /// break and `malformed`.
    public static func decode(_ payload: [UInt8]) -> (frames: [Frame], malformed: Bool) {
        var frames: [Frame] = []
        var at = 0
        let colon = UInt8(ascii: ":"), hash = UInt8(ascii: "#"), semicolon = UInt8(ascii: ";")
        while at < payload.count {
            if payload[at] == hash {
                guard let (id, end) = number(in: payload, from: at + 1, maxDigits: 18), end < payload.count,
                    payload[end] == semicolon
                else { return (frames, true) }
                frames.append(.reference(id))
                at = end + 1
                continue
            }
            // At most 7 digits: the length is checked against what is left
            // before any arithmetic that could overflow.
            guard let (length, end) = number(in: payload, from: at, maxDigits: 7), end < payload.count,
                payload[end] == colon, Int(length) <= payload.count - end - 1
            else { return (frames, true) }
            let start = end + 1
            frames.append(.message(Array(payload[start..<(start + Int(length))])))
            at = start + Int(length)
        }
        return (frames, false)
    }

    /// A decimal number of 1...`maxDigits` digits at `from`, and the index after it.
    private static func number(in bytes: [UInt8], from: Int, maxDigits: Int) -> (Int64, Int)? {
        var value: Int64 = 0
        var at = from
        while at < bytes.count, at - from < maxDigits, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") {
            value = value * 10 + Int64(bytes[at] - UInt8(ascii: "0"))
            at += 1
        }
        // More digits than allowed is malformed, not a shorter number.
        if at == from || (at < bytes.count && bytes[at] >= UInt8(ascii: "0") && bytes[at] <= UInt8(ascii: "9")) {
            return nil
        }
        return (value, at)
    }

    private static func decimalDigits(_ n: Int) -> Int {
        var digits = 1
        var rest = n
        while rest >= 10 { rest /= 10; digits += 1 }
        return digits
    }
}
