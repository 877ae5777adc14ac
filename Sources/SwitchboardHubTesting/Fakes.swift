// In-memory fakes for the hub's ports: a transport that records, a store
// that records, the clock the test moves, and the fixture that wires a hub
// to them (the feature stores are in Fake*Store.swift).
import Logging
import SwitchboardAuth
import SwitchboardWire
import SwitchboardHub

public final class RecordingTransport: Transport {
    public init() {}
    public var sent: [(ConnectionID, OutboundFrame)] = []
    public var closed: [ConnectionID: CloseCode] = [:]
    public var responses: [HTTPRequestID: HTTPResponse] = [:]

    public func send(_ frame: OutboundFrame, to connection: ConnectionID) -> Bool {
        sent.append((connection, frame))
        return true
    }
    public func close(_ connection: ConnectionID, code: CloseCode) { closed[connection] = code }
    public func respond(_ request: HTTPRequestID, _ response: HTTPResponse) { responses[request] = response }

    public func frames(to id: ConnectionID) -> [JSON] {
        sent.filter { $0.0 == id }.compactMap { try? JSON.parse($0.1.text) }
    }
    public func types(to id: ConnectionID) -> [String] { frames(to: id).compactMap { $0["type"]?.stringValue } }
    public func lastError(to id: ConnectionID) -> String? {
        frames(to: id).last { $0["type"]?.stringValue == "error" }?["code"]?.stringValue
    }
}

public final class RecordingStore: HubStore {
    public init() {}
    public var isAvailable = true
    public var connects: [String] = []
    public var disconnects: [String] = []
    public var users: [String: UserRecord] = [:]
    public var pendingReplies: [() -> Void] = []

    public func recordConnect(user: String, role: String, atMillis: Int64) { connects.append(user) }
    public func recordDisconnect(user: String, atMillis: Int64) { disconnects.append(user) }
    public func fetchUser(id: String, reply: Reply<UserRecord?>) {
        let record = users[id]
        let available = isAvailable
        pendingReplies.append { reply(available ? .success(record) : .failure(.unavailable)) }
    }
    public func flush() { let r = pendingReplies; pendingReplies = []; r.forEach { $0() } }
}

// Unchecked: a test moves it and the hub reads it on the test's own thread (ImmediateLoop), never concurrently.
public final class ManualClock: HubClock, @unchecked Sendable {
    public init() {}
    public var millis: Int64 = 1_800_000_000_000
    public func nowMillis() -> Int64 { millis }
    public func advance(seconds: Double) { millis += Int64(seconds * 1000) }
}

public struct HubFixture {
    public static let secret = Array("test-secret-test-secret-test-sec".utf8)
    public static let apiKey = "backend-key-0123456789"
    public let hub: Hub
    public let transport = RecordingTransport()
    public let store = RecordingStore()
    public let clock = ManualClock()
    public let chat: FakeChatStore
    public let scans = FakeScanStore()
    public let notes: FakeNotificationStore
    public let quotes = FakeQuoteStore()
    public let market = FakeMarketStore()

    /// The node's link when it is one of several on a `FakeClusterBus`.
    public let link: FakeClusterLink?

    /// A hub; on `bus`, one node (named `node`) of a cluster of fixtures on
    /// the same bus, which share a database when given the same `chat` and
    /// `notes` stores.
    public init(
        bus: FakeClusterBus? = nil, node: String = "local", chat: FakeChatStore = FakeChatStore(),
        notes: FakeNotificationStore = FakeNotificationStore(), features: FeatureSettings = FeatureSettings(),
        configure: (inout HubConfiguration) -> Void = { _ in }
    ) {
        self.chat = chat
        self.notes = notes
        var config = HubConfiguration(
            jwt: JWTConfiguration(hmacSecret: Self.secret),
            apiKeys: try! APIKeyRing(entries: ["matcher:" + Self.apiKey]))
        configure(&config)
        link = bus?.link()
        let metrics = HubMetrics()
        let loop = ImmediateLoop()
        let broker: Broker
        if let link {
            broker = ClusterBroker(link: link, node: node, loop: loop, clock: clock, metrics: metrics)
        } else {
            broker = InProcessBroker(node: node)
        }
        hub = Hub(
            configuration: config, features: features, loop: loop, clock: clock, store: store, chat: chat, scans: scans,
            notifications: notes, quotes: quotes, market: market, broker: broker, metrics: metrics,
            logger: Logger(label: "test"))
        hub.transport = transport
        (broker as? ClusterBroker)?.start()
    }

    public func token(_ user: String, ttl: Int64 = 600, role: String = "user") -> String {
        JWTSigner.hs256(Claims(subject: user, role: role, expiresAt: clock.millis / 1000 + ttl), secret: Self.secret)
    }

    public func send(_ id: ConnectionID, _ text: String) {
        Array(text.utf8).withUnsafeBytes { hub.textReceived(id, $0) }
    }
}

/// A loop for unit tests: runs each job at once, on the caller's thread, so a
/// fake store's answer is handled before the call returns.
public struct ImmediateLoop: HubLoop {
    /// A loop.
    public init() {}
    /// Runs the job now.
    public func enqueue(_ job: @escaping @Sendable () -> Void) { job() }
}
