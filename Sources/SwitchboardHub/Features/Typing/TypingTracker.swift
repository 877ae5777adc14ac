// Typing indicators as a value-type state machine with an injected clock:
// at most one relay per user per conversation every 3 s, and an active
// state that expires by itself after 6 s without a refresh.

/// Who is typing where, and what the other members were last told.
public struct TypingTracker: Sendable {
    /// What to tell the other members.
    public enum Action: Equatable, Sendable {
        /// Relay `typing {active}`.
        case relay(active: Bool)
        /// Nothing to relay (throttled, or no change).
        case ignore
    }

    struct Key: Hashable, Sendable {
        var conversation: Int64
        var user: String
    }

    struct Entry: Sendable {
        var typing = false
        var shown = false
        var lastRelayMillis: Int64 = .min
        var expiresAtMillis: Int64 = 0
    }

    /// Minimum time between two relays for one user in one conversation.
    public let throttleMillis: Int64
    /// An active state without refresh ends after this.
    public let expiryMillis: Int64
    private var entries: [Key: Entry] = [:]

    /// A tracker with the protocol's defaults (3 s, 6 s).
    public init(throttleMillis: Int64 = 3_000, expiryMillis: Int64 = 6_000) {
        self.throttleMillis = throttleMillis
        self.expiryMillis = expiryMillis
    }

    /// A `typing` frame arrived.
    public mutating func typing(conversation: Int64, user: String, active: Bool, nowMillis now: Int64) -> Action {
        let key = Key(conversation: conversation, user: user)
        var entry = entries[key] ?? Entry()
        defer { entries[key] = entry }
        if active {
            entry.typing = true
            entry.expiresAtMillis = now + expiryMillis
            guard entry.lastRelayMillis == .min || now - entry.lastRelayMillis >= throttleMillis else { return .ignore }
            entry.shown = true
            entry.lastRelayMillis = now
            return .relay(active: true)
        }
        entry.typing = false
        // A stop is always relayed when the others were told "typing", so
        // an indicator never sticks because of the throttle.
        guard entry.shown else { return .ignore }
        entry.shown = false
        entry.lastRelayMillis = now
        return .relay(active: false)
    }

    /// Expires active states; returns the stops to relay.
    public mutating func tick(nowMillis now: Int64) -> [(conversation: Int64, user: String)] {
        var stops: [(Int64, String)] = []
        for (key, var entry) in entries {
            if entry.typing && entry.expiresAtMillis <= now {
                entry.typing = false
                if entry.shown {
                    entry.shown = false
                    entry.lastRelayMillis = now
                    stops.append((key.conversation, key.user))
                }
                entries[key] = entry
            } else if !entry.typing && !entry.shown
                && (entry.lastRelayMillis == .min || now - entry.lastRelayMillis >= throttleMillis)
            {
                // (.min: never relayed — a stop without a start; `now - .min` would overflow.)
                entries[key] = nil  // nothing left to remember
            }
        }
        return stops
    }

    /// Number of remembered (user, conversation) pairs.
    public var count: Int { entries.count }
}
