import Foundation
import Testing

@testable import SwitchboardClient

@Suite struct OutboxTests {
    /// A send not acked before the socket died is sent again on the next
    /// connection with the same client_msg_id, and acked once.
    @Test func anUnackedSendIsResentWithTheSameClientMsgIDAfterAReconnect() async throws {
        let storage = InMemoryOutboxStorage()
        let s = Scenario(outbox: storage)
        await s.client.start()
        let first = await s.welcome(1)
        async let ack = s.client.send(conversation: "42", body: ["text": "hi"], clientMsgID: "k1")
        await waitUntil { first.sent("send").count == 1 }
        #expect(await storage.load().map(\.clientMsgID) == ["k1"])
        first.drop()
        await waitUntil { s.log.states.contains(.waitingToReconnect(attempt: 1, afterMilliseconds: 500)) }
        s.clock.advance(by: 500)
        let second = await s.welcome(2)
        await waitUntil { second.sent("send").count == 1 }
        let resent = second.sent("send")[0]
        #expect(resent["client_msg_id"] == "k1")
        #expect(resent["body"] == ["text": "hi"])
        second.push([
            "type": "ack", "id": resent["id"]!, "conversation": "42", "message_id": "m7", "seq": 7,
            "created_at": 1, "duplicate": true,
        ])
        #expect(try await ack.seq == 7)
        await waitUntil { await storage.load().isEmpty }
        #expect(s.log.acks.map(\.clientMsgID) == ["k1"])
    }

    /// One's own echoed message and its ack make one `.ack` and one `.message`, in either order.
    @Test func ownEchoAndAckAreMergedIntoOneAckAndOneMessage() async throws {
        let s = Scenario()
        await s.client.start()
        let c = await s.welcome(1)
        await s.client.enqueue(conversation: "42", body: ["text": "a"], clientMsgID: "e1")
        await s.client.enqueue(conversation: "42", body: ["text": "b"], clientMsgID: "e2")
        await waitUntil { c.sent("send").count == 2 }
        let sends = c.sent("send")
        // e1: the echo first, then the ack; e2: the ack first, then the echo.
        c.push(Scenario.message("42", seq: 1, sender: "alice", clientMsgID: "e1"))
        for (send, seq) in zip(sends, [1, 2] as [Int64]) {
            c.push([
                "type": "ack", "id": send["id"]!, "conversation": "42", "message_id": .string("m\(seq)"),
                "seq": .int(seq), "created_at": 1,
            ])
        }
        c.push(Scenario.message("42", seq: 2, sender: "alice", clientMsgID: "e2"))
        await waitUntil { s.seqs("42").count == 2 }
        #expect(s.log.acks.map(\.clientMsgID) == ["e1", "e2"])
        #expect(s.log.messages.allSatisfy { $0.isOwn })
        #expect(await s.client.pendingMessages.isEmpty)
    }

    /// No ack within the request timeout on a live connection: sent again, same key.
    @Test func aSendWithoutAnAckInTimeIsSentAgain() async throws {
        let s = Scenario()
        await s.client.start()
        let c = await s.welcome(1)
        await s.client.enqueue(conversation: "42", body: ["text": "a"], clientMsgID: "t1")
        await waitUntil { c.sent("send").count == 1 }
        s.clock.advance(by: 10_000)
        await waitUntil { c.sent("send").count == 2 }
        #expect(c.sent("send").map { $0["client_msg_id"] } == ["t1", "t1"])
    }

    /// A refusal leaves the outbox (and fails the send); a transient error is retried after retry_after.
    @Test func refusedSendsLeaveTheOutboxAndTransientOnesAreRetried() async throws {
        let s = Scenario()
        await s.client.start()
        let c = await s.welcome(1)
        async let refused = s.client.send(conversation: "42", body: ["text": "a"], clientMsgID: "r1")
        await waitUntil { c.sent("send").count == 1 }
        c.push(["type": "error", "id": c.sent("send")[0]["id"]!, "code": "forbidden", "message": "not a member"])
        do {
            _ = try await refused
            Issue.record("not refused")
        } catch {
            #expect((error as? SwitchboardError)?.code == "forbidden")
        }
        #expect(await s.client.pendingMessages.isEmpty)

        await s.client.enqueue(conversation: "42", body: ["text": "b"], clientMsgID: "o1")
        await waitUntil { c.sent("send").count == 2 }
        let sendID = c.sent("send")[1]["id"]!
        c.push(["type": "error", "id": sendID, "code": "overloaded", "message": "busy", "retry_after": 2])
        await waitUntil { await s.client.pending[sendID.string!] == nil }
        s.clock.advance(by: 1_999)
        #expect(c.sent("send").count == 2)
        s.clock.advance(by: 1)
        await waitUntil { c.sent("send").count == 3 }
        #expect(c.sent("send")[2]["client_msg_id"] == "o1")
        #expect(await s.client.pendingMessages.map(\.clientMsgID) == ["o1"])
    }

    /// The file-backed outbox outlives the client: a message queued before a
    /// crash is sent by the next client that opens the same file.
    @Test func aFileOutboxIsSentByTheNextClient() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sb-outbox-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let before = Scenario(outbox: FileOutboxStorage(fileURL: file))
        await before.client.enqueue(conversation: "42", body: ["text": "kept"], clientMsgID: "f1")
        await before.client.stop()

        let after = Scenario(outbox: FileOutboxStorage(fileURL: file))
        await after.client.start()
        let c = await after.welcome(1)
        await waitUntil { c.sent("send").count == 1 }
        #expect(c.sent("send")[0]["client_msg_id"] == "f1")
        #expect(c.sent("send")[0]["body"] == ["text": "kept"])
    }
}
