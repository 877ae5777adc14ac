// The one publication path: everything that reaches subscribers — chat
// messages, receipts, typing, presence, counters, notifications, server
// publications — is a `Publication` handed to the `Broker`, which brings it
// to every node; each node's delivery (`Hub.deliver`) sends it to the
// node's own subscribers. One node today: the in-process broker hands it
// straight back. A broker between nodes plugs in here and nowhere else.
import SwitchboardWire

/// Where a publication sits in an ordered stream (a conversation's seq, a
/// user's notification ids): a connection that resumed the stream gets each
/// position once across its replay and the live stream, with no gap.
public struct StreamPosition: Sendable, Equatable {
    /// The stream's name (`conversation:7`, `notifications:alice`).
    public var stream: String
    /// The position; increases with commit order.
    public var seq: Int64
    /// True when the stream has every position (a conversation's seqs):
    /// a missing one is a hole the node fills from the store.
    public var contiguous: Bool

    /// A position.
    public init(stream: String, seq: Int64, contiguous: Bool = false) {
        self.stream = stream
        self.seq = seq
        self.contiguous = contiguous
    }
}

/// Connections a publication skips.
public enum PublicationExclusion: Sendable, Equatable {
    /// The connection that caused it (it had an answer of its own).
    case connection(ConnectionID)
    /// Every connection of the user who caused it (their own typing).
    case user(String)
}

/// A frame for the subscribers of one channel.
public struct Publication: Sendable {
    /// The channel.
    public var channel: String
    /// The frame, encoded once for every subscriber.
    public var frame: OutboundFrame
    /// Its place in an ordered stream, if it is part of one.
    public var position: StreamPosition?
    /// Who does not get it.
    public var excluding: PublicationExclusion?
    /// Not delivered to a subscriber of `channel` that is subscribed to (or
    /// waiting on) this channel: a notice about a conversation goes to each
    /// of the user's connections that does not watch it.
    public var unlessWatching: String?

    /// A publication.
    public init(
        channel: String, frame: OutboundFrame, position: StreamPosition? = nil,
        excluding: PublicationExclusion? = nil, unlessWatching: String? = nil
    ) {
        self.channel = channel
        self.frame = frame
        self.position = position
        self.excluding = excluding
        self.unlessWatching = unlessWatching
    }
}

/// Carries publications to every node's delivery, and the nodes' own
/// control messages (presence heartbeats). Called on the loop thread.
public protocol Broker: AnyObject {
    /// Publishes; returns how many of this node's connections it was queued for.
    @discardableResult
    func publish(_ publication: Publication) -> Int
    /// Connects this node's delivery (the hub calls it once, at start).
    func attach(_ delivery: @escaping (Publication) -> Int)
    /// This node's name in the cluster.
    var node: String { get }
    /// `memory` for one node, else the link's kind (`postgres`, `redis`).
    var kind: String { get }
    /// True while the other nodes can be reached (always, for one node).
    var isHealthy: Bool { get }
    /// Sends a control message on `topic` to every other node.
    func broadcast(topic: String, _ body: JSON)
    /// Handles control messages on `topic` from other nodes, on the loop
    /// (every handler of a topic, in the order they were added).
    func onControl(_ topic: String, _ handler: @escaping (_ from: String, _ body: JSON) -> Void)
    /// Called on the loop with false when the other nodes were lost and
    /// with true when they are back: what was missed meanwhile is repaired
    /// from PostgreSQL then.
    func onLinkChange(_ handler: @escaping (_ up: Bool) -> Void)
}

/// One node: a publication goes straight to this node's delivery.
public final class InProcessBroker: Broker {
    private var delivery: ((Publication) -> Int)?
    public let node: String

    /// A broker for one node.
    public init(node: String = "local") { self.node = node }

    public func attach(_ delivery: @escaping (Publication) -> Int) { self.delivery = delivery }

    @discardableResult
    public func publish(_ publication: Publication) -> Int { delivery?(publication) ?? 0 }

}

/// What a broker of one node answers: no other node, nothing to send.
extension Broker {
    public var node: String { "local" }
    public var kind: String { "memory" }
    public var isHealthy: Bool { true }
    public func broadcast(topic: String, _ body: JSON) {}
    public func onControl(_ topic: String, _ handler: @escaping (String, JSON) -> Void) {}
    public func onLinkChange(_ handler: @escaping (Bool) -> Void) {}
}
