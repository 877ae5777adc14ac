// The scans scenario: K QR codes, one ingest client per code posting batches
// at a share of the total rate, and D dashboards subscribed to the codes'
// counters. Reports durable scans/s (checked against the rows in SQL) and
// counter latency: from a batch's 200 to the first counter frame at a
// dashboard whose total includes it.
import ArgumentParser
import Foundation
import Histogram
import SwitchboardAuth
import SwitchboardPostgres
import SwitchboardWire

struct ScansScenario: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scans",
        abstract: "Batched scan ingest with D dashboards watching; durable scans/s and counter latency p50/p99.")
    @OptionGroup var target: TargetOptions
    @OptionGroup var calibration: CalibrationOptions
    @Option(help: "QR codes (one ingest client each).") var codes = 10
    @Option(help: "Scans per second, in total.") var rate = 30_000.0
    @Option(help: "Scans per POST /v1/scans (1 to 1,000).") var batch = 1000
    @Option(help: "Dashboards (WebSocket connections), spread over the codes.") var dashboards = 100
    @Option(help: "Seconds of ingest.") var duration = 20.0
    @Option(name: .customLong("database-url"), help: "For the final check (default: the embedded cluster in --data-dir).")
    var databaseURL: String?

    func validate() throws {
        guard codes > 0, rate > 0, (1...1000).contains(batch), dashboards >= 0, duration > 0 else {
            throw ValidationError("codes, rate, duration > 0; batch 1...1000")
        }
    }

    func run() throws {
        try target.requireSingleHub()
        let (secret, apiKey) = try target.secrets()
        let calibrated = try calibration.measure { try target.database(databaseURL) }
        let owner = "scans-" + String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        let now = Int64(Date().timeIntervalSince1970)
        let token = JWTSigner.hs256(Claims(subject: owner, expiresAt: now + 3600), secret: Array(secret.utf8))
        let setup = try Publisher(host: target.host, port: target.port, apiKey: apiKey)
        let ids: [String] = try (0..<codes).map { k in
            let r = try setup.post(
                "/v1/qr-codes", headers: ["Authorization": "Bearer " + token],
                body: #"{"label":"load \#(k)","target":"https://example.com/\#(k)"}"#)
            guard r.status == 201, let id = (try? JSON.parse(r.body))?["id"]?.stringValue else {
                throw ValidationError("could not register a code: HTTP \(r.status)")
            }
            return id
        }

        let watchers = DashboardPool(
            host: target.host, port: target.port, token: token,
            channels: (0..<dashboards).map { "scans:" + ids[$0 % codes] })
        try watchers.start()
        guard watchers.waitUntilSubscribed(timeout: 30) else { throw ValidationError("dashboards did not all subscribe") }

        // One ingest client per code, each at its share of the rate.
        let interval = Double(batch * codes) / rate
        let start = Date().addingTimeInterval(0.2)
        let tally = Tally()
        let group = DispatchGroup()
        for (k, qr) in ids.enumerated() {
            let devices = ["mobile", "mobile", "desktop", "tablet"], countries = ["RO", "DE", "AT", "FR", "HU"]
            let body =
                #"{"scans":["#
                + (0..<batch).map { i in
                    #"{"qr":"\#(qr)","device":"\#(devices[(i + k) % 4])","country":"\#(countries[i % 5])","os":"Android"}"#
                }.joined(separator: ",") + "]}"
            let thread = Thread { [target] in
                defer { group.leave() }
                guard let client = try? Publisher(host: target.host, port: target.port, apiKey: apiKey) else { return }
                var timeline: [(sentMicros: Int64, ackMicros: Int64, total: Int)] = []
                var total = 0, localFailed = 0
                var n = 0
                let first = nowMicros()
                while true {
                    let due = start.addingTimeInterval(Double(n) * interval + interval * Double(k) / Double(codes))
                    if due.timeIntervalSince(start) >= duration { break }
                    if due > Date() { Thread.sleep(until: due) }
                    n += 1
                    let sent = nowMicros()
                    guard let r = try? client.post("/v1/scans", headers: ["X-API-Key": apiKey], body: body), r.status == 200,
                        let got = (try? JSON.parse(r.body))?["accepted"]?.intValue
                    else { localFailed += 1; continue }
                    total += Int(got)
                    timeline.append((sent, nowMicros(), total))
                }
                tally.lock.lock()
                tally.timelines[qr] = timeline
                tally.accepted += total
                tally.failed += localFailed
                tally.firstPost = min(tally.firstPost, first)
                tally.lastAck = max(tally.lastAck, timeline.last?.ackMicros ?? 0)
                tally.lock.unlock()
            }
            group.enter()
            thread.start()
        }
        group.wait()
        Thread.sleep(forTimeInterval: 1.5)  // the last counter frames
        let frames = watchers.stop()
        let (timelines, accepted, failed) = (tally.timelines, tally.accepted, tally.failed)
        let (firstPost, lastAck) = (tally.firstPost, tally.lastAck)

        // For each batch and each dashboard watching its code: the first frame
        // whose total includes the batch.
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        var fromPost = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        var beforeAck = 0
        var missing = 0
        for (dashboard, channel) in watchers.channels.enumerated() {
            let qr = String(channel.dropFirst("scans:".count))
            let seen = frames[dashboard]
            var j = 0
            for batch in timelines[qr] ?? [] {
                while j < seen.count && seen[j].total < batch.total { j += 1 }
                if j == seen.count { missing += 1; continue }
                // The frame may beat the HTTP answer (both leave after the commit).
                if seen[j].micros < batch.ackMicros { beforeAck += 1 }
                _ = latency.record(UInt64(max(0, seen[j].micros - batch.ackMicros)))
                _ = fromPost.record(UInt64(max(0, seen[j].micros - batch.sentMicros)))
            }
        }
        let seconds = Double(max(1, lastAck - firstPost)) / 1e6
        let stored = try countRows(ids)
        func ms(_ h: Histogram<UInt64>, _ p: Double) -> String { String(format: "%.1f", Double(h.valueAtPercentile(p)) / 1000) }
        let observations = max(1, latency.totalCount)
        let durable = Double(accepted) / seconds
        let rows: [(String, String)] = [
            ("codes / dashboards / batch", "\(codes) / \(dashboards) / \(batch)"),
            ("target rate (scans/s)", String(format: "%.0f", rate)),
            ("accepted scans / failed posts", "\(accepted) / \(failed)"),
            ("durable scans/s (first post → last 200)", String(format: "%.0f", durable)),
            ("rows in SQL = accepted", stored == accepted ? "yes (\(stored))" : "NO: \(stored) rows"),
            (
                "counter latency after the 200, p50 / p99 / max (ms)",
                "\(ms(latency, 50)) / \(ms(latency, 99)) / " + String(format: "%.1f", Double(latency.max) / 1000)
            ),
            ("frames that arrived before the 200", String(format: "%.0f%%", 100 * Double(beforeAck) / Double(observations))),
            (
                "post sent → counter frame, p50 / p99 / max (ms)",
                "\(ms(fromPost, 50)) / \(ms(fromPost, 99)) / " + String(format: "%.1f", Double(fromPost.max) / 1000)
            ),
            ("batches never seen by a dashboard", String(missing)),
            ("calibration: PostgreSQL 1,000-row INSERT", calibrated.map(\.text) ?? "skipped"),
            ("ratio durable / calibration", calibrated.map { String(format: "%.3f", durable / $0.rowsPerSecond) } ?? "n/a"),
        ]
        let result = ScansResult(
            codes: codes, dashboards: dashboards, batch: batch, offeredPerSecond: rate, accepted: accepted, errors: failed,
            persistedPerSecond: durable, stored: stored, storedMatches: stored == accepted, counterMs: Percentiles(latency),
            postToCounterMs: Percentiles(fromPost),
            framesBeforeAckPercent: rounded(100 * Double(beforeAck) / Double(observations)),
            missingBatches: missing, calibration: calibrated)
        Report.print(title: "scans", rows: rows, result: result, json: target.json)
        if stored != accepted || missing > 0 || failed > 0 { throw ExitCode(1) }
    }

    private func countRows(_ ids: [String]) throws -> Int {
        let conn = try target.database(databaseURL)
        let list = "{" + ids.joined(separator: ",") + "}"
        let rows = try conn.execute("SELECT count(*) FROM scans WHERE qr_id = ANY($1::bigint[])", [list])
        return Int(rows.first?[0] ?? "") ?? -1
    }
}

/// `scans --json`.
struct ScansResult: Encodable {
    var scenario = "scans"
    var codes, dashboards, batch: Int
    var offeredPerSecond: Double
    /// Scans accepted; `errors`: failed posts.
    var accepted, errors: Int
    var persistedPerSecond: Double
    /// Rows in SQL, and whether they equal `accepted`.
    var stored: Int
    var storedMatches: Bool
    /// From a batch's 200 to the first counter frame including it.
    var counterMs: Percentiles
    var postToCounterMs: Percentiles
    var framesBeforeAckPercent: Double
    var missingBatches: Int
    var calibrationRowsPerSecond, calibrationSeconds: Nullable<Double>
    var calibrationAt: Nullable<String>
    var ratio: Nullable<Double>

    enum CodingKeys: String, CodingKey {
        case scenario, codes, dashboards, batch, offeredPerSecond = "offered_per_s", accepted, errors
        case persistedPerSecond = "persisted_per_s", stored, storedMatches = "stored_matches", counterMs = "counter_ms"
        case postToCounterMs = "post_to_counter_ms", framesBeforeAckPercent = "frames_before_ack_pct"
        case missingBatches = "missing_batches", calibrationRowsPerSecond = "calibration_rows_per_s"
        case calibrationSeconds = "calibration_s", calibrationAt = "calibration_at", ratio
    }

    init(
        codes: Int, dashboards: Int, batch: Int, offeredPerSecond: Double, accepted: Int, errors: Int,
        persistedPerSecond: Double, stored: Int, storedMatches: Bool, counterMs: Percentiles, postToCounterMs: Percentiles,
        framesBeforeAckPercent: Double, missingBatches: Int, calibration: Calibration?
    ) {
        (self.codes, self.dashboards, self.batch, self.offeredPerSecond) = (codes, dashboards, batch, offeredPerSecond)
        (self.accepted, self.errors, self.persistedPerSecond) = (accepted, errors, rounded(persistedPerSecond))
        (self.stored, self.storedMatches, self.counterMs, self.postToCounterMs) = (
            stored, storedMatches, counterMs, postToCounterMs
        )
        (self.framesBeforeAckPercent, self.missingBatches) = (framesBeforeAckPercent, missingBatches)
        calibrationRowsPerSecond = Nullable(calibration.map { rounded($0.rowsPerSecond) })
        calibrationSeconds = Nullable(calibration.map { rounded($0.seconds) })
        calibrationAt = Nullable(calibration?.at)
        ratio = Nullable(calibration.map { rounded(persistedPerSecond / $0.rowsPerSecond, places: 4) })
    }
}

/// What the ingest threads report, under its lock.
// Unchecked: every field is read and written under `lock`.
private final class Tally: @unchecked Sendable {
    let lock = NSLock()
    var timelines: [String: [(sentMicros: Int64, ackMicros: Int64, total: Int)]] = [:]
    var accepted = 0, failed = 0
    var firstPost: Int64 = .max, lastAck: Int64 = 0
}

/// D dashboard connections on one lws client context and thread, recording
/// (arrival, total) of every counter frame.
// Unchecked: `subscribed` and `stopping` are behind `lock`; the pool and `frames` belong to the service thread until `stop()` joined it.
final class DashboardPool: LWSClientDelegate, @unchecked Sendable {
    let host: String, port: Int, token: String
    let channels: [String]
    private var pool: LWSClientPool?
    private let lock = NSLock()
    private var subscribed = 0
    private var stopping = false
    private var frames: [[(micros: Int64, total: Int)]]
    private let finished = DispatchSemaphore(value: 0)

    init(host: String, port: Int, token: String, channels: [String]) {
        self.host = host
        self.port = port
        self.token = token
        self.channels = channels
        frames = Array(repeating: [], count: channels.count)
    }

    func start() throws {
        let created = try LWSClientPool()
        created.delegate = self
        pool = created
        let waker = created.waker
        Thread { while true { usleep(50_000); waker.wake() } }.start()
        Thread { [self] in
            guard let pool else { return }
            for id in channels.indices { _ = pool.connect(id: id, host: host, port: port, path: "/?token=" + token) }
            while true {
                pool.service()
                lock.lock(); let stop = stopping; lock.unlock()
                if stop { break }
            }
            finished.signal()
        }.start()
    }

    func waitUntilSubscribed(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            lock.lock(); let n = subscribed; lock.unlock()
            if n == channels.count { return true }
            usleep(20_000)
        }
        return false
    }

    /// Stops the thread; returns the frames seen by each dashboard.
    func stop() -> [[(micros: Int64, total: Int)]] {
        lock.lock(); stopping = true; lock.unlock()
        pool?.waker.wake()
        finished.wait()
        return frames
    }

    func clientOpened(_ id: Int) {
        pool?.send(id, text: #"{"type":"subscribe","id":"s","channel":"\#(channels[id])"}"#)
    }

    func clientReceived(_ id: Int, _ message: UnsafeRawBufferPointer) {
        let now = nowMicros()
        guard let json = try? JSON.parse(message), let type = json["type"]?.stringValue else { return }
        if type == "counter", let total = json["codes"]?[0]?["total"]?.intValue {
            frames[id].append((now, Int(total)))
        } else if type == "subscribed" {
            lock.lock(); subscribed += 1; lock.unlock()
        }
    }

    func clientClosed(_ id: Int, failed: Bool, reason: String) {}
}
