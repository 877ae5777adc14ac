// Admission control for one group-commit writer: how long would a job queued
// now wait before its batch starts? A batch of n jobs costs about a + b·n
// seconds (a: the round trip and fsync every commit pays; b: the work per
// job). Small batches (low load) are almost all a, so they teach a; batches
// of at least `sampleJobs` teach b (their a/n share is small). So a quiet
// writer does not make a burst look expensive, and under overload, where
// batches are full, b is what was measured. Each an EWMA from a guess. A value type: the
// writer owns one under its lock and passes the time in, so tests need no
// clock.

/// Predicts a new job's queueing delay on one writer from its recent commits.
public struct WriteDelayEstimator: Sendable {
    /// Most jobs one batch takes (the writer's `maxBatch`).
    public let maxBatch: Int
    /// Batches of at least this many jobs measure the per-job cost.
    public let sampleJobs: Int
    /// Weight of the newest batch in the averages (0…1).
    public let weight: Double
    private var perBatch: Double
    private var perJob: Double
    private var inFlightJobs = 0
    private var inFlightSince = 0.0

    /// An estimator starting from a guess of the costs (seconds; a local
    /// PostgreSQL's order of magnitude), which the commits then correct.
    public init(maxBatch: Int, weight: Double = 0.5, initialPerBatch: Double = 0.001, initialPerJob: Double = 0.000_05) {
        self.maxBatch = max(1, maxBatch)
        self.sampleJobs = max(1, min(32, self.maxBatch / 4))
        self.weight = min(max(weight, 0.01), 1)
        // Positive, so that the 4× cap below lets a real cost be learnt.
        self.perBatch = max(1e-6, initialPerBatch)
        self.perJob = max(1e-7, initialPerJob)
    }

    /// The measured cost: seconds per commit and per job.
    public var cost: (perBatch: Double, perJob: Double) { (perBatch, perJob) }

    /// Seconds `jobs` jobs take to commit, in full batches.
    public func seconds(forJobs jobs: Int) -> Double {
        guard jobs > 0 else { return 0 }
        let (a, b) = cost
        let batches = (jobs - 1) / maxBatch + 1
        return Double(batches) * a + Double(jobs) * b
    }

    /// A batch of `jobs` left the queue at `now` (seconds, monotonic).
    public mutating func started(jobs: Int, at now: Double) {
        inFlightJobs = max(0, jobs)
        inFlightSince = now
    }

    /// The batch in flight ended at `now`; `committed` false (an outage, a
    /// salvage run) teaches nothing about the cost.
    public mutating func ended(at now: Double, committed: Bool) {
        defer { inFlightJobs = 0 }
        guard committed, inFlightJobs > 0 else { return }
        let t = max(0, now - inFlightSince)
        if inFlightJobs >= sampleJobs {
            perJob = Self.average(perJob, t / Double(inFlightJobs), weight)
        } else {
            perBatch = Self.average(perBatch, t, weight)
        }
    }

    /// The EWMA after `sample`. A sample counts at most 4× the average: one
    /// batch that waited on a lock says little about the next (a stall is
    /// the in-flight term's business), and a real slowdown still shows
    /// within a few batches.
    private static func average(_ old: Double, _ sample: Double, _ weight: Double) -> Double {
        old + weight * (min(sample, 4 * old) - old)
    }

    /// Seconds a job queued at `now` behind `queued` others waits before its
    /// own batch starts: the rest of the batch in flight, then the work
    /// queued ahead (its own commit is not queueing: an idle writer takes
    /// any job). A batch past its expected time is assumed to last as long
    /// again as it is overdue (a stalled database: the longer, the longer),
    /// so a stall turns into refusals instead of a queue that hangs.
    public func delay(queued: Int, at now: Double) -> Double {
        var inFlight = 0.0
        if inFlightJobs > 0 {
            let expected = seconds(forJobs: inFlightJobs)
            let elapsed = max(0, now - inFlightSince)
            inFlight = abs(expected - elapsed)
        }
        return inFlight + seconds(forJobs: max(0, queued))
    }

    /// Seconds the batch in flight has been running (0 when none).
    public func inFlightAge(at now: Double) -> Double {
        inFlightJobs > 0 ? max(0, now - inFlightSince) : 0
    }
}
