// The one check for identifiers that come from outside (user ids, channel
// and conversation names, idempotency keys): what PostgreSQL, logs and
// channel names can carry without surprise.

/// Validation of outside identifiers.
public enum Identifier {
    /// Longest identifier, in UTF-8 bytes.
    public static let maxBytes = 256

    /// True when `text` is 1…`maxBytes` UTF-8 bytes with no control
    /// character (U+0000–U+001F, U+007F): libpq cuts text at NUL, so
    /// `victim\0evil` would act as `victim`; control characters forge log lines.
    public static func isValid<S: StringProtocol>(_ text: S, maxBytes: Int = maxBytes) -> Bool {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= maxBytes else { return false }
        return utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
    }

    /// True when `text` has no NUL byte (free text that reaches PostgreSQL).
    public static func hasNoNUL<S: StringProtocol>(_ text: S) -> Bool {
        !text.utf8.contains(0)
    }
}

extension Identifier {
    /// True when `text` may name a user: a valid identifier that is not one
    /// of the hub's own (`ReservedUser`).
    public static func isUserID(_ text: String) -> Bool {
        isValid(text) && !ReservedUser.isReserved(text)
    }
}

/// User ids the hub keeps for itself: a token or a request naming one is
/// refused, so nobody can act as the hub.
public enum ReservedUser {
    /// The author of system messages.
    public static let system = "system"
    /// The prefix of backends' audit identities (`backend:<key name>`).
    public static let backendPrefix = "backend:"

    /// True when a user may not be called `user`.
    public static func isReserved(_ user: String) -> Bool {
        user == system || user.hasPrefix(backendPrefix)
    }
}
