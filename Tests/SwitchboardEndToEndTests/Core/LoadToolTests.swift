// The load tool against real hubs: connections spread over two nodes with
// per-node figures, and its `--report` page rendered by headless Chromium
// (Browser, BrowserTests.swift) with every plotted point counted.
import Foundation
import Testing

/// Runs the built `switchboard-load` (next to `switchboard`) and returns its
/// exit status and stdout; stopped after `timeout` seconds.
func runLoadTool(_ arguments: [String], timeout: TimeInterval = 60) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: HubProcess.binary + "-load")
    process.arguments =
        arguments + ["--jwt-secret", HubProcess.secret, "--api-key", HubProcess.apiKey, "--json"]
    let output = NSTemporaryDirectory() + "sb-load-out-" + UUID().uuidString.prefix(8)
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: output) }
    process.standardOutput = FileHandle(forWritingAtPath: output)
    process.standardError = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(50_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    return (process.terminationStatus, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
}

/// The JSON object the tool printed last.
func loadToolJSON(_ output: String) -> [String: Any]? {
    guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else { return nil }
    return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
}

@Suite(.serialized) struct LoadToolTests {
    /// The page's embedded data and what the browser drew from it, for one series.
    func drawn(_ page: BrowserPage, _ series: String) throws -> [String: Int] {
        let js = """
            (() => {
              const data = JSON.parse(document.getElementById('report-data').textContent);
              const s = data.series.find(s => s.name === '\(series)');
              const q = sel => document.querySelectorAll(`svg.${sel}[data-series="\(series)"] circle`).length;
              const q1 = (sel, cls) => document.querySelectorAll(`svg.${sel}[data-series="\(series)"] circle.${cls}`).length;
              return {buckets: s.over_time.length, measured: s.over_time.reduce((a, p) => a + p.count, 0), count: s.count,
                      p50: q1('over-time', 'p50'), p99: q1('over-time', 'p99'), max: q1('over-time', 'max'),
                      percentiles: q('percentiles'), percentileData: s.percentiles.length,
                      lastSecond: Math.ceil(Math.max(0, ...s.over_time.map(p => p.t)))};
            })()
            """
        return try page.evaluate(js) as? [String: Int] ?? [:]
    }

    @Test func fanoutReportRendersInChromiumWithEveryPoint() throws {
        let hub = try HubProcess()
        let report = NSTemporaryDirectory() + "sb-fanout-\(UUID().uuidString.prefix(8)).html"
        defer { try? FileManager.default.removeItem(atPath: report) }
        let run = try runLoadTool([
            "fanout", "--port", String(hub.port), "--subscribers", "20", "--publishes", "6", "--rate", "4",
            "--processes", "1", "--report", report,
        ])
        let json = loadToolJSON(run.output)
        #expect(run.status == 0, "\(run.output)")
        #expect(json?["deliveries"] as? Int == 120)
        #expect(json?["nodes"] == nil, "one target: the JSON keeps its keys")

        let browser = try Browser()
        let page = try browser.open("file://" + report)
        #expect(page.wait(for: "document.body.dataset.rendered", toBe: "true", timeout: 15) != nil)
        let d = try drawn(page, "delivery")
        // Every delivery in the over-time data; one point per bucket and
        // percentile, as many as the data has.
        #expect(d["measured"] == 120 && d["count"] == 120)
        #expect((d["buckets"] ?? 0) >= 1)
        #expect(d["p50"] == d["buckets"] && d["p99"] == d["buckets"] && d["max"] == d["buckets"])
        #expect(d["percentiles"] == 11 && d["percentileData"] == 11)
        // Seconds since the first publication: the run lasts about 1.5 s.
        #expect((d["lastSecond"] ?? 999) <= 30, "time axis: \(d)")
        try? FileManager.default.createDirectory(atPath: buildFolder, withIntermediateDirectories: true)
        try page.screenshot(to: buildFolder + "/load-report-fanout.png")
    }

    @Test func chatReportPlotsAcksAndDeliveries() throws {
        let hub = try HubProcess()
        let report = NSTemporaryDirectory() + "sb-chat-\(UUID().uuidString.prefix(8)).html"
        defer { try? FileManager.default.removeItem(atPath: report) }
        let run = try runLoadTool([
            "chat", "--port", String(hub.port), "--pairs", "4", "--rate", "40", "--duration", "2", "--processes", "1",
            "--calibration-seconds", "0", "--database-url", TestDatabase.conninfo, "--report", report,
        ])
        let json = try #require(loadToolJSON(run.output), "\(run.output)")
        let acked = try #require(json["acked"] as? Int)
        #expect(acked > 0 && json["exactly_once"] as? Bool == true)
        #expect(json["nodes"] == nil, "one target: the JSON keeps its keys")

        let browser = try Browser()
        let page = try browser.open("file://" + report)
        #expect(page.wait(for: "document.body.dataset.rendered", toBe: "true", timeout: 15) != nil)
        let ack = try drawn(page, "ack"), delivery = try drawn(page, "delivery")
        #expect(ack["measured"] == acked && delivery["measured"] == json["delivered"] as? Int)
        for d in [ack, delivery] {
            #expect((d["buckets"] ?? 0) >= 1 && d["p99"] == d["buckets"] && d["percentiles"] == 11)
            #expect((d["lastSecond"] ?? 999) <= 30, "time axis: \(d)")
        }
    }

    @Test func connectionsSpreadOverTwoNodesWithPerNodeFiguresAndAReport() throws {
        // Two plain hubs on one database: without a broker a publication
        // reaches only the node that took it.
        let a = try HubProcess(), b = try HubProcess()
        let report = NSTemporaryDirectory() + "sb-connections-\(UUID().uuidString.prefix(8)).html"
        defer { try? FileManager.default.removeItem(atPath: report) }
        let channel = "topic:" + uniqueUser("load")
        let run = try runLoadTool([
            "connections", "--target", "127.0.0.1:\(a.port)", "--target", "127.0.0.1:\(b.port)", "--connections", "41",
            "--processes", "2", "--ramp", "200", "--hold", "1", "--subscribe", channel,
            "--hub-pid", String(a.process.processIdentifier), "--hub-pid", String(b.process.processIdentifier),
            "--report", report,
        ])
        let json = try #require(loadToolJSON(run.output), "\(run.output)")
        #expect(json["opened"] as? Int == 41)
        #expect(json["failed"] as? Int == 0 && json["dropped"] as? Int == 0)
        #expect(json["hubs"] as? Int == 2)
        #expect(json["hub_rss_held_mib"] is Double)
        let nodes = json["nodes"] as? [[String: Any]] ?? []
        #expect(nodes.map { $0["target"] as? String } == ["127.0.0.1:\(a.port)", "127.0.0.1:\(b.port)"])
        // Round-robin: 21 and 20.
        #expect(nodes.map { $0["opened"] as? Int } == [21, 20])
        // KNOWN ISSUE (issue 13's closing note): in about one run in three
        // one worker's deliveries on the publishing node are missing from
        // the report (10 or 11 of 21, with or without load); not found yet.
        withKnownIssue("one worker's deliveries sometimes missing from the report", isIntermittent: true) {
            #expect(nodes.first?["deliveries"] as? Int == 21, "the publishing node's subscribers all received it")
        }
        #expect(json["received"] as? Int == nodes.compactMap { $0["deliveries"] as? Int }.reduce(0, +))

        let browser = try Browser()
        let page = try browser.open("file://" + report)
        #expect(page.wait(for: "document.body.dataset.rendered", toBe: "true", timeout: 15) != nil)
        let d = try drawn(page, "delivery")
        #expect(d["measured"] == json["received"] as? Int)
        #expect((d["buckets"] ?? 0) >= 1 && d["p99"] == d["buckets"])
        #expect(d["percentiles"] == 11)
        #expect((d["lastSecond"] ?? 999) <= 30, "time axis: \(d)")
        let rows = try page.evaluate("document.querySelectorAll('#summary tr').length") as? Int
        #expect((rows ?? 0) >= 10, "the summary table, per-node lines included")
    }
}
