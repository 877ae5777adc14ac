// The scenarios: connect (hold N authenticated connections) and fanout
// (publish to N subscribers of one channel and time every delivery).
import ArgumentParser
import Foundation
import Histogram

struct ConnectScenario: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Open N authenticated connections, hold them, report connect rate, failures and hub RSS.")
    @OptionGroup var target: TargetOptions
    @Option(help: "Connections in total.") var connections = 1000
    @Option(help: "Worker processes (each holds at most ~19,000).") var processes = 2
    @Option(help: "Connection attempts per second, in total.") var rate = 2000.0
    @Option(help: "Seconds to hold every connection open once all are up.") var hold = 10.0

    func validate() throws {
        guard connections > 0, processes > 0, rate > 0, hold >= 0 else { throw ValidationError("values must be positive") }
        guard connections / processes < 19_000 else { throw ValidationError("more processes: each may hold < 19,000") }
    }

    func run() throws {
        let (secret, _) = try target.secrets()
        // Found by its command line only with one target.
        let hub =
            target.endpoints.count == 1 || !target.hubPIDs.isEmpty ? HubProcessInfo.find(target.hubPIDs.first) : nil
        let baseline = hub?.rssKB()
        var maxRSS = baseline ?? 0
        let workers = try Coordinator.spawn(
            target: target, secret: secret, connections: connections, processes: processes,
            rate: rate, hold: hold, channel: nil)
        let connectTimeout = Double(connections) / rate + 60
        _ = Coordinator.wait(workers, timeout: connectTimeout, hub: hub, maxRSS: &maxRSS) { $0.ready != nil }
        let heldRSS = hub?.rssKB()
        _ = Coordinator.wait(workers, timeout: hold + 30, hub: hub, maxRSS: &maxRSS) { $0.done != nil }
        for w in workers { w.stop(); w.process.waitUntilExit() }
        let ready = workers.compactMap(\.ready)
        let done = workers.compactMap(\.done)
        let opened = ready.map(\.authenticated).reduce(0, +)
        let failed = connections - opened
        let closedDuringHold = done.map(\.closedEarly).reduce(0, +)
        let first = ready.map(\.firstAttemptMicros).min() ?? 0
        let last = ready.map(\.lastOpenMicros).max() ?? 0
        let seconds = Double(max(1, last - first)) / 1e6
        var reasons: [String: Int] = [:]
        for r in ready { for (k, v) in r.failureReasons { reasons[k, default: 0] += v } }
        var rows: [(String, String)] = [
            ("connections requested", String(connections)),
            ("opened and authenticated", String(opened)),
            ("failed", String(failed)),
            ("closed during hold", String(closedDuringHold)),
            ("held for (s)", String(format: "%.0f", hold)),
            ("connect time (s)", String(format: "%.2f", seconds)),
            ("connect rate (conn/s)", String(format: "%.0f", Double(opened) / seconds)),
        ]
        if let baseline, let heldRSS {
            rows += [
                ("hub RSS idle (MiB)", String(format: "%.1f", Double(baseline) / 1024)),
                ("hub RSS held (MiB)", String(format: "%.1f", Double(heldRSS) / 1024)),
                ("hub RSS max (MiB)", String(format: "%.1f", Double(maxRSS) / 1024)),
                ("RSS per connection (KB)", String(format: "%.2f", Double(heldRSS - baseline) / Double(max(1, opened)))),
            ]
        } else {
            rows.append(("hub RSS", "hub process not found (--hub-pid)"))
        }
        if !reasons.isEmpty { rows.append(("failure reasons", countsText(reasons))) }
        func mib(_ kb: Int?) -> Nullable<Double> { Nullable(kb.map { rounded(Double($0) / 1024) }) }
        let result = ConnectResult(
            connectionsRequested: connections, opened: opened, failed: failed, closedDuringHold: closedDuringHold,
            holdSeconds: hold, connectSeconds: rounded(seconds), connectPerSecond: rounded(Double(opened) / seconds),
            hubRSSIdleMiB: mib(baseline), hubRSSHeldMiB: mib(heldRSS), hubRSSMaxMiB: mib(baseline == nil ? nil : maxRSS),
            rssPerConnectionKB: Nullable(
                baseline.flatMap { b in heldRSS.map { rounded(Double($0 - b) / Double(max(1, opened))) } }),
            failureReasons: reasons)
        Report.print(title: "connect", rows: rows, result: result, json: target.json)
        if failed > 0 || closedDuringHold > 0 { throw ExitCode(1) }
    }
}

struct FanoutScenario: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "Subscribe N connections to one channel, publish M times, report delivery latency and deliveries/s.")
    @OptionGroup var target: TargetOptions
    @Option(help: "Subscribers in total.") var subscribers = 1000
    @Option(help: "Publications.") var publishes = 20
    @Option(help: "Publications per second.") var rate = 2.0
    @Option(help: "Worker processes.") var processes = 2
    @Option(
        name: [.customLong("connect-rate"), .customLong("ramp")],
        help: "Connection attempts per second while setting up (the ramp).")
    var connectRate = 3000.0
    @OptionGroup var html: HTMLReportOptions

    func validate() throws {
        guard subscribers > 0, publishes > 0, rate > 0, processes > 0, connectRate > 0, connectRate <= 1_000_000 else {
            throw ValidationError("subscribers, publishes, rate, processes > 0; connect rate 0...1,000,000")
        }
    }

    func run() throws {
        let (secret, apiKey) = try target.secrets()
        let nodes = target.endpoints
        let channel = "topic:fanout-" + String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        var maxRSS = 0
        let workers = try Coordinator.spawn(
            target: target, secret: secret, connections: subscribers, processes: processes,
            rate: connectRate, hold: 0, channel: channel,
            // About 40 points over the publications, 0.1 to 1 s each.
            bucketMs: Int(min(1000, max(100, Double(publishes) / rate * 1000 / 40))))
        guard
            Coordinator.wait(
                workers, timeout: Double(subscribers) / connectRate + 60, hub: nil, maxRSS: &maxRSS, until: { $0.ready != nil })
        else {
            for w in workers { w.stop() }
            throw ValidationError("subscribers did not all connect and subscribe")
        }
        let subscribed = workers.compactMap(\.ready).map(\.opened).reduce(0, +)
        let via = target.publisher
        let publisher = try Publisher(host: via.host, port: via.port, apiKey: apiKey)
        // The hub's CPU while it publishes (connection set-up excluded).
        // The first --hub-pid; found by its command line only with one target.
        let hub = nodes.count == 1 || !target.hubPIDs.isEmpty ? HubProcessInfo.find(target.hubPIDs.first) : nil
        let cpuBefore = hub?.cpuSeconds()
        let start = Date()
        let startMicros = nowMicros()
        var accepted = 0
        for k in 0..<publishes {
            let due = start.addingTimeInterval(Double(k) / rate)
            if due > Date() { Thread.sleep(until: due) }
            if try publisher.publish(channel: channel, data: #"{"seq":\#(k),"sent_us":\#(nowMicros())}"#) { accepted += 1 }
        }
        // Let the last deliveries arrive, then collect.
        let expected = subscribed * publishes
        let deadline = Date().addingTimeInterval(30)
        Thread.sleep(forTimeInterval: 1)
        let cpuAfter = hub?.cpuSeconds()
        for w in workers { w.stop() }
        _ = Coordinator.wait(workers, timeout: deadline.timeIntervalSinceNow, hub: nil, maxRSS: &maxRSS) { $0.done != nil }
        let done = workers.compactMap(\.done)
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        var fromHub = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        var timeline = LatencyTimeline()
        for d in done { latency.add(d.latency); fromHub.add(d.hubLatency); timeline.merge(d.timeline) }
        let deliveries = done.map(\.deliveries).reduce(0, +)
        let first = done.map(\.firstDeliveryMicros).filter { $0 > 0 }.min() ?? 0
        let last = done.map(\.lastDeliveryMicros).max() ?? 0
        let span = Double(max(1, last - first)) / 1e6
        func ms(_ p: Double) -> String { String(format: "%.2f", Double(latency.valueAtPercentile(p)) / 1000) }
        var rows: [(String, String)] = [
            ("subscribers", String(subscribed)),
            ("publications accepted", "\(accepted)/\(publishes)"),
            ("deliveries", "\(deliveries)/\(expected)"),
            ("latency p50 (ms)", ms(50)), ("latency p99 (ms)", ms(99)), ("latency p99.9 (ms)", ms(99.9)),
            ("latency max (ms)", String(format: "%.2f", Double(latency.max) / 1000)),
            (
                "from hub encode p50 / p99 (ms)",
                String(
                    format: "%.2f / %.2f", Double(fromHub.valueAtPercentile(50)) / 1000,
                    Double(fromHub.valueAtPercentile(99)) / 1000)
            ),
            ("deliveries/s (first→last delivery)", String(format: "%.0f", Double(deliveries) / span)),
            ("hub CPU while publishing (s)", cpuBefore.flatMap { b in cpuAfter.map { String(format: "%.3f", $0 - b) } } ?? "n/a"),
        ]
        let perNode = NodeResult.merge(
            nodes, requested: subscribers, ready: workers.compactMap(\.ready), done: done, publications: publishes)
        if nodes.count > 1 {
            rows.append(("publications via", via.text))
            rows += perNode.map(\.row)
        }
        var result = FanoutResult(
            subscribers: subscribed, publications: publishes, publicationsAccepted: accepted, deliveries: deliveries,
            expectedDeliveries: expected, deliveryMs: Percentiles(latency), hubEncodeMs: Percentiles(fromHub),
            deliveriesPerSecond: rounded(Double(deliveries) / span),
            hubCPUSeconds: Nullable(cpuBefore.flatMap { b in cpuAfter.map { rounded($0 - b) } }))
        if nodes.count > 1 { result.nodes = perNode }
        Report.print(title: "fanout", rows: rows, result: result, json: target.json)
        if let path = html.path {
            try HTMLReport.write(
                title: "fanout", rows: rows, series: [HTMLReport.series("delivery", latency, timeline, start: startMicros)],
                to: path)
        }
        if deliveries < expected { throw ExitCode(1) }
    }
}

/// `connect --json`.
struct ConnectResult: Encodable {
    var scenario = "connect"
    var connectionsRequested, opened, failed, closedDuringHold: Int
    var holdSeconds, connectSeconds, connectPerSecond: Double
    var hubRSSIdleMiB, hubRSSHeldMiB, hubRSSMaxMiB, rssPerConnectionKB: Nullable<Double>
    var failureReasons: [String: Int]

    enum CodingKeys: String, CodingKey {
        case scenario, connectionsRequested = "connections_requested", opened, failed, closedDuringHold = "closed_during_hold"
        case holdSeconds = "hold_s", connectSeconds = "connect_s", connectPerSecond = "connect_per_s"
        case hubRSSIdleMiB = "hub_rss_idle_mib", hubRSSHeldMiB = "hub_rss_held_mib", hubRSSMaxMiB = "hub_rss_max_mib"
        case rssPerConnectionKB = "rss_per_connection_kb", failureReasons = "failure_reasons"
    }
}

/// `fanout --json`.
struct FanoutResult: Encodable {
    var scenario = "fanout"
    var subscribers, publications, publicationsAccepted, deliveries, expectedDeliveries: Int
    /// From the publisher's clock in the data to the subscriber reading it.
    var deliveryMs: Percentiles
    /// From the hub encoding the publication (its `ts`) to the subscriber.
    var hubEncodeMs: Percentiles
    var deliveriesPerSecond: Double
    var hubCPUSeconds: Nullable<Double>
    /// Each target's figures (only with several targets).
    var nodes: [NodeResult]?

    enum CodingKeys: String, CodingKey {
        case scenario, subscribers, publications, publicationsAccepted = "publications_accepted", deliveries
        case expectedDeliveries = "expected_deliveries", deliveryMs = "delivery_ms", hubEncodeMs = "hub_encode_ms"
        case deliveriesPerSecond = "deliveries_per_s", hubCPUSeconds = "hub_cpu_s", nodes
    }
}
