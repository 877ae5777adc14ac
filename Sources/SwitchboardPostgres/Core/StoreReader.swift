// A reader thread with its own connection, for queries whose answers go back
// to the loop (REST reads).
import Foundation
import Logging
import SwitchboardHub

/// Runs read queries one at a time on its own connection.
public final class StoreReader: @unchecked Sendable {
    private let keeper: ConnectionKeeper
    private let condition = NSCondition()
    private var queue: [(PGConnection?) -> Void] = []
    private var stopped = false
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

    /// Stops after the current query.
    public func stop() {
        condition.lock(); stopped = true; condition.broadcast(); condition.unlock()
    }

    /// Runs `query` on the reader thread; `completion` gets its result there.
    public func read<T>(_ query: @escaping (PGConnection) throws(PostgresError) -> T,
                        completion: @escaping (Result<T, StoreError>) -> Void) {
        let job: (PGConnection?) -> Void = { [keeper] conn in
            guard let conn else { completion(.failure(StoreError(.unavailable))); return }
            do {
                completion(.success(try query(conn)))
            } catch let error as PostgresError {
                if error.kind == .connection { keeper.markBroken() }
                completion(.failure(error.storeError))
            } catch {
                completion(.failure(StoreError(.failed)))
            }
        }
        if isCongested?() == true { completion(.failure(StoreError(.overloaded))); return }
        condition.lock()
        let accepted = queue.count < capacity
        if accepted { queue.append(job); condition.signal() }
        condition.unlock()
        if !accepted { completion(.failure(StoreError(.overloaded))) }
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
            condition.unlock()
            if jobs.isEmpty {
                keeper.checkWhileIdle()
                continue
            }
            for job in jobs { job(keeper.current()) }
        }
    }
}
