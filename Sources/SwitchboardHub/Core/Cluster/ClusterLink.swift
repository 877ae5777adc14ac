// The wire between the nodes of a cluster: one shared bus that every node
// sends on and listens to (PostgreSQL LISTEN/NOTIFY, Redis pub/sub). The
// hub's cluster broker (ClusterBroker.swift) puts publications and its own
// control messages on it; a link only carries bytes.

/// Carries messages between the nodes of a cluster.
///
/// Guarantees a link gives: a message sent reaches every node listening at
/// the time, in the order one node sent them; a message may be lost while
/// the link is down (then `changed(false)`, later `changed(true)`, and the
/// hub repairs what matters from PostgreSQL). A message is UTF-8 text with
/// no NUL byte, at most `ClusterLinkLimits.maxMessageBytes`.
public protocol ClusterLink: AnyObject, Sendable {
    /// The broker's name for logs, /readyz and /metrics: `postgres`, `redis`.
    var kind: String { get }
    /// True while the link can send and is listening.
    var isHealthy: Bool { get }
    /// Starts the link's own threads. `receive` gets every message from any
    /// node, this node's own included, on a link thread. `changed(false)`
    /// when the link is lost, `changed(true)` each time it is listening
    /// again (and once at the first start).
    func start(receive: @escaping @Sendable ([UInt8]) -> Void, changed: @escaping @Sendable (Bool) -> Void)
    /// Queues a message for every node; never blocks (it is called on the
    /// loop). False when it was dropped: the queue is full or the link is
    /// down.
    @discardableResult
    func send(_ message: [UInt8]) -> Bool
    /// Stops the threads; nothing is received after it returns.
    func stop()
}

/// Bounds every link honours.
public enum ClusterLinkLimits {
    /// The largest message a node sends (a publication is bounded well under
    /// it); a link may refuse anything larger.
    public static let maxMessageBytes = 1 << 20
}
