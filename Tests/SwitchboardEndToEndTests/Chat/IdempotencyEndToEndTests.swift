// client_msg_id idempotency against PostgreSQL: a retry gets the original
// ack; the key reused for another conversation or content is refused with
// idempotency_mismatch (both the batched statement and the single form).
import Foundation
import Logging
import Testing
import SwitchboardHub
@testable import SwitchboardPostgres

@Suite struct IdempotencyEndToEndTests {
    /// A conversation of `users`, made directly in SQL.
    static func conversation(_ users: [String]) throws -> Int64 {
        let id = try TestDatabase.query(
            "INSERT INTO conversations (participants_key, created_by) VALUES ($1, $2) RETURNING id",
            [UUID().uuidString, users[0]]
        ).first?.first??.description
        for u in users {
            _ = try TestDatabase.query("INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, $2)", [id, u])
        }
        return Int64(id ?? "") ?? 0
    }

    @Test func overTheHub() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob"), carol = uniqueUser("carol")
        let one = try hub.conversation(alice, with: [bob]), two = try hub.conversation(alice, with: [carol])
        let a = try hub.connect(alice), b = try hub.connect(bob)
        for c in [a, b] { _ = try c.receive(type: "welcome") }
        func answer(_ c: WebSocketTestClient) throws -> String {
            while true {
                let frame = try c.receiveJSON()
                switch frame["type"] as? String {
                case "ack": return frame["duplicate"] as? Bool == true ? "duplicate" : "ack"
                case "error": return frame["code"] as? String ?? "?"
                default: continue
                }
            }
        }
        try a.sendText(sendFrame(one, "k", "hello"))
        #expect(try answer(a) == "ack")
        try a.sendText(sendFrame(two, "k", "hello"))
        #expect(try answer(a) == "idempotency_mismatch")
        try a.sendText(sendFrame(one, "k", "changed"))
        #expect(try answer(a) == "idempotency_mismatch")
        try a.sendText(sendFrame(one, "k", "hello"))
        #expect(try answer(a) == "duplicate")
        try b.sendText(sendFrame(one, "k", "mine"))  // keys are per sender
        #expect(try answer(b) == "ack")
        let r = try httpRequest(
            port: hub.port, "POST", "/v1/conversations/\(two)/messages", headers: ["Authorization": "Bearer " + hub.token(alice)],
            body: #"{"client_msg_id":"k","kind":"text","body":{"text":"hello"}}"#)
        #expect(r.status == 422)
        #expect(try TestDatabase.query("SELECT count(*) FROM messages WHERE conversation_id = $1", [one]).first == ["2"])
        #expect(try TestDatabase.query("SELECT count(*) FROM messages WHERE conversation_id = $1", [two]).first == ["0"])
    }

    @Test func inOneBatchAndInTheSingleForm() throws {
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let one = try Self.conversation([alice, bob]), two = try Self.conversation([alice, bob])
        let store = PostgresStore(
            conninfo: TestDatabase.conninfo, logger: Logger(label: "test"), metrics: HubMetrics(), deliver: { $0() })
        let results = Locked<[Int: String]>([:])
        let batches = Locked<[Int]>([])
        store.writers.writers[0].onBatch = { n in batches.withLock { $0.append(n) } }
        func message(_ c: Int64, _ text: String, kind: MessageKind = .text) -> NewMessage {
            NewMessage(
                conversation: c, sender: alice, clientMessageID: "k", kind: kind, body: Array(#"{"text":"\#(text)"}"#.utf8))
        }
        let sends = [
            message(one, "a"), message(two, "a"), message(one, "b"), message(one, "a", kind: .document),
            NewMessage(
                conversation: one, sender: alice, clientMessageID: "k", kind: .text, body: Array(#"{ "text" : "a" }"#.utf8)),
        ]
        // Queued before the writer starts: one batch, one merged statement.
        for (i, m) in sends.enumerated() {
            store.send(
                m,
                reply: Reply(on: InlineLoop()) { r in
                    let text =
                        switch r {
                        case .success(let o): o.duplicate ? "duplicate" : "ack"
                        case .failure(let f): f.testName
                        }
                    results.withLock { $0[i] = text }
                })
        }
        store.start()
        #expect(eventually { results.withLock { $0.count } == sends.count })
        store.stop(timeout: 5)
        #expect(
            results.withLock { $0 } == [
                0: "ack", 1: "idempotencyMismatch", 2: "idempotencyMismatch", 3: "idempotencyMismatch",
                4: "duplicate",
            ])
        #expect(batches.withLock { $0 } == [sends.count])
        // The single form (the writer's fallback) answers the same.
        func single(_ c: Int64, _ body: String) throws -> Bool? {
            let message = NewMessage(
                conversation: c, sender: alice, clientMessageID: "k", kind: .text, body: Array(body.utf8))
            return try PGConnection(TestDatabase.conninfo).query(
                PostgresStore.sendSQL, PostgresStore.sendValues(message, wantMembers: true)
            )
            .first?.bool("mismatch")
        }
        #expect(try single(one, #"{"text":"a"}"#) == false)
        #expect(try single(two, #"{"text":"a"}"#) == true)
        #expect(try single(one, #"{"text":"b"}"#) == true)
        #expect(try TestDatabase.query("SELECT count(*) FROM messages WHERE sender_id = $1", [alice]).first == ["1"])
    }
}
