// The link is up while BOTH its connections work: the subscriber (it hears
// the other nodes) and the publisher (they hear this node). Each thread
// reports its own connection; this value decides what the hub is told, so
// that a drop of either is reported once and the return once.

/// Whether the link is up, from the state of its two connections.
struct RedisLinkHealth: Sendable, Equatable {
    /// What the hub must be told after an event.
    enum Action: Equatable { case report(Bool), none }

    private(set) var subscribed = false
    private(set) var publishing = false
    /// What the hub was told last; it starts down (nothing is said before the first up).
    private(set) var reported = false

    /// True while both connections work.
    var isUp: Bool { subscribed && publishing }

    /// The subscriber connection is listening (true) or lost (false).
    mutating func subscriber(_ up: Bool) -> Action {
        subscribed = up
        return settle()
    }

    /// The publisher connection works (true) or failed (false).
    mutating func publisher(_ up: Bool) -> Action {
        publishing = up
        return settle()
    }

    private mutating func settle() -> Action {
        guard isUp != reported else { return .none }
        reported = isUp
        return .report(isUp)
    }
}
