// The group-commit writer: one thread, one connection. It drains everything
// queued (up to a batch limit), sends it as ONE pipelined transaction (one
// round trip, one fsync), then reports each job's result. A job PostgreSQL
// rejects fails alone: the batch is run again with a savepoint per statement
// (only then), and the other jobs still share one commit.
import Foundation
import Logging
import SwitchboardHub

/// A statement to commit, with what to do when it is done.
public struct WriteJob: Sendable {
    /// SQL with $n parameters.
    public var sql: String
    /// The bound values.
    public var values: [SQLValue]
    /// Jobs of one lane (a conversation's id) always run on the same writer,
    /// in the order submitted; nil: writer 0 (see `WriterPool`).
    public var lane: Int64?
    /// Keep the job queued while the database is down (true), or fail it
    /// at once with `unavailable` (false).
    public var survivesOutage: Bool
    /// Called on the writer thread with the rows or the caller-facing error.
    public var answer: (@Sendable (Result<[Row], HubError>) -> Void)?
    /// When set, jobs of a batch with the same merger run as ONE set-based
    /// statement; `sql`/`values` stay the single-job form (used when a batch
    /// must be retried job by job).
    public var merger: WriteMerger?

    /// A job: `sql` with `values` bound to $1, $2, …
    public init(
        _ sql: String, _ values: [SQLValue], lane: Int64? = nil, survivesOutage: Bool = false, merger: WriteMerger? = nil,
        answer: (@Sendable (Result<[Row], HubError>) -> Void)? = nil
    ) {
        self.sql = sql
        self.values = values
        self.lane = lane
        self.survivesOutage = survivesOutage
        self.merger = merger
        self.answer = answer
    }
}

/// Turns many jobs of one kind into one statement and its rows back into
/// one result per job.
public struct WriteMerger: Sendable {
    /// Jobs merge when their keys are equal.
    public let key: String
    /// The jobs' values, in batch order → one statement.
    public let combine: @Sendable ([[SQLValue]]) -> (sql: String, values: [SQLValue])
    /// The statement's rows → rows per job (same order and count as the jobs).
    public let split: @Sendable ([Row], Int) -> [[Row]]

    /// A merger.
    public init(
        key: String, combine: @escaping @Sendable ([[SQLValue]]) -> (sql: String, values: [SQLValue]),
        split: @escaping @Sendable ([Row], Int) -> [[Row]]
    ) {
        self.key = key
        self.combine = combine
        self.split = split
    }
}

/// Batches writes into pipelined transactions.
// Unchecked: its queue and flags are behind `condition`; the connection belongs to the writer thread alone.
public final class GroupCommitWriter: @unchecked Sendable {
    private let keeper: ConnectionKeeper
    private let logger: Logger
    private let condition = NSCondition()
    private var queue: [WriteJob] = []
    private var inFlight = 0
    private var stopped = false
    private var estimator: WriteDelayEstimator
    private let clock: @Sendable () -> Double
    private var thread: Thread?
    /// Most jobs in one transaction.
    public let maxBatch: Int
    /// Most jobs waiting; past it `submit` refuses.
    public let capacity: Int
    /// True while answers cannot be taken (the loop's mailbox is full): jobs
    /// that answer are refused with `overloaded` at once.
    public var isCongested: (@Sendable () -> Bool)?
    /// Observes each committed batch's size (metrics).
    public var onBatch: ((Int) -> Void)?
    /// Observes each batch that had to be salvaged statement by statement (metrics, tests).
    public var onSalvage: (() -> Void)?
    /// Runs the hand-over of one batch's answers (the store passes the
    /// loop's `holdingWakes`, so that a batch wakes the loop once).
    public var answering: (@Sendable (() -> Void) -> Void)?
    /// Observes the queue depth after each change (metrics).
    public var onDepth: ((Int) -> Void)?
    /// Observes the predicted queueing delay in seconds at each batch and
    /// each admission refusal (metrics).
    public var onDelay: ((Double) -> Void)?
    /// Observes each job refused by the delay bound (metrics).
    public var onAdmissionRefused: (() -> Void)?
    /// Longest predicted queueing delay (seconds) a job that answers may
    /// face; past it the job is refused with `overloaded` at once. nil: no bound.
    public let maxDelay: Double?

    /// A writer; call `start()`. `clock`: monotonic seconds (injected by tests).
    public init(
        conninfo: String, logger: Logger, maxBatch: Int = 1000, capacity: Int = 200_000, maxDelay: Double? = nil,
        clock: @escaping @Sendable () -> Double = GroupCommitWriter.monotonicSeconds
    ) {
        self.keeper = ConnectionKeeper(conninfo: conninfo, logger: logger)
        self.logger = logger
        self.maxBatch = maxBatch
        self.capacity = capacity
        self.maxDelay = maxDelay
        self.clock = clock
        self.estimator = WriteDelayEstimator(maxBatch: maxBatch)
    }

    /// Seconds since an arbitrary fixed point, never going back.
    @Sendable public static func monotonicSeconds() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    /// Jobs queued now (not counting the batch in flight).
    public var queueDepth: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// True while the writer's connection works.
    public var isHealthy: Bool { keeper.isHealthy }

    /// Starts the thread.
    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "switchboard-writer"
        self.thread = thread
        thread.start()
    }

    /// Queues a job. Refused with `overloaded` when the queue is full and
    /// with `unavailable` when the database is down and the job would not
    /// survive the outage.
    @discardableResult
    public func submit(_ job: WriteJob) -> Bool {
        // Jobs without an answer (last-seen updates) add nothing to the
        // mailbox; jobs that survive outages record what already happened
        // elsewhere (a provider's charge) and are never refused for it.
        let congested = job.answer != nil && !job.survivesOutage && isCongested?() == true
        // A job that survives outages AND is waited for records an effect
        // that already happened elsewhere (a provider's charge): refusing it
        // for a full queue would lose that record, so it may pass the bound
        // (such jobs are few: one per admitted payment).
        let mustRecord = job.survivesOutage && job.answer != nil
        // The delay bound applies to jobs somebody waits for and that may be
        // refused: not last-seen updates, not effects that must be recorded.
        let bounded = job.answer != nil && !job.survivesOutage ? maxDelay : nil
        let now = bounded == nil ? 0 : clock()
        condition.lock()
        var delayed: Double?
        if let bounded {
            let delay = estimator.delay(queued: queue.count, at: now)
            if delay > bounded { delayed = delay }
        }
        let refusal: HubError? =
            if (queue.count >= capacity && !mustRecord) || congested {
                .overloaded
            } else if let delayed {
                Self.delayRefusal(delayed)
            } else if !job.survivesOutage && !keeper.isHealthy && keeper.secondsUntilRetry > 0 { .unavailable } else { nil }
        if refusal == nil {
            queue.append(job)
            condition.signal()
        }
        let depth = queue.count
        condition.unlock()
        onDepth?(depth)
        if let delayed {
            onDelay?(delayed)
            onAdmissionRefused?()
        }
        if let refusal {
            job.answer?(.failure(refusal))
            return false
        }
        return true
    }

    /// `overloaded` for a job that would wait `delay` seconds: retry once
    /// about that much has drained (whole seconds, 1…60).
    static func delayRefusal(_ delay: Double) -> HubError {
        let hint = delay.isFinite ? Int(min(60, max(1, delay.rounded(.up)))) : 60
        return HubError(.overloaded, "writes are queued past the delay bound; retry later", retryAfterSeconds: hint)
    }

    /// Waits until everything queued has been committed or failed, at most
    /// `timeout` seconds; then stops the thread. Returns true if drained.
    @discardableResult
    public func drainAndStop(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        while (!queue.isEmpty || inFlight > 0) && Date() < deadline {
            condition.wait(until: min(deadline, Date().addingTimeInterval(0.05)))
        }
        let drained = queue.isEmpty && inFlight == 0
        stopped = true
        condition.broadcast()
        condition.unlock()
        return drained
    }

    private func run() {
        _ = keeper.current()  // connect now so /readyz is right from the start
        while true {
            condition.lock()
            while queue.isEmpty && !stopped {
                if !condition.wait(until: Date().addingTimeInterval(1)) { break }
            }
            if stopped { condition.unlock(); return }
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(batch.count)
            inFlight = batch.count
            let depth = queue.count
            let started = clock()
            estimator.started(jobs: batch.count, at: started)
            let delay = estimator.delay(queued: depth, at: started)
            condition.unlock()
            onDepth?(depth)

            if batch.isEmpty {
                keeper.checkWhileIdle()
                continue
            }
            onDelay?(delay)
            let (leftover, committedAtOnce) = commit(batch)
            let ended = clock()
            condition.lock()
            estimator.ended(at: ended, committed: committedAtOnce)
            if !leftover.isEmpty { queue.insert(contentsOf: leftover, at: 0) }
            inFlight = 0
            let after = estimator.delay(queued: queue.count, at: ended)
            condition.broadcast()
            condition.unlock()
            onDelay?(after)
            if !leftover.isEmpty { Thread.sleep(forTimeInterval: min(0.5, max(0.05, keeper.secondsUntilRetry))) }
        }
    }

    /// A statement of the batch: one job, or several merged.
    private struct Unit {
        var jobs: [Int]
        var sql: String
        var values: [SQLValue]
        var merger: WriteMerger?
    }

    private func units(of batch: [WriteJob]) -> [Unit] {
        var units: [Unit] = []
        var merged: [String: Int] = [:]
        for (index, job) in batch.enumerated() {
            if let merger = job.merger {
                if let at = merged[merger.key] { units[at].jobs.append(index); continue }
                merged[merger.key] = units.count
                units.append(Unit(jobs: [index], sql: "", values: [], merger: merger))
            } else {
                units.append(Unit(jobs: [index], sql: job.sql, values: job.values, merger: nil))
            }
        }
        for i in units.indices {
            guard let merger = units[i].merger else { continue }
            (units[i].sql, units[i].values) = merger.combine(units[i].jobs.map { batch[$0].values })
        }
        return units
    }

    /// Commits a batch; returns the jobs to retry after an outage, and
    /// whether the batch committed in one transaction (its time is a cost sample).
    private func commit(_ batch: [WriteJob]) -> (leftover: [WriteJob], atOnce: Bool) {
        guard let conn = keeper.current() else { return (failOrKeep(batch), false) }
        // The jobs not answered yet (what an outage puts back or fails).
        var open = Array(batch.indices)
        do {
            var units = units(of: batch)
            var outcome = try conn.pipelineTransaction(units.map { ($0.sql, $0.values) })
            if !outcome.committed && Self.metAnotherWriter(units, outcome.results) {
                // A merged statement met a key another writer had inserted but
                // not yet committed (a sender reusing a key in a conversation
                // on another writer), or a deadlock: once more, whole. The
                // new snapshot sees the other commit, so the repeat answers as
                // a duplicate instead of sending the batch to the salvage.
                outcome = try conn.pipelineTransaction(units.map { ($0.sql, $0.values) })
            }
            if outcome.committed {
                onBatch?(batch.count)
                report(units, outcome.results, batch)
                return ([], true)
            }
            // A rejected statement (a value PostgreSQL cannot store, a broken
            // rule) aborted the transaction. Run the batch again with a
            // savepoint per statement, so that the culprit fails alone and
            // the other jobs still share one commit; a merged statement that
            // failed runs as its jobs' single statements, to find the culprit
            // inside. Costs nothing while no job fails.
            onSalvage?()
            units = units.enumerated().flatMap { index, unit -> [Unit] in
                guard unit.merger != nil, case .failure = outcome.results[index] else { return [unit] }
                return singles(unit, batch)
            }
            while !units.isEmpty {
                let salvage = try conn.savepointTransaction(units.map { ($0.sql, $0.values) })
                guard salvage.committed else {
                    return (commitOneByOne(units.flatMap(\.jobs).map { batch[$0] }, on: conn), false)
                }
                // A merged statement rejected here: its jobs again, one by one, in one more transaction.
                var again: [Unit] = []
                var done: [(Unit, Result<[Row], PostgresError>)] = []
                for (unit, result) in zip(units, salvage.results) {
                    if unit.merger != nil, case .failure = result {
                        again += singles(unit, batch)
                    } else {
                        done.append((unit, result))
                    }
                }
                onBatch?(done.reduce(0) { n, d in if case .success = d.1 { n + d.0.jobs.count } else { n } })
                report(done.map(\.0), done.map(\.1), batch)
                units = again
                open = again.flatMap(\.jobs)
            }
            return ([], false)
        } catch {
            keeper.markBroken()
            return (failOrKeep(open.map { batch[$0] }), false)
        }
    }

    /// True when a merged statement failed on a unique key (23505) or a
    /// deadlock (40P01): what meeting another writer's uncommitted rows looks like.
    private static func metAnotherWriter(_ units: [Unit], _ results: [Result<[Row], PostgresError>]) -> Bool {
        zip(units, results).contains { unit, result in
            guard unit.merger != nil, case .failure(let error) = result else { return false }
            return error.sqlState == "23505" || error.sqlState == "40P01"
        }
    }

    /// A merged unit as one unit per job, in the single form.
    private func singles(_ unit: Unit, _ batch: [WriteJob]) -> [Unit] {
        unit.jobs.map { Unit(jobs: [$0], sql: batch[$0].sql, values: batch[$0].values, merger: nil) }
    }

    /// Hands each job its rows or its error.
    private func report(_ units: [Unit], _ results: [Result<[Row], PostgresError>], _ batch: [WriteJob]) {
        guard let answering else { return answer(units, results, batch) }
        answering { answer(units, results, batch) }
    }

    private func answer(_ units: [Unit], _ results: [Result<[Row], PostgresError>], _ batch: [WriteJob]) {
        for (unit, result) in zip(units, results) {
            if case .failure(let error) = result, error.kind == .statement {
                logger.error("write rejected", metadata: ["sqlstate": "\(error.sqlState ?? "?")"])
            }
            guard let merger = unit.merger, case .success(let rows) = result else {
                for i in unit.jobs { batch[i].answer?(result.mapError(\.hubError)) }
                continue
            }
            for (i, jobRows) in zip(unit.jobs, merger.split(rows, unit.jobs.count)) {
                batch[i].answer?(.success(jobRows))
            }
        }
    }

    /// The last resort when even the salvage could not commit: each job on
    /// its own (single form).
    private func commitOneByOne(_ jobs: [WriteJob], on conn: PGConnection) -> [WriteJob] {
        for job in jobs {
            do {
                let rows = try conn.query(job.sql, job.values)
                job.answer?(.success(rows))
            } catch {
                if error.kind == .connection { keeper.markBroken() }
                if error.kind == .statement { logger.error("write rejected", metadata: ["sqlstate": "\(error.sqlState ?? "?")"]) }
                job.answer?(.failure(error.hubError))
            }
        }
        return []
    }

    private func failOrKeep(_ batch: [WriteJob]) -> [WriteJob] {
        var keep: [WriteJob] = []
        for job in batch {
            if job.survivesOutage { keep.append(job) } else { job.answer?(.failure(.unavailable)) }
        }
        return keep
    }
}
