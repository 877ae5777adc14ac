// The notify scenario: N users online (one connection each), M calls of
// POST /v1/notify to all of them; commit → delivery latency p50/p99, and the
// rows checked in SQL.
import ArgumentParser
import Foundation
import Histogram
import SwitchboardPostgres
import SwitchboardWire

struct NotifyScenario: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Notify N connected users M times; commit→delivery latency p50/p99, notifications/s, rows checked in SQL.")
    @OptionGroup var target: TargetOptions
    @Option(help: "Connected users (one connection each), the recipients of every call.") var users = 10_000
    @Option(help: "Calls of POST /v1/notify.") var calls = 5
    @Option(help: "Seconds between calls.") var interval = 2.0
    @Option(help: "Worker processes.") var processes = 2
    @Option(help: "Connection attempts per second while setting up.") var connectRate = 3000.0
    @Option(name: .customLong("database-url"), help: "For the final check (default: the embedded cluster in --data-dir).")
    var databaseURL: String?
    @OptionGroup var html: HTMLReportOptions

    func validate() throws {
        guard users > 0, users <= 10_000, calls > 0, interval >= 0 else { throw ValidationError("users 1...10,000, calls > 0") }
        guard users / processes < 19_000 else { throw ValidationError("more processes: each may hold < 19,000") }
    }

    func run() throws {
        try target.requireSingleHub()
        let (secret, apiKey) = try target.secrets()
        let run = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        var unused = 0
        let workers = try Coordinator.spawn(
            target: target, secret: secret, connections: users, processes: processes,
            rate: connectRate, hold: 0, channel: nil, run: run, distinctUsers: true)
        guard
            Coordinator.wait(
                workers, timeout: Double(users) / connectRate + 60, hub: nil, maxRSS: &unused, until: { $0.ready != nil })
        else {
            for w in workers { w.stop() }
            throw ValidationError("users did not all connect")
        }
        let online = workers.compactMap(\.ready).map(\.authenticated).reduce(0, +)
        let recipients = Coordinator.users(run: run, connections: users, processes: processes)
        let body =
            #"{"user_ids":\#(JSON.array(recipients.map(JSON.string)).serialized),"kind":"project_update","title":"Load notice","data":{"run":"\#(run)"}}"#
        let client = try Publisher(host: target.host, port: target.port, apiKey: apiKey)
        var commit = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        let startMicros = nowMicros()
        var created = 0, failed = 0
        let start = Date()
        for k in 0..<calls {
            let due = start.addingTimeInterval(Double(k) * interval)
            if due > Date() { Thread.sleep(until: due) }
            let sent = nowMicros()
            let r = try client.post("/v1/notify", headers: ["X-API-Key": apiKey], body: body)
            _ = commit.record(UInt64(nowMicros() - sent))
            if r.status == 201, let n = (try? JSON.parse(r.body))?["notified"]?.intValue {
                created += Int(n)
            } else {
                failed += 1
            }
        }
        Thread.sleep(forTimeInterval: 2)
        for w in workers { w.stop() }
        _ = Coordinator.wait(workers, timeout: 30, hub: nil, maxRSS: &unused) { $0.done != nil }
        let done = workers.compactMap(\.done)
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        var timeline = LatencyTimeline()
        for d in done { latency.add(d.latency); timeline.merge(d.timeline) }
        let deliveries = done.map(\.deliveries).reduce(0, +)
        let first = done.map(\.firstDeliveryMicros).filter { $0 > 0 }.min() ?? 0
        let last = done.map(\.lastDeliveryMicros).max() ?? 0
        let stored = try countRows(run)
        func ms(_ h: Histogram<UInt64>, _ p: Double) -> String { String(format: "%.1f", Double(h.valueAtPercentile(p)) / 1000) }
        let rows: [(String, String)] = [
            ("users online / recipients per call / calls", "\(online) / \(recipients.count) / \(calls)"),
            ("notifications created (201s) / failed calls", "\(created) / \(failed)"),
            ("rows in SQL", stored == created ? "yes (\(stored))" : "NO: \(stored)"),
            ("deliveries", "\(deliveries)/\(online * calls)"),
            ("notify call (commit) p50 / max (ms)", "\(ms(commit, 50)) / " + String(format: "%.1f", Double(commit.max) / 1000)),
            (
                "commit → delivery p50 / p99 / max (ms)",
                "\(ms(latency, 50)) / \(ms(latency, 99)) / " + String(format: "%.1f", Double(latency.max) / 1000)
            ),
            ("deliveries/s (first → last)", String(format: "%.0f", Double(deliveries) / (Double(max(1, last - first)) / 1e6))),
        ]
        let result = NotifyResult(
            usersOnline: online, recipients: recipients.count, calls: calls, created: created, errors: failed, stored: stored,
            storedMatches: stored == created, deliveries: deliveries, expectedDeliveries: online * calls,
            notifyMs: Percentiles(commit), deliveryMs: Percentiles(latency),
            deliveriesPerSecond: rounded(Double(deliveries) / (Double(max(1, last - first)) / 1e6)))
        Report.print(title: "notify", rows: rows, result: result, json: target.json)
        if let path = html.path {
            try HTMLReport.write(
                title: "notify", rows: rows, series: [HTMLReport.series("delivery", latency, timeline, start: startMicros)],
                to: path)
        }
        if stored != created || deliveries < online * calls || failed > 0 { throw ExitCode(1) }
    }

    private func countRows(_ run: String) throws -> Int {
        let conn = try target.database(databaseURL)
        let rows = try conn.execute("SELECT count(*) FROM notifications WHERE user_id LIKE $1", ["load-\(run)-%"])
        return Int(rows.first?[0] ?? "") ?? -1
    }
}

/// `notify --json`.
struct NotifyResult: Encodable {
    var scenario = "notify"
    var usersOnline, recipients, calls: Int
    /// Notifications created (201s); `errors`: failed calls.
    var created, errors: Int
    var stored: Int
    var storedMatches: Bool
    var deliveries, expectedDeliveries: Int
    /// The POST /v1/notify call (its commit).
    var notifyMs: Percentiles
    /// Commit → delivery.
    var deliveryMs: Percentiles
    var deliveriesPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case scenario, usersOnline = "users_online", recipients, calls, created, errors, stored
        case storedMatches = "stored_matches", deliveries, expectedDeliveries = "expected_deliveries"
        case notifyMs = "notify_ms", deliveryMs = "delivery_ms", deliveriesPerSecond = "deliveries_per_s"
    }
}
