// The group-commit writer against a real PostgreSQL: many jobs share few
// transactions, a bad statement fails alone, results reach every job.
import Foundation
import Logging
import Synchronization
import SwitchboardHub
import SwitchboardPostgres
import Testing

@Suite struct GroupCommitTests {
    final class Tally: @unchecked Sendable {
        let lock = NSLock()
        var ok = 0, failed = 0, batches: [Int] = []
        func add(_ r: Result<Rows, StoreError>) { lock.lock(); if case .success = r { ok += 1 } else { failed += 1 }; lock.unlock() }
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
            writer.submit(WriteJob(sql: "INSERT INTO \(table) (id) VALUES ($1)", params: [String(i)], survivesOutage: true) { tally.add($0) })
        }
        writer.submit(WriteJob(sql: "INSERT INTO \(table) (id) VALUES ($1)", params: ["7"], survivesOutage: true) { tally.add($0) })
        writer.start()
        #expect(writer.drainAndStop(timeout: 30))
        let (ok, failed, batches) = tally.snapshot
        #expect(ok == 500)
        #expect(failed == 1)  // the duplicate id 7
        #expect(try TestDatabase.query("SELECT count(*) FROM \(table)").first?.first == "500")
        // Committed in batches, not one transaction per row.
        #expect(batches.count < 10)
        #expect(batches.max() ?? 0 > 1 || batches.isEmpty)
    }

    @Test func unavailableDatabaseFailsFastUnlessTheJobSurvivesOutages() throws {
        let writer = GroupCommitWriter(conninfo: "host=/nonexistent-\(UUID().uuidString.prefix(6)) connect_timeout=1", logger: Logger(label: "test"))
        let tally = Tally()
        writer.start()
        #expect(try eventually { !writer.isHealthy })
        // Give the first connect attempt time to fail so the backoff is running.
        Thread.sleep(forTimeInterval: 0.3)
        writer.submit(WriteJob(sql: "SELECT 1", params: [], survivesOutage: false) { tally.add($0) })
        #expect(try eventually { tally.snapshot.1 == 1 })
        #expect(!writer.drainAndStop(timeout: 0.1) || tally.snapshot.0 == 0)
    }
}
