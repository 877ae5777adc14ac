// The one error type of the hub: every refusal — bad input, a rule, a store
// that is down — is a `HubError`, rendered one way on WebSocket (an `error`
// frame) and on REST (the uniform error body, the status from its code, and
// `Retry-After` whenever it carries a retry hint).
import SwitchboardWire

/// A refusal that is safe to show a caller: a stable code, a message without
/// secrets or SQL, and for transient failures a hint of when to retry.
public struct HubError: Error, Equatable, Sendable {
    /// The stable code.
    public var code: ErrorCode
    /// A message for people; never SQL text, connection strings or secrets.
    public var message: String
    /// Seconds after which a retry may succeed; nil when retrying the same
    /// request cannot help.
    public var retryAfterSeconds: Int?

    /// An error; transient codes (`unavailable`, `overloaded`) get a
    /// one-second retry hint unless one is given.
    public init(_ code: ErrorCode, _ message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds ?? Self.defaultRetryHint(code)
    }

    /// The HTTP status of the code: one table for every route.
    public var httpStatus: Int { Self.httpStatus(of: code) }

    private static func defaultRetryHint(_ code: ErrorCode) -> Int? {
        switch code {
        case .unavailable, .overloaded: return 1
        default: return nil
        }
    }

    /// The HTTP status each code is answered with.
    public static func httpStatus(of code: ErrorCode) -> Int {
        switch code {
        case .badJSON, .badFrame, .unknownType, .missingField, .binaryNotSupported, .badChannel, .badRequest,
            .alreadyAuthenticated:
            return 400
        case .unauthorized, .tokenExpired, .notAuthenticated: return 401
        case .forbidden: return 403
        case .notFound, .unknownQRCode: return 404
        case .methodNotAllowed: return 405
        case .requestTimeout: return 408
        case .conflict: return 409
        case .payloadTooLarge: return 413
        case .idempotencyMismatch: return 422
        case .rateLimited, .tooManyConnections, .tooManySubscriptions: return 429
        case .internalError: return 500
        case .unavailable, .overloaded: return 503
        }
    }

    // Common refusals, worded once.

    /// The database cannot be reached now.
    public static let unavailable = HubError(.unavailable, "database unavailable; retry later")
    /// A queue is full.
    public static let overloaded = HubError(.overloaded, "hub overloaded; retry later")
    /// The store's write queue is full (the wording scans and market routes have always used).
    public static let storeBusy = HubError(.overloaded, "the store is busy; retry later")
    /// The store failed in a way retrying will not fix.
    public static let storeFailed = HubError(.internalError, "the store failed")
    /// A value the database cannot hold (NUL, a number out of range).
    public static let invalidValue = HubError(
        .badRequest,
        "a value cannot be stored (NUL characters and out-of-range numbers are refused)")
}

extension HTTPResponse {
    /// The uniform REST rendering of an error: status from the code, body
    /// `{"error":{"code","message"}}`, `Retry-After` from the hint.
    public static func error(_ error: HubError, headers: [String: String] = [:]) -> HTTPResponse {
        var headers = headers
        if let seconds = error.retryAfterSeconds { headers["Retry-After"] = String(seconds) }
        return .error(error.httpStatus, error.code, error.message, headers: headers)
    }
}

extension ServerFrame {
    /// The WebSocket rendering of an error: an `error` frame answering `id`.
    /// `channel`: the channel of the subscribe or unsubscribe it answers.
    public static func error(id: RequestID?, _ error: HubError, channel: String? = nil) -> OutboundFrame {
        ServerFrame.error(
            id: id, code: error.code, message: error.message, retryAfter: error.retryAfterSeconds, channel: channel)
    }
}

extension Result {
    // A store answer rendered as one HTTP response: `result.map(render).get(or: { .error($0) })`.
    /// The success value, or the failure turned into one.
    func get(or transform: (Failure) -> Success) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let error): return transform(error)
        }
    }
}
