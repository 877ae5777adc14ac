// Admission control for one group-commit writer: how long would a job queued
// now wait for its commit? A batch of n jobs costs about a + b·n seconds (a:
// the round trip and fsync every commit pays; b: the work per job). Both are
// fitted to the committed batches by exponentially weighted least squares, so
// small batches at low load (dominated by a) do not make a burst look
// expensive, and full batches under overload give b. A value type: the writer
// owns one under its lock and passes the time in, so tests need no clock.

/// Predicts a new job's queueing delay on one writer from its recent commits.
public struct WriteDelayEstimator: Sendable {
    /// Most jobs one batch takes (the writer's `maxBatch`).
    public let maxBatch: Int
    /// Weight the previous batches keep at each new one (0…1).
    public let decay: Double
    // Exponentially weighted sums over committed batches (n jobs, t seconds).
    private var sw = 0.0
    private var sn = 0.0
    private var st = 0.0
    private var snn = 0.0
    private var snt = 0.0
    /// Seconds per job assumed before any batch committed.
    private let initialPerJob: Double
    private var inFlightJobs = 0
    private var inFlightSince = 0.0

    /// An estimator; `initialPerJob` stands until the first commit.
    public init(maxBatch: Int, decay: Double = 0.9, initialPerJob: Double = 0.000_05) {
        self.maxBatch = max(1, maxBatch)
        self.decay = min(max(decay, 0), 0.999)
        self.initialPerJob = max(0, initialPerJob)
    }

    /// The fitted cost: seconds per commit and per job (both ≥ 0).
    public var cost: (perBatch: Double, perJob: Double) {
        guard sw > 0, sn > 0 else { return (0, initialPerJob) }
        let mean = st / sn  // seconds per job counting the commits too: an upper bound for b
        let denominator = sw * snn - sn * sn
        // Batches all of one size: a and b cannot be told apart; charge it all per job.
        guard denominator > 1e-9 * sw * snn else { return (0, mean) }
        let b = min(max((sw * snt - sn * st) / denominator, 0), mean)
        return (max((st - b * sn) / sw, 0), b)
    }

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
        let n = Double(inFlightJobs)
        let t = max(0, now - inFlightSince)
        sw = sw * decay + 1
        sn = sn * decay + n
        st = st * decay + t
        snn = snn * decay + n * n
        snt = snt * decay + n * t
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
