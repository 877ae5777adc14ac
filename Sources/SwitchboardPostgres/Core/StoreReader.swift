// A reader thread with its own connection, for queries whose answers go back
// to the loop (REST reads).
import Foundation
import Logging
import SwitchboardHub

/// Runs read queries one at a time on its own connection.
// Unchecked: its queue is behind `condition`; the connection belongs to the reader thread alone.
public final class StoreReader: @unchecked Sendable {
    private let keeper: ConnectionKeeper
    private let condition = NSCondition()
    private var queue: [(PGConnection?) -> Void] = []
    private var stopped = false
    /// True while the thread runs queries taken from `queue`.
    private var busy = false
    /// Most queries waiting.
    public let capacity: Int
    /// True while answers cannot be taken (the loop's mailbox is full): new
    /// queries are refused with `overloaded` at once.
    public var isCongested: (@Sendable () -> Bool)?

    /// A reader; call `start()`.
    public init(conninfo: String, logger: Logger, capacity: Int = 10_000) {
        keeper = ConnectionKeeper(conninfo: conninfo, logger: logger)
        self.capacity = capacity
    }

    /// True while the reader's connection works.
    public var isHealthy: Bool { keeper.isHealthy }

    /// Starts the thread.
    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "switchboard-reader"
        thread.start()
    }

    /// Runs what is queued (at most `timeout` seconds: a market write's
    /// lane lookup is a read, and its answer queues the write), then stops.
    /// What is still queued then is answered `unavailable`, never dropped
    /// (a lookup that fails still sends a provider charge's record to writer
    /// 0). Returns true if everything ran.
    @discardableResult
    public func drainAndStop(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        while (!queue.isEmpty || busy) && Date() < deadline {
            condition.wait(until: min(deadline, Date().addingTimeInterval(0.05)))
        }
        stopped = true
        let leftover = queue
        queue.removeAll()
        condition.broadcast()
        condition.unlock()
        for job in leftover { job(nil) }
        return leftover.isEmpty
    }

    /// Runs `query` on the reader thread; `answer` gets its result there
    /// (a failure is already the caller-facing `HubError`).
    package func read<T>(
        _ query: @escaping @Sendable (PGConnection) throws(PostgresError) -> T,
        then answer: @escaping @Sendable (Result<T, HubError>) -> Void
    ) {
        let job: (PGConnection?) -> Void = { [keeper] conn in
            guard let conn else { answer(.failure(.unavailable)); return }
            do throws(PostgresError) {
                answer(.success(try query(conn)))
            } catch {
                if error.kind == .connection { keeper.markBroken() }
                answer(.failure(error.hubError))
            }
        }
        if isCongested?() == true { answer(.failure(.overloaded)); return }
        condition.lock()
        let accepted = queue.count < capacity && !stopped
        if accepted { queue.append(job); condition.signal() }
        let stopped = self.stopped
        condition.unlock()
        if !accepted { answer(.failure(stopped ? .unavailable : .overloaded)) }
    }

    /// Runs `query` on the reader thread and answers `reply` (on its loop).
    package func read<T>(_ query: @escaping @Sendable (PGConnection) throws(PostgresError) -> T, reply: Reply<T>) {
        read(query, then: { reply($0) })
    }

    private func run() {
        _ = keeper.current()  // connect now so /readyz is right from the start
        while true {
            condition.lock()
            while queue.isEmpty && !stopped {
                if !condition.wait(until: Date().addingTimeInterval(1)) { break }
            }
            if stopped { condition.unlock(); return }
            let jobs = queue
            queue.removeAll()
            busy = !jobs.isEmpty
            condition.unlock()
            if jobs.isEmpty {
                keeper.checkWhileIdle()
                continue
            }
            for job in jobs { job(keeper.current()) }
            condition.lock()
            busy = false
            condition.broadcast()
            condition.unlock()
        }
    }
}
