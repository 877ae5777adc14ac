// A chat send whose key another writer has inserted but not committed (a
// sender reusing a key in a conversation on another writer) fails the merged
// statement with a unique violation. The writer runs the batch once more,
// whole: the repeat is then answered from the committed row, and the batch
// does not go to the statement-by-statement salvage.
import Foundation
import Logging
import SwitchboardHub
@testable import SwitchboardPostgres
import Testing

@Suite struct WriterKeyConflictTests {
    @Test func aKeyAnotherWriterHoldsUncommittedIsAnsweredWithoutSalvage() throws {
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let x = try IdempotencyEndToEndTests.conversation([alice, bob])
        let y = try IdempotencyEndToEndTests.conversation([alice, bob])
        let store = PostgresStore(
            conninfo: TestDatabase.conninfo, logger: Logger(label: "test"), metrics: HubMetrics(), deliver: { $0() })
        let salvages = Locked(0)
        store.writers.writers[0].onSalvage = { salvages.withLock { $0 += 1 } }
        // "Another writer": alice's key k stored in x, not committed yet.
        let other = try PGConnection(TestDatabase.conninfo)
        let otherPID = try #require(try other.query("SELECT pg_backend_pid() AS pid").first?.int64("pid"))
        try other.query("BEGIN")
        try other.query("UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1", [.int64(x)])
        try other.query(
            """
            INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, kind, body)
            VALUES ($1, 1, $2, 'k', 'text', '{"text":"a"}')
            """, [.int64(x), .text(alice)])
        let answers = Locked<[String: String]>([:])
        for key in ["k", "m"] {
            let message = NewMessage(
                conversation: y, sender: alice, clientMessageID: key, kind: .text, body: Array(#"{"text":"a"}"#.utf8))
            store.send(
                message,
                reply: Reply(on: InlineLoop()) { r in
                    let text =
                        switch r {
                        case .success(let o): "seq \(o.seq)"
                        case .failure(let e): e.testName
                        }
                    answers.withLock { $0[key] = text }
                })
        }
        store.start()
        defer { store.stop(timeout: 5) }
        // The writer's statement waits for the other transaction's key...
        #expect(
            try eventually {
                try TestDatabase.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))", [String(otherPID)]
                ).first == ["1"]
            })
        // ...which commits: the writer's statement fails with 23505.
        try other.query("COMMIT")
        #expect(eventually { answers.withLock { $0.count } == 2 })
        #expect(answers.withLock { $0 } == ["k": "idempotencyMismatch", "m": "seq 1"])
        #expect(salvages.withLock { $0 } == 0, "answered by running the batch again, not by the salvage")
    }
}
