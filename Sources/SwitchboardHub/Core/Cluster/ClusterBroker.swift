// The broker of a node in a cluster: a publication is delivered to this
// node's subscribers at once and put on the link for the others; what the
// link brings from other nodes hops onto the loop and goes to this node's
// delivery (or to the feature that handles a control topic). A message lost
// while the link is down is repaired by the features from PostgreSQL when
// it is back (`onLinkChange`).
import Synchronization
import SwitchboardWire

/// A broker over a `ClusterLink`.
public final class ClusterBroker: Broker {
    public let node: String
    private let link: ClusterLink
    private let loop: any HubLoop
    private let clock: HubClock
    private let metrics: HubMetrics
    private var delivery: ((Publication) -> Int)?
    private var controls: [String: [(String, JSON) -> Void]] = [:]
    private var linkHandlers: [(Bool) -> Void] = []
    private var linkUp = false
    /// Publications were dropped since the last message the link took.
    private var dropped = false

    /// The control topic by which a node that had to drop publications
    /// (its link was down or full) asks every node to repair its streams.
    public static let missedTopic = "cluster.missed"

    /// A broker for node `node` over `link`; `start()` connects it.
    public init(link: ClusterLink, node: String, loop: any HubLoop, clock: HubClock, metrics: HubMetrics) {
        self.link = link
        self.node = node
        self.loop = loop
        self.clock = clock
        self.metrics = metrics
    }

    public var kind: String { link.kind }
    public var isHealthy: Bool { link.isHealthy }

    /// Starts the link; what it brings runs on the loop. A message is
    /// decoded on the link's thread (this node's own skipped by its first
    /// bytes, never parsed), and what is left waits in an inbox that reaches
    /// the loop in one job per burst: at thousands of messages a second,
    /// the parse and the hop were what a broker cost the loop.
    public func start() {
        let bound = LoopBound(self)
        let loop = self.loop
        let inbox = Inbox()
        let ownPrefix = ClusterEnvelope.originPrefix(node)
        let metrics = self.metrics
        link.start(
            receive: { bytes in
                // This node delivered its own publications when it made them.
                guard !bytes.starts(with: ownPrefix) else { return }
                guard let message = ClusterEnvelope.decode(bytes) else {
                    metrics.brokerMalformed.increment()
                    return
                }
                guard inbox.append(message) else { return }
                loop.enqueue {
                    guard let broker = bound.object else { return }
                    for message in inbox.takeAll() { broker.received(message) }
                }
            },
            changed: { up in loop.enqueue { bound.object?.linkChanged(up) } })
    }

    /// Stops the link.
    public func stop() { link.stop() }

    public func attach(_ delivery: @escaping (Publication) -> Int) { self.delivery = delivery }

    @discardableResult
    public func publish(_ publication: Publication) -> Int {
        let delivered = delivery?(publication) ?? 0
        send(.publication(publication))
        return delivered
    }

    public func broadcast(topic: String, _ body: JSON) { send(.control(topic: topic, body)) }

    public func onControl(_ topic: String, _ handler: @escaping (String, JSON) -> Void) {
        controls[topic, default: []].append(handler)
    }

    public func onLinkChange(_ handler: @escaping (Bool) -> Void) { linkHandlers.append(handler) }

    private func send(_ envelope: ClusterEnvelope) {
        let message = envelope.encoded(origin: node, sentMicros: clock.nowMicros())
        if dropped {
            // The others cannot know what they missed from this node: they
            // read their streams back once this node can tell them.
            let missed = ClusterEnvelope.control(topic: Self.missedTopic, .object([:]))
            guard link.send(missed.encoded(origin: node, sentMicros: clock.nowMicros())) else {
                metrics.brokerDropped.increment()
                return
            }
            dropped = false
        }
        if message.count <= ClusterLinkLimits.maxMessageBytes && link.send(message) {
            metrics.brokerSent.increment()
        } else {
            metrics.brokerDropped.increment()
            dropped = true
        }
    }

    private func received(_ message: ClusterEnvelope.Received) {
        metrics.brokerReceived.increment()
        metrics.brokerLag.record(Double(max(0, clock.nowMicros() - message.sentMicros)) / 1e6)
        switch message.envelope {
        case .publication(let publication): _ = delivery?(publication)
        case .control(let topic, let body):
            for handler in controls[topic] ?? [] { handler(message.origin, body) }
        }
    }

    private func linkChanged(_ up: Bool) {
        metrics.brokerUp.record(up ? 1 : 0)
        let wasUp = linkUp
        linkUp = up
        guard up != wasUp else { return }
        for handler in linkHandlers { handler(up) }
        if up && dropped {
            let missed = ClusterEnvelope.control(topic: Self.missedTopic, .object([:]))
            if link.send(missed.encoded(origin: node, sentMicros: clock.nowMicros())) { dropped = false }
        }
    }
}

/// Messages from the link waiting for the loop.
private final class Inbox: Sendable {
    private let messages = Mutex<[ClusterEnvelope.Received]>([])

    /// Adds a message; true when the inbox was empty (a drain must be queued).
    func append(_ message: ClusterEnvelope.Received) -> Bool {
        messages.withLock {
            $0.append(message)
            return $0.count == 1
        }
    }

    /// Everything waiting, oldest first.
    func takeAll() -> [ClusterEnvelope.Received] {
        messages.withLock {
            let all = $0
            $0 = []
            return all
        }
    }
}
