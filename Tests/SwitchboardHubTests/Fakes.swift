// In-memory fakes for the hub's ports: a transport that records, a store
// that records, and a clock the test moves.
import Logging
import SwitchboardAuth
import SwitchboardWire
@testable import SwitchboardHub

final class RecordingTransport: Transport {
    var sent: [(ConnectionID, OutboundFrame)] = []
    var closed: [ConnectionID: CloseCode] = [:]
    var responses: [HTTPRequestID: HTTPResponse] = [:]

    func send(_ frame: OutboundFrame, to connection: ConnectionID) -> Bool {
        sent.append((connection, frame))
        return true
    }
    func close(_ connection: ConnectionID, code: CloseCode) { closed[connection] = code }
    func respond(_ request: HTTPRequestID, _ response: HTTPResponse) { responses[request] = response }

    func frames(to id: ConnectionID) -> [JSON] {
        sent.filter { $0.0 == id }.compactMap { try? JSON.parse($0.1.text) }
    }
    func types(to id: ConnectionID) -> [String] { frames(to: id).compactMap { $0["type"]?.stringValue } }
    func lastError(to id: ConnectionID) -> String? {
        frames(to: id).last { $0["type"]?.stringValue == "error" }?["code"]?.stringValue
    }
}

final class RecordingStore: HubStore {
    var isAvailable = true
    var connects: [String] = []
    var disconnects: [String] = []
    var users: [String: UserRecord] = [:]
    var pendingReplies: [() -> Void] = []

    func recordConnect(user: String, role: String, atMillis: Int64) { connects.append(user) }
    func recordDisconnect(user: String, atMillis: Int64) { disconnects.append(user) }
    func fetchUser(id: String, reply: @escaping (Result<UserRecord?, StoreError>) -> Void) {
        let record = users[id]
        let available = isAvailable
        pendingReplies.append { reply(available ? .success(record) : .failure(StoreError(.unavailable))) }
    }
    func flush() { let r = pendingReplies; pendingReplies = []; r.forEach { $0() } }
}

final class ManualClock: HubClock, @unchecked Sendable {
    var millis: Int64 = 1_800_000_000_000
    func nowMillis() -> Int64 { millis }
    func advance(seconds: Double) { millis += Int64(seconds * 1000) }
}

struct HubFixture {
    static let secret = Array("test-secret-test-secret-test-sec".utf8)
    static let apiKey = "backend-key-0123456789"
    let hub: Hub
    let transport = RecordingTransport()
    let store = RecordingStore()
    let clock = ManualClock()

    init(configure: (inout HubConfiguration) -> Void = { _ in }) {
        var config = HubConfiguration(jwt: JWTConfiguration(hmacSecret: Self.secret),
                                      apiKeys: try! APIKeyRing(entries: ["matcher:" + Self.apiKey]))
        configure(&config)
        hub = Hub(configuration: config, clock: clock, store: store, metrics: HubMetrics(), logger: Logger(label: "test"))
        hub.transport = transport
    }

    func token(_ user: String, ttl: Int64 = 600, role: String = "user") -> String {
        JWTSigner.hs256(Claims(subject: user, role: role, expiresAt: clock.millis / 1000 + ttl), secret: Self.secret)
    }

    func send(_ id: ConnectionID, _ text: String) {
        Array(text.utf8).withUnsafeBytes { hub.textReceived(id, $0) }
    }
}
