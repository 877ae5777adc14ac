// The group-commit writer against a real PostgreSQL: many jobs share few
// transactions, a bad statement fails alone, results reach every job.
import Foundation
import Logging
import Synchronization
import SwitchboardHub
import SwitchboardPostgres
import Testing

@Suite struct GroupCommitTests {
    // Unchecked: every field is read and written under `lock`.
    final class Tally: @unchecked Sendable {
        let lock = NSLock()
        var ok = 0, failed = 0, batches: [Int] = []
        func add(_ r: Result<[Row], HubError>) {
            lock.lock(); if case .success = r { ok += 1 } else { failed += 1 }; lock.unlock()
        }
        func batch(_ n: Int) { lock.lock(); batches.append(n); lock.unlock() }
        var snapshot: (Int, Int, [Int]) { lock.lock(); defer { lock.unlock() }; return (ok, failed, batches) }
    }

    @Test func manyJobsAreCommittedInFewBatchesAndABadOneFailsAlone() throws {
        let table = "gc_" + UUID().uuidString.prefix(8).lowercased()
        try TestDatabase.query("CREATE TABLE \(table) (id int PRIMARY KEY)")
        let writer = GroupCommitWriter(conninfo: TestDatabase.conninfo, logger: Logger(label: "test"))
        let tally = Tally()
        writer.onBatch = { tally.batch($0) }
        // Queue everything before the thread starts so batching is certain.
        for i in 0..<500 {
            writer.submit(WriteJob("INSERT INTO \(table) (id) VALUES ($1)", [.int(i)], survivesOutage: true) { tally.add($0) })
        }
        // Two bad jobs: a duplicate key, and a value the column cannot hold
        // (SQLSTATE class 22, the class any user can send; issue 10 #14).
        writer.submit(WriteJob("INSERT INTO \(table) (id) VALUES ($1)", [.int(7)], survivesOutage: true) { tally.add($0) })
        writer.submit(
            WriteJob("INSERT INTO \(table) (id) VALUES ($1)", [.text("not-a-number")], survivesOutage: true) { tally.add($0) })
        writer.start()
        #expect(writer.drainAndStop(timeout: 30))
        let (ok, failed, batches) = tally.snapshot
        #expect(ok == 500)
        #expect(failed == 2)
        #expect(try TestDatabase.query("SELECT count(*) FROM \(table)").first?.first == "500")
        // The 500 good jobs in ONE committed transaction (onBatch counts the
        // jobs a commit carried): the bad ones did not abort it (falling back
        // to single commits would report no batch).
        #expect(batches == [500])
    }

    @Test func unavailableDatabaseFailsFastUnlessTheJobSurvivesOutages() throws {
        let writer = GroupCommitWriter(
            conninfo: "host=/nonexistent-\(UUID().uuidString.prefix(6)) connect_timeout=1", logger: Logger(label: "test"))
        let tally = Tally()
        writer.start()
        #expect(try eventually { !writer.isHealthy })
        // Refused at once while the database is down (or failed by the first
        // commit attempt, should the backoff not run yet): never kept.
        writer.submit(WriteJob("SELECT 1", [], survivesOutage: false) { tally.add($0) })
        #expect(try eventually { tally.snapshot.1 == 1 })
        // A job that survives outages stays queued: neither run nor failed.
        writer.submit(WriteJob("SELECT 1", [], survivesOutage: true) { tally.add($0) })
        #expect(!writer.drainAndStop(timeout: 1))
        #expect(tally.snapshot.0 == 0)
        #expect(tally.snapshot.1 == 1)
    }
}

@Suite struct GroupCommitCapacityTests {
    /// Found in review: a charge's record (survives outages, waited for) was
    /// refused `overloaded` by a full queue after the provider had charged.
    @Test func aRecordOfAnEffectElsewhereIsNeverRefusedForAFullQueue() throws {
        let writer = GroupCommitWriter(conninfo: TestDatabase.conninfo, logger: Logger(label: "test"), capacity: 2)
        // Not started: the queue only fills.
        #expect(writer.submit(WriteJob("SELECT 1", [], survivesOutage: false) { _ in }))
        #expect(writer.submit(WriteJob("SELECT 1", [], survivesOutage: false) { _ in }))
        let refused = Locked<HubError?>(nil)
        #expect(
            !writer.submit(
                WriteJob("SELECT 1", [], survivesOutage: false) { r in
                    if case .failure(let e) = r { refused.withLock { $0 = e } }
                }))
        #expect(refused.withLock { $0 } == .overloaded)
        let recorded = Locked<Bool>(false)
        #expect(
            writer.submit(
                WriteJob("SELECT 1", [], survivesOutage: true) { r in
                    if case .success = r { recorded.withLock { $0 = true } }
                }))
        writer.start()
        #expect(writer.drainAndStop(timeout: 30))
        #expect(recorded.withLock { $0 })
    }
}
