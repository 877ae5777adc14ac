// Presence per user over all their connections, as a value-type state
// machine with an injected clock: online from the first connection to the
// last, plus a grace period so a quick reconnect does not flap.

/// Who is online, and who is about to go offline.
public struct PresenceTracker: Sendable {
    /// A presence change to tell the user's contacts.
    public enum Change: Equatable, Sendable {
        case online(String)
        case offline(String, atMillis: Int64)
    }

    /// How long a user with no connection still counts as online.
    public let graceMillis: Int64
    private var connections: [String: Int] = [:]
    private var leaving: [String: Int64] = [:]  // user → when the last connection closed

    /// A tracker (default grace 5 s).
    public init(graceMillis: Int64 = 5_000) { self.graceMillis = graceMillis }

    /// A connection of `user` was admitted.
    public mutating func connected(_ user: String) -> Change? {
        let count = connections[user, default: 0] + 1
        connections[user] = count
        guard count == 1 else { return nil }
        // Back within the grace: nobody was told they left.
        if leaving.removeValue(forKey: user) != nil { return nil }
        return .online(user)
    }

    /// A connection of `user` closed.
    public mutating func disconnected(_ user: String, nowMillis: Int64) {
        guard let count = connections[user] else { return }
        if count > 1 { connections[user] = count - 1; return }
        connections[user] = nil
        leaving[user] = nowMillis
    }

    /// Users whose grace ran out are offline now.
    public mutating func tick(nowMillis: Int64) -> [Change] {
        var changes: [Change] = []
        for (user, since) in leaving where nowMillis - since >= graceMillis {
            leaving[user] = nil
            changes.append(.offline(user, atMillis: since))
        }
        return changes
    }

    /// Online now (connected, or within the grace).
    public func isOnline(_ user: String) -> Bool { connections[user] != nil || leaving[user] != nil }
}
