// Several group-commit writers, each with its own thread and connection. A
// job's lane picks its writer: the same lane always the same writer, so the
// jobs of one conversation commit — and are answered — in the order they
// were submitted; jobs without a lane go to writer 0.
//
// No deadlock between writers: every row a laned job locks belongs to its
// lane (a conversation's row, its members and messages; a project's rows go
// with its conversation's lane), so two writers never wait for each other's
// row locks. Unlaned jobs (writer 0) touch rows no laned job locks, or only
// wait one way (see PostgresStore's lanes).
import Foundation
import Logging
import Synchronization

/// Routes write jobs to one of several `GroupCommitWriter`s by lane.
public final class WriterPool: Sendable {
    /// The writers; index 0 takes the unlaned jobs.
    public let writers: [GroupCommitWriter]
    private let figures: Figures

    /// Each writer's last queue depth and predicted delay (the writers'
    /// observers hold this, not the pool).
    private final class Figures: Sendable {
        let depths: Mutex<[Int]>
        let delays: Mutex<[Double]>
        init(count: Int) {
            depths = Mutex([Int](repeating: 0, count: count))
            delays = Mutex([Double](repeating: 0, count: count))
        }
    }

    /// A pool of `count` writers (at least 1) made by `make(index)`.
    public init(count: Int, make: (Int) -> GroupCommitWriter) {
        writers = (0..<max(1, count)).map(make)
        figures = Figures(count: writers.count)
    }

    /// The writer index of `lane` among `count` writers: stable, and total
    /// for every Int64 (negative and huge ids do not trap).
    public static func index(of lane: Int64?, count: Int) -> Int {
        guard let lane, count > 1 else { return 0 }
        return Int(UInt64(bitPattern: lane) % UInt64(count))
    }

    /// The writer that runs `lane`'s jobs.
    public func writer(for lane: Int64?) -> GroupCommitWriter {
        writers[Self.index(of: lane, count: writers.count)]
    }

    /// Queues `job` on its lane's writer (see `GroupCommitWriter.submit`).
    @discardableResult
    public func submit(_ job: WriteJob) -> Bool {
        writer(for: job.lane).submit(job)
    }

    /// True while every writer's connection works.
    public var isHealthy: Bool { writers.allSatisfy(\.isHealthy) }

    /// Starts every writer's thread.
    public func start() {
        for writer in writers { writer.start() }
    }

    /// Drains and stops every writer within `timeout` seconds in all; true
    /// if all drained. They drain in parallel (each on its own thread).
    @discardableResult
    public func drainAndStop(timeout: TimeInterval) -> Bool {
        let drained = Mutex(true)
        let group = DispatchGroup()
        for writer in writers {
            DispatchQueue.global().async(group: group) {
                let ok = writer.drainAndStop(timeout: timeout)
                drained.withLock { $0 = $0 && ok }
            }
        }
        group.wait()
        return drained.withLock { $0 }
    }

    /// Wires every writer's observers to pool-wide figures: the queue depth
    /// summed over writers, the longest predicted delay, each batch's size.
    public func observe(
        batch: @escaping @Sendable (Int) -> Void, depth: @escaping @Sendable (Int) -> Void,
        delay: @escaping @Sendable (Double) -> Void, refused: @escaping @Sendable () -> Void,
        salvaged: (@Sendable () -> Void)? = nil
    ) {
        for (index, writer) in writers.enumerated() {
            writer.onBatch = batch
            writer.onDepth = { [figures] value in
                depth(
                    figures.depths.withLock {
                        $0[index] = value; return $0.reduce(0, +)
                    })
            }
            writer.onDelay = { [figures] value in
                delay(
                    figures.delays.withLock {
                        $0[index] = value; return $0.max() ?? 0
                    })
            }
            writer.onAdmissionRefused = refused
            writer.onSalvage = salvaged
        }
    }
}
