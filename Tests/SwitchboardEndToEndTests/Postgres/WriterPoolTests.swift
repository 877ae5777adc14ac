// Routing of write jobs to writers by lane, and the delay estimator behind
// admission control (an injected clock: the times are passed in).
import Foundation
import Logging
import SwitchboardHub
import SwitchboardPostgres
import Testing

@Suite struct WriterPoolRoutingTests {
    @Test func aLaneAlwaysMapsToTheSameWriterAndUnlanedJobsToWriterZero() {
        #expect(WriterPool.index(of: nil, count: 4) == 0)
        for lane: Int64 in [0, 1, 2, 3, 4, 17, 1_000_003, -1, -17, .min, .max] {
            let index = WriterPool.index(of: lane, count: 4)
            #expect((0..<4).contains(index))
            #expect(WriterPool.index(of: lane, count: 4) == index)
        }
        // One writer: everything on it, whatever the lane.
        #expect(WriterPool.index(of: .min, count: 1) == 0)
        #expect(WriterPool.index(of: 12345, count: 1) == 0)
        // Consecutive conversation ids spread over every writer evenly.
        var load = [Int](repeating: 0, count: 4)
        for lane: Int64 in 1...400 { load[WriterPool.index(of: lane, count: 4)] += 1 }
        #expect(load == [100, 100, 100, 100])
    }

    @Test func thePoolHandsTheSameWriterObjectForALane() {
        let pool = WriterPool(count: 3) { _ in GroupCommitWriter(conninfo: TestDatabase.conninfo, logger: Logger(label: "test")) }
        #expect(pool.writers.count == 3)
        #expect(pool.writer(for: 7) === pool.writer(for: 7))
        #expect(pool.writer(for: 7) === pool.writers[1])
        #expect(pool.writer(for: nil) === pool.writers[0])
        #expect(pool.writer(for: -7) === pool.writer(for: -7))
        // At least one writer, whatever is asked.
        #expect(WriterPool(count: 0) { _ in GroupCommitWriter(conninfo: "", logger: Logger(label: "test")) }.writers.count == 1)
    }
}

@Suite struct WriteDelayEstimatorTests {
    @Test func beforeAnyCommitTheInitialCostStands() {
        let e = WriteDelayEstimator(maxBatch: 100, initialPerBatch: 0.002, initialPerJob: 0.001)
        // An idle writer: no wait at all.
        #expect(e.delay(queued: 0, at: 5) == 0)
        #expect(abs(e.delay(queued: 10, at: 5) - 0.012) < 1e-9)
        #expect(abs(e.delay(queued: 101, at: 5) - 0.105) < 1e-9)  // two commits
    }

    @Test func smallBatchesTeachTheCommitsCostAndLargeOnesTheJobsCost() {
        // Every commit costs 2 ms, every job 10 µs; each batch's figure counts alone.
        var e = WriteDelayEstimator(maxBatch: 1000, weight: 1)
        var now = 100.0
        func batch(_ n: Int) {
            e.started(jobs: n, at: now)
            now += 0.002 + 0.000_01 * Double(n)
            e.ended(at: now, committed: true)
            now += 1
        }
        // A quiet writer: lone jobs. They teach the commit's cost and leave
        // the per-job cost alone, so a burst does not look like 2 ms a job.
        for _ in 0..<5 { batch(1) }
        #expect(abs(e.cost.perBatch - 0.002_01) < 1e-9)
        #expect(e.cost.perJob == 0.000_05)
        #expect(e.delay(queued: 200, at: now) < 0.015)
        // Under load the batches are large: the per-job cost is measured.
        for _ in 0..<30 { batch(1000) }
        #expect(abs(e.cost.perJob - 0.000_012) < 1e-9)
        // 2,001 queued ahead: three batches.
        let expected = 3 * e.cost.perBatch + 2001 * e.cost.perJob
        #expect(abs(e.delay(queued: 2001, at: now) - expected) < 1e-9)
    }

    @Test func oneStalledBatchMovesTheAverageAtMostFourfold() {
        var e = WriteDelayEstimator(maxBatch: 1000, weight: 0.5, initialPerJob: 0.001)
        e.started(jobs: 100, at: 0)
        e.ended(at: 0.1, committed: true)  // 1 ms a job
        e.started(jobs: 100, at: 1)
        e.ended(at: 101, committed: true)  // waited 100 s on a lock
        #expect(abs(e.cost.perJob - 0.0025) < 1e-9)  // 1 ms + 0.5 × (4 ms − 1 ms)
    }

    @Test func aBatchInFlightCountsAndAStalledOneGrowsTheDelay() {
        var e = WriteDelayEstimator(maxBatch: 1000, initialPerBatch: 1e-6, initialPerJob: 0.001)
        for i in 0..<3 {
            e.started(jobs: 100, at: Double(i))
            e.ended(at: Double(i) + 0.1, committed: true)  // 1 ms per job
        }
        e.started(jobs: 100, at: 10)
        // On time: the rest of the batch in flight, then the queue ahead.
        #expect(abs(e.delay(queued: 0, at: 10.04) - 0.06) < 1e-5)
        #expect(abs(e.delay(queued: 10, at: 10.04) - 0.07) < 1e-5)
        // Stalled (a lock, a slow disk): 2 s overdue counts as 2 s more.
        #expect(abs(e.delay(queued: 0, at: 12.1) - 2.0) < 1e-5)
        #expect(e.inFlightAge(at: 12.1) > 2)
        // A batch that did not commit at once (an outage) teaches nothing.
        e.ended(at: 30, committed: false)
        #expect(abs(e.cost.perJob - 0.001) < 1e-9)
        #expect(e.inFlightAge(at: 31) == 0)
    }
}

@Suite struct WriterAdmissionTests {
    @Test func jobsPastTheDelayBoundAreRefusedAtOnceWithARetryHint() {
        let clock = Locked(1000.0)
        // 1 ms a commit and 50 µs a job assumed before any commit: a bound of 10.04 ms holds 180 jobs ahead.
        let writer = GroupCommitWriter(
            conninfo: TestDatabase.conninfo, logger: Logger(label: "test"), maxDelay: 0.010_04, clock: { clock.withLock { $0 } })
        let refused = Locked<[HubError]>([])
        let ok = Locked(0)
        let answer: @Sendable (Result<[Row], HubError>) -> Void = { r in
            switch r {
            case .success: ok.withLock { $0 += 1 }
            case .failure(let e): refused.withLock { $0.append(e) }
            }
        }
        var accepted = 0
        for _ in 0..<300 where writer.submit(WriteJob("SELECT 1", [], answer: answer)) { accepted += 1 }
        #expect(accepted == 181)
        let errors = refused.withLock { $0 }
        #expect(errors.count == 119)
        #expect(errors.allSatisfy { $0.code == .overloaded && $0.retryAfterSeconds == 1 })
        // Last-seen updates (no answer) and effects that must be recorded
        // are never refused by the bound.
        #expect(writer.submit(WriteJob("SELECT 1", [])))
        #expect(writer.submit(WriteJob("SELECT 1", [], survivesOutage: true, answer: answer)))
        writer.start()
        #expect(writer.drainAndStop(timeout: 30))
        #expect(ok.withLock { $0 } == 182)
    }
}

/// A writer under steady overload, simulated on a virtual clock: jobs arrive
/// at `offered` × the writer's ceiling, each batch of n costs a + b·n, and
/// admission refuses what the estimator says would wait past the bound.
@Suite struct AdmissionUnderOverloadTests {
    struct Outcome {
        var committedPerSecond: Double
        var ceilingPerSecond: Double
        var meanBatch: Double
        var longestWait: Double
        var refusedShare: Double
    }

    func simulate(a: Double, b: Double, offered: Double, bound: Double, seconds: Double, warmup: Double) -> Outcome {
        let maxBatch = 1000
        var e = WriteDelayEstimator(maxBatch: maxBatch)
        // The most a writer can do: full batches back to back, or batches as
        // large as the bound allows when a full one would take longer.
        let largest = Double(min(maxBatch, max(1, Int(bound / b))))
        let ceiling = largest / (a + b * largest)
        let interval = 1 / (offered * ceiling)
        var queue: [Double] = []  // arrival times
        var head = 0
        var t = 0.0, nextArrival = 0.0
        var batchEnd: Double?, batchSize = 0
        var committed = 0, batches = 0, batched = 0, arrived = 0, refused = 0
        var longestWait = 0.0
        func startBatch() {
            let n = min(queue.count - head, maxBatch)
            guard n > 0 else { return }
            if t >= warmup { for i in head..<head + n { longestWait = max(longestWait, t - queue[i]) } }
            head += n
            e.started(jobs: n, at: t)
            batchEnd = t + a + b * Double(n)
            batchSize = n
        }
        while t < seconds {
            if let end = batchEnd, end <= nextArrival {
                t = end
                e.ended(at: t, committed: true)
                if t >= warmup { committed += batchSize; batches += 1; batched += batchSize }
                batchEnd = nil
                startBatch()
            } else {
                t = nextArrival
                nextArrival += interval
                if t >= warmup { arrived += 1 }
                if e.delay(queued: queue.count - head, at: t) > bound {
                    if t >= warmup { refused += 1 }
                } else {
                    queue.append(t)
                }
                if batchEnd == nil { startBatch() }
            }
        }
        return Outcome(
            committedPerSecond: Double(committed) / (seconds - warmup), ceilingPerSecond: ceiling,
            meanBatch: Double(batched) / Double(max(1, batches)), longestWait: longestWait,
            refusedShare: Double(refused) / Double(max(1, arrived)))
    }

    @Test func atOneAndAHalfTimesTheCeilingBatchesStayFullAndWaitsBounded() {
        // 2 ms a commit, 20 µs a job: a full batch takes 22 ms.
        // From a cold start (the estimator's guesses), measured from the first job.
        let o = simulate(a: 0.002, b: 0.000_02, offered: 1.5, bound: 0.25, seconds: 12, warmup: 0)
        #expect(o.committedPerSecond >= 0.97 * o.ceilingPerSecond)
        #expect(o.meanBatch >= 990)
        #expect(o.longestWait <= 0.25)
        #expect(o.refusedShare > 0.3 && o.refusedShare < 0.36)  // the third over the ceiling, no more
    }

    @Test func whenAFullBatchTakesLongerThanTheBoundBatchesAreAsLargeAsItAllows() {
        // 400 µs a job (a slow disk, a huge table): 625 jobs fill the bound.
        // The guess (50 µs a job) is 8× too low: learnt within a few batches.
        let o = simulate(a: 0.002, b: 0.000_4, offered: 1.5, bound: 0.25, seconds: 30, warmup: 0)
        #expect(o.committedPerSecond >= 0.97 * o.ceilingPerSecond)
        #expect(o.longestWait <= 0.25)
    }
}
