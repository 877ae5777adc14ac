// A hub over the in-memory fakes, seeded with a little state (a conversation
// with messages, QR codes, notifications) so that fuzzed requests reach the
// code past "not found". One fresh hub per input keeps crashes reproducible.
import Logging
import SwitchboardAuth
import SwitchboardHub
import SwitchboardHubTesting
import SwitchboardWire

final class FuzzHub {
    static let secret = Array("fuzz-secret-fuzz-secret-fuzz-sec".utf8)
    static let apiKey = "fuzz-backend-key-0123456789"
    // Logging off: the hub logs refusals, and a fuzzer makes millions.
    static let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    let hub: Hub
    let transport = RecordingTransport()
    let store = RecordingStore()
    let clock = ManualClock()
    let chat = FakeChatStore()
    let scans = FakeScanStore()
    let notes = FakeNotificationStore()
    let quotes = FakeQuoteStore()
    let market = FakeMarketStore()

    init() {
        let config = HubConfiguration(
            jwt: JWTConfiguration(hmacSecret: Self.secret),
            apiKeys: try! APIKeyRing(entries: ["fuzz:" + Self.apiKey]))
        hub = Hub(
            configuration: config, loop: ImmediateLoop(), clock: clock, store: store, chat: chat, scans: scans,
            notifications: notes, quotes: quotes,
            market: market, metrics: HubMetrics(), logger: Self.logger)
        hub.transport = transport
        store.users["alice"] = UserRecord(id: "alice", role: "user", createdAtMillis: 5, lastSeenAtMillis: nil)
        chat.members[1] = ["alice", "bob"]
        chat.members[2] = ["bob", "carol"]
        for n in 0..<3 {
            chat.commit(
                NewMessage(
                    conversation: 1, sender: n % 2 == 0 ? "alice" : "bob", clientMessageID: "seed-\(n)",
                    kind: .text, body: Array(#"{"text":"hi"}"#.utf8)))
        }
        scans.register(owner: "alice")
        scans.register(owner: "bob")
        notes.commit("alice")
        notes.commit("bob")
    }

    /// A valid token for `user`.
    func token(_ user: String, role: String = "user") -> String {
        JWTSigner.hs256(Claims(subject: user, role: role, expiresAt: clock.millis / 1000 + 600), secret: Self.secret)
    }

    /// Runs every deferred store reply, including the ones they trigger.
    func settle() {
        for _ in 0..<8 {
            store.flush()
            chat.releaseSends()
            chat.flush()
            scans.flush()
            notes.flush()
            quotes.flush()
        }
    }

    /// Lets time pass so that timers (auth deadline, typing, presence,
    /// counter waits) fire, then settles again.
    func passTime() {
        for seconds in [1.0, 10, 120] {
            clock.advance(seconds: seconds)
            hub.tick()
            settle()
        }
    }
}
