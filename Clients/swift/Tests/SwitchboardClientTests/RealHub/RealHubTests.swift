import Foundation
import Testing

@testable import SwitchboardClient

/// The SDK against a real hub process and PostgreSQL.
@Suite(.serialized) struct RealHubTests {
    /// A client of `user` on `hub` with quick reconnects.
    static func client(_ user: String, _ hub: RealHub, transport: any WebSocketTransport = WSClientTransport())
        throws -> (SwitchboardClient, EventLog)
    {
        let token = try RealHub.token(user)
        var options = ClientOptions()
        options.backoff = Backoff(baseMilliseconds: 100, capMilliseconds: 1_000)
        options.requestTimeout = 5_000
        let client = SwitchboardClient(url: hub.url, token: .fixed(token), options: options, transport: transport)
        return (client, EventLog(client))
    }

    static func unique(_ name: String) -> String { name + "-" + UUID().uuidString.prefix(8).lowercased() }

    /// The texts of `conversation`'s messages as `log` showed them, in order.
    static func texts(_ log: EventLog, _ conversation: String) -> [String] {
        log.messages.filter { $0.conversation == conversation }.compactMap { $0.body["text"]?.string }
    }

    @Test func twoClientsSendAndReceive() async throws {
        let hub = try RealHub()
        let (alice, bob) = (Self.unique("alice"), Self.unique("bob"))
        let conversation = try await hub.createConversation(by: alice, with: [bob])
        let (a, aLog) = try Self.client(alice, hub)
        let (b, bLog) = try Self.client(bob, hub)
        await a.start()
        await b.start()
        try await a.subscribe("conversation:" + conversation)
        try await b.subscribe("conversation:" + conversation)
        for i in 1...3 {
            let ack = try await a.send(conversation: conversation, body: ["text": .string("m\(i)")])
            #expect(ack.seq == Int64(i))
        }
        await waitUntil("bob's 3 messages") { Self.texts(bLog, conversation).count >= 3 }
        await waitUntil("alice's own 3 messages") { Self.texts(aLog, conversation).count >= 3 }
        #expect(Self.texts(bLog, conversation) == ["m1", "m2", "m3"])
        #expect(Self.texts(aLog, conversation) == ["m1", "m2", "m3"])
        #expect(aLog.messages.allSatisfy { $0.isOwn } && !bLog.messages.contains { $0.isOwn })
        #expect(aLog.acks.map(\.seq) == [1, 2, 3])
        await a.stop()
        await b.stop()
    }

    /// Sends 30 messages while `interrupt` strikes after the 10th and 20th;
    /// afterwards both sides show 1…30 once each, in order, and every send was acked once.
    static func conversationSurvives(
        _ hub: RealHub, transport: KillableTransport, interrupt: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        let (alice, bob) = (unique("alice"), unique("bob"))
        let conversation = try await hub.createConversation(by: alice, with: [bob])
        let (a, aLog) = try client(alice, hub, transport: transport)
        let (b, bLog) = try client(bob, hub, transport: transport)
        await a.start()
        await b.start()
        try await a.subscribe("conversation:" + conversation)
        try await b.subscribe("conversation:" + conversation)
        let expected = (1...30).map { "m\($0)" }
        for (i, text) in expected.enumerated() {
            await a.enqueue(conversation: conversation, body: ["text": .string(text)], clientMsgID: "k\(i)")
            if (i + 1) % 10 == 0 { try await interrupt(i + 1) }
        }
        await waitUntil("bob sees 30") { texts(bLog, conversation).count >= 30 }
        await waitUntil("alice's 30 acks") { aLog.acks.count >= 30 }
        await waitUntil("alice sees her 30") { texts(aLog, conversation).count >= 30 }
        #expect(texts(bLog, conversation) == expected)
        #expect(texts(aLog, conversation) == expected)
        #expect(bLog.messages.map(\.seq) == Array(1...30))
        #expect(aLog.acks.map(\.clientMsgID).sorted() == (0..<30).map { "k\($0)" }.sorted())
        #expect(await a.pendingMessages.isEmpty)
        // Resumed with the batch `subscribe` of revision 2 (not one frame per channel).
        let revisions = (await a.hubRevision, await b.hubRevision)
        #expect(revisions == (2, 2))
        if texts(bLog, conversation) != expected { print("bob's events:", bLog.all) }
        await a.stop()
        await b.stop()
    }

    @Test func aKilledSocketMidConversationLosesNothingAndShowsNothingTwice() async throws {
        let hub = try RealHub()
        let transport = KillableTransport()
        try await Self.conversationSurvives(hub, transport: transport) { sent in
            if sent < 30 { await transport.killAll() }
        }
    }

    @Test func aHubRestartMidConversationLosesNothingAndShowsNothingTwice() async throws {
        let first = try RealHub()
        let port = first.port
        let restarted = Shared<RealHub?>(nil)
        try await Self.conversationSurvives(first, transport: KillableTransport()) { sent in
            guard sent == 10 else { return }
            first.crash()
            // Same port, same database: the clients come back by themselves.
            let second = try RealHub(port: port)
            restarted.withLock { $0 = second }
        }
        #expect(restarted.current != nil)
    }
}
