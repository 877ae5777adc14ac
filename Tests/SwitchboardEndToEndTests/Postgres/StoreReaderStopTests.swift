// Stopping the reader never drops a read: what is still queued when its time
// is up is answered `unavailable` (a market write's lane lookup then still
// sends a provider charge's record to writer 0), and so is a read after stop.
import Foundation
import Logging
import Testing
import SwitchboardHub
@testable import SwitchboardPostgres

@Suite struct StoreReaderStopTests {
    @Test func readsStillQueuedAtStopAreAnsweredUnavailable() throws {
        let reader = StoreReader(conninfo: TestDatabase.conninfo, logger: Logger(label: "test"))
        reader.start()
        let started = Locked(false)
        let answers = Locked<[String]>([])
        func note(_ name: String) -> @Sendable (Result<Int, HubError>) -> Void {
            { result in
                let text =
                    switch result {
                    case .success: name
                    case .failure(let error): "\(name): \(error.code.rawValue)"
                    }
                answers.withLock { $0.append(text) }
            }
        }
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> Int in
                started.withLock { $0 = true }
                try conn.query("SELECT pg_sleep(1.5)")
                return 0
            }, then: note("slow"))
        #expect(eventually { started.withLock { $0 } })
        // Queued behind the slow read; the stop's time runs out before them.
        reader.read({ (_: PGConnection) throws(PostgresError) -> Int in 1 }, then: note("a"))
        reader.read({ (_: PGConnection) throws(PostgresError) -> Int in 2 }, then: note("b"))
        #expect(!reader.drainAndStop(timeout: 0.1))
        #expect(answers.withLock { $0 } == ["a: unavailable", "b: unavailable"])
        reader.read({ (_: PGConnection) throws(PostgresError) -> Int in 3 }, then: note("after"))
        #expect(answers.withLock { $0 }.last == "after: unavailable")
        #expect(eventually { answers.withLock { $0 }.contains("slow") }, "the read in progress finishes")
    }
}
