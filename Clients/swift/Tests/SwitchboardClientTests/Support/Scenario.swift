import Foundation
import Testing

@testable import SwitchboardClient

/// A client over the fakes, and shortcuts to play the hub's part.
struct Scenario {
    let transport = FakeTransport()
    let http = FakeHTTP()
    let clock = ManualClock()
    let client: SwitchboardClient
    let log: EventLog

    init(
        token: TokenSource = .fixed("t0"), outbox: any OutboxStorage = InMemoryOutboxStorage(),
        random: @escaping @Sendable (Int64) -> Int64 = { $0 }, configure: (inout ClientOptions) -> Void = { _ in }
    ) {
        var options = ClientOptions()
        options.backoff = Backoff(baseMilliseconds: 500, capMilliseconds: 30_000, random: random)
        options.pageLimit = 2
        configure(&options)
        client = SwitchboardClient(
            url: URL(string: "ws://hub.test/")!, token: token, options: options, transport: transport, http: http,
            clock: clock, outbox: outbox)
        log = EventLog(client)
    }

    /// Waits for connection number `n` (1-based) and answers it with `welcome`.
    @discardableResult
    func welcome(
        _ n: Int, user: String = "alice", lastNotificationID: JSONValue = .null, expiresAt: Int64? = nil
    ) async -> FakeConnection {
        await waitUntil("connection \(n)") { transport.connections.count >= n }
        let connection = transport.connections[n - 1]
        connection.push([
            "type": "welcome", "user": .string(user), "revision": 2, "protocol": "switchboard.v1",
            "expires_at": .int(expiresAt ?? clock.now() + 3_600_000), "last_notification_id": lastNotificationID,
        ])
        return connection
    }

    /// Answers every `subscribe` frame (single or batch) of `connection` not
    /// answered yet with `subscribed` for each of its channels.
    func answerSubscribes(_ connection: FakeConnection, lastSeq: Int64, recovered: Bool, answered: Shared<Int>) {
        let frames = connection.sent("subscribe")
        let done = answered.withLock { n -> Int in
            defer { n = frames.count }
            return n
        }
        for frame in frames.dropFirst(done) {
            var names = frame["channel"].map { [$0] } ?? []
            if case .array(let entries)? = frame["channels"] { names += entries.compactMap { $0["channel"] } }
            for name in names {
                connection.push([
                    "type": "subscribed", "id": frame["id"]!, "channel": name, "last_seq": .int(lastSeq),
                    "recovered": .bool(recovered),
                ])
            }
        }
    }

    /// The channels a connection's `subscribe` frames named, single or batch.
    static func subscribedChannels(_ connection: FakeConnection) -> Set<String> {
        var names: Set<String> = []
        for frame in connection.sent("subscribe") {
            if let name = frame["channel"]?.string { names.insert(name) }
            if case .array(let entries)? = frame["channels"] {
                names.formUnion(entries.compactMap { $0["channel"]?.string })
            }
        }
        return names
    }

    /// A `message` frame.
    static func message(
        _ conversation: String, seq: Int64, sender: String = "bob", clientMsgID: String? = nil, replay: Bool = false
    ) -> JSONValue {
        var frame: [String: JSONValue] = [
            "type": "message", "conversation": .string(conversation), "message_id": .string("m\(seq)"),
            "seq": .int(seq), "sender": .string(sender), "kind": "text", "body": ["text": .string("n\(seq)")],
            "created_at": .int(1_800_000_000_000 + seq), "client_msg_id": .string(clientMsgID ?? "x\(seq)"),
        ]
        if replay { frame["replay"] = true }
        return .object(frame)
    }

    /// The seqs of the messages emitted for `conversation`, in order.
    func seqs(_ conversation: String) -> [Int64] {
        log.messages.filter { $0.conversation == conversation }.map(\.seq)
    }
}
