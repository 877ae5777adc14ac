// A request's `id`, kept in the JSON type the client gave it: every reply
// echoes the same JSON value (`7` → `7`, `"7"` → `"7"`).

/// The `id` of a client frame: a string (≤ 128 bytes) or an integer within
/// ±(2^53−1), the range every JSON implementation holds exactly.
public enum RequestID: Hashable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    case string(String)
    case int(Int64)

    /// Longest string id, in bytes.
    public static let maxBytes = 128
    /// Largest integer id magnitude: 2^53−1.
    public static let maxInteger: Int64 = 9_007_199_254_740_991

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }

    /// The id of a frame's `id` member (nil when absent or null); throws a
    /// reason when it is neither a short string nor an integer in range.
    public static func read(_ value: JSON?) throws(RequestIDError) -> RequestID? {
        switch value {
        case nil, .null?: return nil
        case .string(let s)?:
            guard s.utf8.count <= maxBytes else { throw RequestIDError(reason: "id longer than 128 bytes") }
            return .string(s)
        case .int(let i)?:
            guard i >= -maxInteger, i <= maxInteger else {
                throw RequestIDError(reason: "an integer id must be within ±(2^53−1)")
            }
            return .int(i)
        default:
            throw RequestIDError(reason: "id must be a string or integer")
        }
    }

    /// The id as text (logs, tests).
    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        }
    }
}

/// Why a frame's `id` was refused.
public struct RequestIDError: Error, Equatable, Sendable {
    /// A message safe to send to the client.
    public let reason: String
}

extension JSONWriter {
    /// Writes a request id in its own JSON type.
    public mutating func requestID(_ id: RequestID) {
        switch id {
        case .string(let s): string(s)
        case .int(let i): int(i)
        }
    }
}
