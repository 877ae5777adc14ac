// Stable error codes (sent in `error` frames and REST error bodies) and the
// WebSocket close codes the hub uses. Protocol/README.md documents both.

/// A stable, documented error code.
public enum ErrorCode: String, Sendable, CaseIterable {
    case badJSON = "bad_json"
    case badFrame = "bad_frame"
    case unknownType = "unknown_type"
    case missingField = "missing_field"
    case binaryNotSupported = "binary_not_supported"
    case rateLimited = "rate_limited"
    case unauthorized = "unauthorized"
    case tokenExpired = "token_expired"
    case forbidden = "forbidden"
    case notAuthenticated = "not_authenticated"
    case alreadyAuthenticated = "already_authenticated"
    case badChannel = "bad_channel"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    case badRequest = "bad_request"
    case payloadTooLarge = "payload_too_large"
    case requestTimeout = "request_timeout"
    case unavailable = "unavailable"
    case overloaded = "overloaded"
    case internalError = "internal"
    case unknownQRCode = "unknown_qr"
    case conflict = "conflict"
    case idempotencyMismatch = "idempotency_mismatch"
    case tooManyConnections = "too_many_connections"
    case tooManySubscriptions = "too_many_subscriptions"
}

/// WebSocket close codes. 1xxx are RFC 6455; 4xxx are Switchboard's.
public enum CloseCode: UInt16, Sendable, CaseIterable {
    case normal = 1000
    case goingAway = 1001
    case protocolError = 1002
    case unsupportedData = 1003
    case invalidPayload = 1007
    case messageTooBig = 1009
    case internalError = 1011
    /// No valid token within the auth window, or the token was rejected.
    case unauthorized = 4001
    /// The token expired and no valid `refresh` arrived in time.
    case tokenExpired = 4002
    /// The connection did something it is not allowed to.
    case forbidden = 4003
    /// Too many frames, past the rate limit and its grace.
    case rateLimited = 4008
    /// The connection's outbound queue exceeded its byte bound.
    case slowConsumer = 4009
    /// Too many malformed frames.
    case badFrames = 4010
    /// The user already holds the most connections allowed per user.
    case tooManyConnections = 4011

    /// A short reason sent in the close frame.
    public var reason: String {
        switch self {
        case .normal: return "normal"
        case .goingAway: return "server shutting down"
        case .protocolError: return "protocol error"
        case .unsupportedData: return "unsupported data"
        case .invalidPayload: return "invalid payload"
        case .messageTooBig: return "frame too large"
        case .internalError: return "internal error"
        case .unauthorized: return "unauthorized"
        case .tokenExpired: return "token expired"
        case .forbidden: return "forbidden"
        case .rateLimited: return "rate limited"
        case .slowConsumer: return "slow consumer"
        case .badFrames: return "too many bad frames"
        case .tooManyConnections: return "too many connections for this user"
        }
    }
}
