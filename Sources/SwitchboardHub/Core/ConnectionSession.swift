// The authentication life of one connection as a value-type state machine:
// events go in, actions come out, and the hub performs them.
import SwitchboardAuth
import SwitchboardWire

/// Who is behind an authenticated connection.
public struct Principal: Equatable, Sendable {
    /// User id (`sub`).
    public var user: String
    /// Role claim.
    public var role: String
    /// Token expiry in ms since the epoch, nil when the token has no `exp`.
    public var expiresAtMillis: Int64?

    /// A principal from verified claims.
    public init(claims: Claims) {
        user = claims.subject
        role = claims.role
        expiresAtMillis = claims.expiresAt.map { $0 * 1000 }
    }

    /// Admins may watch and read every QR code's counters.
    public var isAdmin: Bool { role == "admin" }

    /// A principal.
    public init(user: String, role: String, expiresAtMillis: Int64?) {
        self.user = user
        self.role = role
        self.expiresAtMillis = expiresAtMillis
    }
}

/// The auth state machine of one connection.
public struct ConnectionSession: Equatable, Sendable {
    /// Where the connection stands.
    public enum State: Equatable, Sendable {
        /// Open, no valid token yet; closed at the deadline.
        case awaitingAuth(deadlineMillis: Int64)
        /// Authenticated; closed at the principal's expiry unless refreshed.
        case authenticated(Principal)
        /// Closing; every further event is ignored.
        case closing
    }

    /// What the hub must do.
    public enum Action: Equatable, Sendable {
        /// Subscribe to the user channel, send `welcome`, record the connect.
        case admit(requestID: RequestID?, Principal)
        /// Send `refreshed`.
        case refreshed(requestID: RequestID?, Principal)
        /// Send an error frame; close with `close` when given.
        case reject(requestID: RequestID?, ErrorCode, String, close: CloseCode?)
        /// Close now.
        case close(CloseCode)
        /// Nothing.
        case none
    }

    /// The current state.
    public private(set) var state: State

    /// A new connection that must authenticate before `deadlineMillis`.
    public init(deadlineMillis: Int64) {
        state = .awaitingAuth(deadlineMillis: deadlineMillis)
    }

    /// The principal when authenticated.
    public var principal: Principal? {
        if case .authenticated(let p) = state { return p }
        return nil
    }

    /// A token arrived at the upgrade or in an `auth` frame, already verified
    /// (or not) by the caller.
    public mutating func authenticate(requestID: RequestID?, _ result: Result<Claims, AuthError>) -> Action {
        switch state {
        case .closing:
            return .none
        case .authenticated:
            return .reject(requestID: requestID, .alreadyAuthenticated, "connection is already authenticated", close: nil)
        case .awaitingAuth:
            switch result {
            case .success(let claims):
                let principal = Principal(claims: claims)
                state = .authenticated(principal)
                return .admit(requestID: requestID, principal)
            case .failure(let error):
                state = .closing
                let code: ErrorCode = error.code == .expired ? .tokenExpired : .unauthorized
                return .reject(requestID: requestID, code, error.description, close: .unauthorized)
            }
        }
    }

    /// A `refresh` frame with its verified (or not) token.
    public mutating func refresh(requestID: RequestID?, _ result: Result<Claims, AuthError>) -> Action {
        switch state {
        case .closing:
            return .none
        case .awaitingAuth:
            return .reject(requestID: requestID, .notAuthenticated, "authenticate before refreshing", close: nil)
        case .authenticated(let current):
            switch result {
            case .failure(let error):
                // The old token stays in force until it expires.
                let code: ErrorCode = error.code == .expired ? .tokenExpired : .unauthorized
                return .reject(requestID: requestID, code, error.description, close: nil)
            case .success(let claims):
                guard claims.subject == current.user else {
                    return .reject(requestID: requestID, .forbidden, "refresh token is for another user", close: nil)
                }
                // A role change needs a new connection: channels and rights
                // granted under the old role are not re-checked mid-stream.
                guard claims.role == current.role else {
                    return .reject(requestID: requestID, .forbidden, "refresh token has another role", close: nil)
                }
                let principal = Principal(claims: claims)
                state = .authenticated(principal)
                return .refreshed(requestID: requestID, principal)
            }
        }
    }

    /// Time passed: enforce the auth deadline and token expiry.
    public mutating func tick(nowMillis: Int64) -> Action {
        switch state {
        case .awaitingAuth(let deadline) where nowMillis >= deadline:
            state = .closing
            return .close(.unauthorized)
        case .authenticated(let p):
            if let exp = p.expiresAtMillis, nowMillis >= exp {
                state = .closing
                return .close(.tokenExpired)
            }
            return .none
        default:
            return .none
        }
    }

    /// The hub decided to close the connection for another reason.
    public mutating func markClosing() { state = .closing }
}
