// The connections scenario (issue 13's 100,000): N authenticated WebSocket
// connections over the targets, opened at the ramp rate by worker processes
// (each under the 20,000-fd limit), held, failures and drops counted; with
// --subscribe, all on one channel and ONE publication through POST
// /v1/publish — how many received it and how fast; the hubs' total RSS.
import ArgumentParser
import Foundation
import Histogram

struct ConnectionsScenario: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections",
        abstract: "N connections over the targets at a ramp rate, held; failures, drops, one publication's reach, RSS.")
    @OptionGroup var target: TargetOptions
    @Option(help: "Connections in total.") var connections = 1000
    @Option(help: "Worker processes (each holds < 19,000: the fd limit is 20,000).") var processes = 2
    @Option(help: "The ramp: connection attempts per second, in total.") var ramp = 1000.0
    @Option(help: "Seconds to hold every connection once all are up.") var hold = 10.0
    @Option(help: "Subscribe every connection to this channel and publish to it once, at the start of the hold.")
    var subscribe: String?
    @OptionGroup var html: HTMLReportOptions

    func validate() throws {
        guard (1...1_000_000).contains(connections), (1...256).contains(processes) else {
            throw ValidationError("connections 1...1,000,000, processes 1...256")
        }
        guard ramp > 0, ramp <= 1_000_000, hold >= 0, hold <= 86_400 else { throw ValidationError("ramp > 0, hold 0...86,400") }
        guard (connections + processes - 1) / processes < 19_000 else {
            throw ValidationError("more --processes: each may hold < 19,000 (the fd limit is 20,000)")
        }
        if let subscribe {
            guard !subscribe.isEmpty, subscribe.utf8.count <= 200, subscribe.allSatisfy({ $0.isASCII && !$0.isWhitespace }),
                !subscribe.contains("\""), !subscribe.contains("\\")
            else { throw ValidationError("--subscribe: a channel name (printable ASCII, no quotes)") }
        }
    }

    func run() throws {
        let (secret, apiKey) = try target.secrets()
        let nodes = target.endpoints
        // Without --hub-pid, the one hub found by its command line, and only
        // when there is one target (with several, it might be any of them).
        let found = nodes.count == 1 ? HubProcessInfo.find(nil).map { [$0] } ?? [] : []
        let hubs = target.hubPIDs.isEmpty ? found : target.hubPIDs.map(HubProcessInfo.init)
        func totalRSS() -> Int? {
            let each = hubs.compactMap { $0.rssKB() }
            return each.count == hubs.count && !hubs.isEmpty ? each.reduce(0, +) : nil
        }
        let before = totalRSS()
        var maxRSS = before ?? 0
        let start = nowMicros()
        let workers = try Coordinator.spawn(
            target: target, secret: secret, connections: connections, processes: processes, rate: ramp, hold: 0,
            // 20 ms buckets: one publication reaches everyone within a few seconds.
            channel: subscribe, distinctUsers: true, bucketMs: 20)
        defer { for w in workers { w.stop() } }
        // Bounded: the ramp's time plus a minute, then the hold, then 30 s to report.
        let allUp = Coordinator.wait(
            workers, timeout: Double(connections) / ramp + 60, hubs: hubs, maxRSS: &maxRSS
        ) { $0.ready != nil }
        let held = totalRSS()
        var accepted: Bool?
        var publishedAt: Int64 = 0
        if let subscribe, allUp {
            let via = target.publisher
            publishedAt = nowMicros()
            accepted =
                (try? Publisher(host: via.host, port: via.port, apiKey: apiKey).publish(
                    channel: subscribe, data: #"{"sent_us":\#(publishedAt)}"#)) ?? false
        }
        if allUp {
            // Holds; a worker that ends early (its connections all gone) ends the hold.
            _ = Coordinator.wait(workers, timeout: hold, hubs: hubs, maxRSS: &maxRSS) { _ in false }
        }
        for w in workers { w.stop() }
        _ = Coordinator.wait(workers, timeout: 30, hubs: [], maxRSS: &maxRSS) { $0.done != nil }
        for w in workers where w.process.isRunning { w.process.terminate() }
        let after = totalRSS()

        let ready = workers.compactMap(\.ready), done = workers.compactMap(\.done)
        let perNode = NodeResult.merge(nodes, requested: connections, ready: ready, done: done, publications: 1)
        let opened = perNode.map(\.opened).reduce(0, +)
        let failed = connections - opened
        let dropped = perNode.map(\.dropped).reduce(0, +)
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        var timeline = LatencyTimeline()
        for d in done { latency.add(d.latency); timeline.merge(d.timeline) }
        let received = done.map(\.deliveries).reduce(0, +)
        let first = ready.map(\.firstAttemptMicros).min() ?? 0
        let last = ready.map(\.lastOpenMicros).max() ?? 0
        let seconds = Double(max(1, last - first)) / 1e6
        var reasons: [String: Int] = [:]
        // Each worker's latest report (its counts are cumulative).
        for r in workers.compactMap({ $0.done ?? $0.ready }) {
            for (k, v) in r.failureReasons { reasons[k, default: 0] += v }
        }
        let perConnection = before.flatMap { b in held.map { rounded(Double($0 - b) / Double(max(1, opened))) } }
        let result = ConnectionsResult(
            connectionsRequested: connections, targets: nodes.count, processes: processes, opened: opened, failed: failed,
            dropped: dropped, rampPerSecond: ramp, holdSeconds: hold, connectSeconds: rounded(seconds),
            connectPerSecond: rounded(Double(opened) / seconds), channel: Nullable(subscribe),
            publicationAccepted: Nullable(accepted), received: received, deliveryMs: Percentiles(latency),
            hubs: hubs.count, hubRSSBeforeMiB: Nullable(before.map { rounded(Double($0) / 1024) }),
            hubRSSHeldMiB: Nullable(held.map { rounded(Double($0) / 1024) }),
            hubRSSMaxMiB: Nullable(before == nil ? nil : rounded(Double(maxRSS) / 1024)),
            hubRSSAfterMiB: Nullable(after.map { rounded(Double($0) / 1024) }),
            rssPerConnectionKB: Nullable(perConnection), failureReasons: reasons, nodes: perNode)
        Report.print(title: "connections", rows: result.rows, result: result, json: target.json)
        if let path = html.path {
            try HTMLReport.write(
                title: "connections", rows: result.rows,
                series: [HTMLReport.series("delivery", latency, timeline, start: publishedAt > 0 ? publishedAt : start)],
                to: path)
        }
        if failed > 0 || dropped > 0 || (subscribe != nil && received < opened) { throw ExitCode(1) }
    }
}

/// `connections --json`.
struct ConnectionsResult: Encodable {
    var scenario = "connections"
    var connectionsRequested, targets, processes, opened, failed, dropped: Int
    var rampPerSecond, holdSeconds, connectSeconds, connectPerSecond: Double
    var channel: Nullable<String>
    var publicationAccepted: Nullable<Bool>
    /// Connections that received the one publication, and how fast.
    var received: Int
    var deliveryMs: Percentiles
    /// The hubs whose RSS is added up (--hub-pid).
    var hubs: Int
    var hubRSSBeforeMiB, hubRSSHeldMiB, hubRSSMaxMiB, hubRSSAfterMiB, rssPerConnectionKB: Nullable<Double>
    var failureReasons: [String: Int]
    var nodes: [NodeResult]

    enum CodingKeys: String, CodingKey {
        case scenario, connectionsRequested = "connections_requested", targets, processes, opened, failed, dropped
        case rampPerSecond = "ramp_per_s", holdSeconds = "hold_s", connectSeconds = "connect_s"
        case connectPerSecond = "connect_per_s", channel, publicationAccepted = "publication_accepted", received
        case deliveryMs = "delivery_ms", hubs, hubRSSBeforeMiB = "hub_rss_before_mib", hubRSSHeldMiB = "hub_rss_held_mib"
        case hubRSSMaxMiB = "hub_rss_max_mib", hubRSSAfterMiB = "hub_rss_after_mib"
        case rssPerConnectionKB = "rss_per_connection_kb", failureReasons = "failure_reasons", nodes
    }

    var rows: [(String, String)] {
        func mib(_ v: Nullable<Double>) -> String { v.value.map { String(format: "%.1f", $0) } ?? "n/a" }
        var rows: [(String, String)] = [
            ("connections requested", "\(connectionsRequested) over \(targets) target(s), \(processes) processes"),
            ("opened and authenticated", String(opened)),
            ("failed", String(failed)),
            ("dropped (closed by the hub once open)", String(dropped)),
            ("ramp (conn/s) / held for (s)", String(format: "%.0f / %.0f", rampPerSecond, holdSeconds)),
            ("connect time (s) / rate (conn/s)", String(format: "%.2f / %.0f", connectSeconds, connectPerSecond)),
        ]
        if let channel = channel.value {
            rows += [
                ("publication to \(channel)", publicationAccepted.value == true ? "accepted" : "NOT accepted"),
                ("received by", "\(received)/\(opened)"),
                ("delivery p50 / p99 / p99.9 / max (ms)", received > 0 ? deliveryMs.text() : "none received"),
            ]
        }
        if hubs == 0 {
            rows.append(("hub RSS", "no hub process (--hub-pid)"))
        } else {
            rows += [
                (
                    "hubs' RSS before / held / max / after (MiB)",
                    [hubRSSBeforeMiB, hubRSSHeldMiB, hubRSSMaxMiB, hubRSSAfterMiB].map(mib).joined(separator: " / ")
                        + " (\(hubs) hubs)"
                ),
                ("RSS per connection (KB)", rssPerConnectionKB.value.map { String(format: "%.2f", $0) } ?? "n/a"),
            ]
        }
        rows += nodes.map(\.row)
        if !failureReasons.isEmpty { rows.append(("failure reasons", countsText(failureReasons))) }
        return rows
    }
}
