// A job PostgreSQL rejects (a value it cannot store, SQLSTATE class 22) must
// fail alone: the other jobs of its batch still commit, in that SAME batch
// (one transaction), not one by one.
import Foundation
import Logging
import SwitchboardHub
@testable import SwitchboardPostgres
import Testing

@Suite struct GroupCommitFailureTests {
    // Unchecked: its fields are `Locked` boxes, immutable references.
    final class Tally: @unchecked Sendable {
        let results = Locked<[Int: String]>([:])
        let batches = Locked<[Int]>([])
        func record(_ i: Int) -> @Sendable (Result<[Row], HubError>) -> Void {
            { r in
                let text =
                    switch r {
                    case .success: "ok";
                    case .failure(let e): e.testName
                    }
                self.results.withLock { $0[i] = text }
            }
        }
    }

    @Test func badValuesFailAloneAndTheRestCommitInTheSameBatch() throws {
        let table = "gcf_" + UUID().uuidString.prefix(8).lowercased()
        try TestDatabase.query("CREATE TABLE \(table) (id int PRIMARY KEY)")
        let writer = GroupCommitWriter(conninfo: TestDatabase.conninfo, logger: Logger(label: "test"))
        let tally = Tally()
        writer.onBatch = { n in tally.batches.withLock { $0.append(n) } }
        // Bad values first, in the middle and last (the rollback before the commit).
        let bad: Set<Int> = [0, 250, 502]
        for i in 0...502 {
            let value = bad.contains(i) ? "not a number \(i)" : String(i)
            writer.submit(
                WriteJob(
                    "INSERT INTO \(table) (id) VALUES ($1)", [.text(value)], survivesOutage: true,
                    answer: tally.record(i)))
        }
        // Queued before the thread starts: one batch.
        writer.start()
        #expect(writer.drainAndStop(timeout: 30))
        let results = tally.results.withLock { $0 }
        #expect(results.count == 503)
        #expect(results.filter { $0.value == "invalidValue" }.keys.sorted() == bad.sorted())
        #expect(results.filter { $0.value == "ok" }.count == 500)
        #expect(try TestDatabase.query("SELECT count(*) FROM \(table)").first?.first == "500")
        #expect(tally.batches.withLock { $0 } == [500])  // one transaction for all good jobs
    }

    @Test func aBadChatSendFailsAloneAndTheOtherSendsShareTheBatch() throws {
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let one = try IdempotencyEndToEndTests.conversation([alice, bob])
        let two = try IdempotencyEndToEndTests.conversation([alice, bob])
        let store = PostgresStore(
            conninfo: TestDatabase.conninfo, logger: Logger(label: "test"), metrics: HubMetrics(), deliver: { $0() })
        let batches = Locked<[Int]>([])
        store.writers.writers[0].onBatch = { n in batches.withLock { $0.append(n) } }
        let results = Locked<[Int: String]>([:])
        for i in 0..<20 {
            let m = NewMessage(
                conversation: i % 2 == 0 ? one : two, sender: i % 3 == 0 ? bob : alice, clientMessageID: "m\(i)",
                kind: .text, body: Array(#"{"text":"n\#(i)"}"#.utf8))
            let answer = Reply<SendOutcome>(on: InlineLoop()) { r in
                let text =
                    switch r {
                    case .success(let o): "\(o.conversation)/\(o.seq)";
                    case .failure(let f): f.testName
                    }
                results.withLock { $0[i] = text }
            }
            guard i == 7 else { store.send(m, reply: answer); continue }
            // A send the store's own check would refuse, queued as if it had
            // slipped through: a quote valid until the year 292 million.
            var slipped = m
            slipped.quoteValidUntilMillis = Int64.max
            store.writers.submit(store.sendJob(slipped, reply: answer))
        }
        store.start()
        #expect(eventually { results.withLock { $0.count } == 20 })
        store.stop(timeout: 5)
        let answers = results.withLock { $0 }
        #expect(answers[7] == "invalidValue")
        // Every other send committed, with gapless seqs per conversation.
        for c in [one, two] {
            let seqs = answers.values.filter { $0.hasPrefix("\(c)/") }.compactMap { Int($0.split(separator: "/")[1]) }.sorted()
            #expect(seqs == Array(1...seqs.count) && seqs.count >= 9)
        }
        #expect(batches.withLock { $0 } == [19])
        let stored = try TestDatabase.query(
            "SELECT count(*) FROM messages WHERE conversation_id IN ($1, $2)", [String(one), String(two)])
        #expect(stored.first?.first == "19")
    }

    @Test func unstorableSendsAreRefusedBeforeTheyJoinABatch() throws {
        // The writer never starts: an answer can only come from the check.
        let store = PostgresStore(
            conninfo: TestDatabase.conninfo, logger: Logger(label: "test"), metrics: HubMetrics(), deliver: { $0() })
        let answers = Locked<[HubError?]>([])
        let bodies = [#"{"text":"a\u0000b"}"#, #"{"text":"ok"}"#, #"{"text":"a\\u0000b"}"#]
        for (i, body) in bodies.enumerated() {
            store.send(
                NewMessage(conversation: 1, sender: "alice", clientMessageID: "u\(i)", kind: .text, body: Array(body.utf8)),
                reply: Reply(on: InlineLoop()) { r in answers.withLock { $0.append(r.failure) } })
        }
        store.send(
            NewMessage(
                conversation: 1, sender: "alice", clientMessageID: "u9", kind: .quote, body: Array("{}".utf8),
                quoteAmount: 1, quoteCurrency: "EUR", quoteValidUntilMillis: Int64.max),
            reply: Reply(on: InlineLoop()) { r in answers.withLock { $0.append(r.failure) } })
        // The first and the last are refused at once; the other two (an
        // escaped backslash is not a NUL) wait for the writer.
        #expect(answers.withLock { $0 } == [.invalidValue, .invalidValue])
    }
}

extension Result {
    var failure: Failure? { if case .failure(let f) = self { f } else { nil } }
}
