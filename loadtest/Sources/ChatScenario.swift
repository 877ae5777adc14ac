// The chat scenario: P pairs of users, each pair in its own conversation,
// sending at a total rate; ack and delivery latency, persisted messages/s,
// errors and `overloaded` refusals (and how fast they come); then a check in
// SQL that every acked message is stored exactly once with gapless seqs.
// Before the traffic, the calibration (Calibration.swift) on the same
// cluster, and the ratio persisted/calibration after it.
import ArgumentParser
import Foundation
import Histogram
import SwitchboardPostgres

struct ChatScenario: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Pairs of users chatting at a total rate; ack/delivery latency, msgs/s, and a stored-exactly-once check.")
    @OptionGroup var target: TargetOptions
    @OptionGroup var calibration: CalibrationOptions
    @Option(help: "Pairs of users (one conversation each).") var pairs = 200
    @Option(help: "Messages per second, in total.") var rate = 5000.0
    @Option(help: "Seconds of sending.") var duration = 20.0
    @Option(help: "Worker processes.") var processes = 2
    @Option(help: "Connections per second while connecting, in total (0: all at once).") var ramp = 0.0
    @Option(
        name: .customLong("database-url"),
        help: "For the calibration and the final check (default: the embedded cluster in --data-dir).")
    var databaseURL: String?
    @Option(
        name: .customLong("acked-file"),
        help: "Also save the run's conversations, acks and refusals here, for `chat-verify` (e.g. after a hub restart).")
    var ackedFile: String?
    @OptionGroup var html: HTMLReportOptions

    func validate() throws {
        guard processes > 0, pairs >= processes, rate > 0, duration > 0, ramp >= 0, ramp <= 1_000_000 else {
            throw ValidationError("processes > 0, pairs ≥ processes, rate and duration > 0, ramp 0...1,000,000")
        }
    }

    func run() throws {
        let (secret, _) = try target.secrets()
        let calibrated = try calibration.measure { try target.database(databaseURL) }
        let run = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        let ledgers = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-chat-\(run)").path
        try FileManager.default.createDirectory(atPath: ledgers, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: ledgers) }
        let nodes = target.endpoints
        let workers = try (0..<processes).map { k -> GenericWorkerProcess<ChatWorkerReport> in
            let share = Coordinator.share(pairs, processes, k)
            let firstPair = (0..<k).map { Coordinator.share(pairs, processes, $0) }.reduce(0, +)
            return try GenericWorkerProcess<ChatWorkerReport>(
                subcommand: "chat-worker",
                arguments: [
                    "--targets", nodes.map(\.text).joined(separator: ","), "--first-pair", String(firstPair),
                    "--pairs", String(share),
                    "--rate", String(rate * Double(share) / Double(pairs)), "--duration", String(duration),
                    "--source", "127.0.0.\(2 + k % 250)", "--user-prefix", "chat-\(run)-\(k)", "--secret", secret,
                    "--ledger", "\(ledgers)/\(k)", "--ramp", String(ramp / Double(processes)),
                    // About 40 points over the run, 0.1 to 1 s each.
                    "--bucket-ms", String(Int(min(1000, max(100, duration * 1000 / 40)))),
                ])
        }
        var unused = 0
        let connectTime = ramp > 0 ? Double(2 * pairs) / ramp : 0
        guard Coordinator.wait(workers, timeout: 120 + connectTime, hub: nil, maxRSS: &unused, until: { $0.ready != nil }) else {
            for w in workers { w.stop() }
            throw ValidationError("workers did not get ready (connections or conversations failed)")
        }
        for w in workers { w.tell("GO") }
        // For scripts that act during the traffic (chat-kill9.sh).
        FileHandle.standardError.write(Data("chat: sending from \(ISO8601DateFormatter().string(from: Date()))\n".utf8))
        let startMicros = nowMicros()
        // A worker ends by itself when the hub goes away (its connections close).
        _ = Coordinator.wait(workers, timeout: duration + 60, hub: nil, maxRSS: &unused) { $0.done != nil }
        for w in workers { w.stop() }
        let reports = workers.compactMap(\.done)
        var ledger = ChatLedger()
        for k in 0..<processes {
            if let part = try? ChatLedger.read(from: "\(ledgers)/\(k)") { ledger.merge(part) }
        }
        if let ackedFile { try ledger.write(to: ackedFile) }
        var total = ChatWorkerReport()
        var perNode = Array(repeating: ChatNodeFigures(), count: nodes.count)
        for r in reports {
            if r.nodes.count == nodes.count { for i in perNode.indices { perNode[i].add(r.nodes[i]) } }
            total.ackTimeline.merge(r.ackTimeline)
            total.deliveryTimeline.merge(r.deliveryTimeline)
            total.ack.add(r.ack)
            total.delivery.add(r.delivery)
            total.refusal.add(r.refusal)
            total.errorCodes.merge(r.errorCodes, uniquingKeysWith: +)
            total.closeReasons.merge(r.closeReasons, uniquingKeysWith: +)
            total.sent += r.sent
            total.acked += r.acked
            total.delivered += r.delivered
            total.errors += r.errors
            total.overloaded += r.overloaded
            total.overloadedWithoutRetryAfter += r.overloadedWithoutRetryAfter
            total.unanswered += r.unanswered
            total.closed += r.closed
        }
        let first = reports.map(\.firstSendMicros).filter { $0 > 0 }.min() ?? 0
        let last = reports.map(\.lastAckMicros).max() ?? 0
        let persisted = Double(total.acked) / (Double(max(1, last - first)) / 1e6)
        let check = try ChatCheck.run(ledger, on: try target.database(databaseURL))
        var result = ChatResult(
            pairs: pairs, offeredPerSecond: rate, durationSeconds: duration, total: total, workersReported: reports.count,
            workers: processes, persistedPerSecond: persisted, calibration: calibrated, check: check)
        if nodes.count > 1 { result.nodes = nodes.indices.map { ChatNodeResult(target: nodes[$0].text, perNode[$0]) } }
        Report.print(title: "chat", rows: result.rows, result: result, json: target.json)
        if let path = html.path {
            try HTMLReport.write(
                title: "chat", rows: result.rows,
                series: [
                    HTMLReport.series("ack", total.ack, total.ackTimeline, start: startMicros),
                    HTMLReport.series("delivery", total.delivery, total.deliveryTimeline, start: startMicros),
                ], to: path)
        }
        if !check.passed || reports.count < processes { throw ExitCode(1) }
    }
}

/// The chat scenario's result: its table and its JSON.
struct ChatResult: Encodable {
    var scenario = "chat"
    var pairs: Int
    var offeredPerSecond: Double
    var durationSeconds: Double
    var sent, acked, delivered, errors, overloaded, unanswered, connectionsClosed: Int
    /// Refusals that carried no `retry_after` hint.
    var overloadedWithoutRetryAfter: Int
    var errorCodes: [String: Int]
    var workers: Int
    var workersReported: Int
    var persistedPerSecond: Double
    var ackMs, deliveryMs, refusalMs: Percentiles
    var calibrationRowsPerSecond: Nullable<Double>
    var calibrationSeconds: Nullable<Double>
    var calibrationAt: Nullable<String>
    var ratio: Nullable<Double>
    var exactlyOnce: Bool
    var ackedMissing, conversationsBad, stored, refusedStored: Int
    /// Each target's figures (only with several targets): acks by the
    /// sender's node, deliveries by the recipient's.
    var nodes: [ChatNodeResult]?

    enum CodingKeys: String, CodingKey {
        case scenario, pairs, offeredPerSecond = "offered_per_s", durationSeconds = "duration_s"
        case sent, acked, delivered, errors, overloaded, unanswered, connectionsClosed = "connections_closed"
        case overloadedWithoutRetryAfter = "overloaded_without_retry_after"
        case errorCodes = "error_codes", workers, workersReported = "workers_reported"
        case persistedPerSecond = "persisted_per_s", ackMs = "ack_ms", deliveryMs = "delivery_ms", refusalMs = "refusal_ms"
        case calibrationRowsPerSecond = "calibration_rows_per_s", calibrationSeconds = "calibration_s"
        case calibrationAt = "calibration_at", ratio, exactlyOnce = "exactly_once", ackedMissing = "acked_missing"
        case conversationsBad = "conversations_bad", stored, refusedStored = "refused_stored", nodes
    }

    private var closeReasons: [String: Int]
    private var checkText: String
    private var calibrationText: String

    init(
        pairs: Int, offeredPerSecond: Double, durationSeconds: Double, total: ChatWorkerReport, workersReported: Int,
        workers: Int, persistedPerSecond: Double, calibration: Calibration?, check: ChatCheck
    ) {
        self.pairs = pairs
        self.offeredPerSecond = offeredPerSecond
        self.durationSeconds = durationSeconds
        (sent, acked, delivered, errors, overloaded) = (total.sent, total.acked, total.delivered, total.errors, total.overloaded)
        (unanswered, connectionsClosed, errorCodes) = (total.unanswered, total.closed, total.errorCodes)
        closeReasons = total.closeReasons
        overloadedWithoutRetryAfter = total.overloadedWithoutRetryAfter
        (self.workers, self.workersReported) = (workers, workersReported)
        self.persistedPerSecond = rounded(persistedPerSecond)
        (ackMs, deliveryMs, refusalMs) = (Percentiles(total.ack), Percentiles(total.delivery), Percentiles(total.refusal))
        calibrationRowsPerSecond = Nullable(calibration.map { rounded($0.rowsPerSecond) })
        calibrationSeconds = Nullable(calibration.map { rounded($0.seconds) })
        calibrationAt = Nullable(calibration?.at)
        ratio = Nullable(calibration.map { rounded(persistedPerSecond / $0.rowsPerSecond, places: 4) })
        exactlyOnce = check.exactlyOnce
        (ackedMissing, conversationsBad, stored, refusedStored) =
            (check.ackedMissing, check.conversationsBad, check.stored, check.refusedStored)
        checkText = check.text
        calibrationText = calibration?.text ?? "skipped"
    }

    var rows: [(String, String)] {
        var rows: [(String, String)] = [
            ("pairs", String(pairs)), ("target rate (msg/s)", String(format: "%.0f", offeredPerSecond)),
            ("sent / acked / delivered", "\(sent) / \(acked) / \(delivered)"),
            ("errors", String(errors)),
            ("overloaded", overloaded > 0 ? "\(overloaded) (\(overloadedWithoutRetryAfter) without retry_after)" : "0"),
            ("persisted msg/s (first send → last ack)", String(format: "%.0f", persistedPerSecond)),
            ("ack p50 / p99 / p99.9 / max (ms)", ackMs.text()),
            ("delivery p50 / p99 / p99.9 / max (ms)", deliveryMs.text()),
            ("send → overloaded p50 / p99 / p99.9 / max (ms)", overloaded > 0 ? refusalMs.text() : "none refused"),
            ("calibration: PostgreSQL 1,000-row INSERT", calibrationText),
            ("ratio persisted / calibration", ratio.value.map { String(format: "%.3f", $0) } ?? "n/a"),
            ("stored exactly once, gapless", checkText),
            ("stored rows / refused yet stored", "\(stored) / \(refusedStored)"),
        ]
        if unanswered > 0 || connectionsClosed > 0 {
            rows.append(("unanswered sends / connections closed", "\(unanswered) / \(connectionsClosed)"))
        }
        if workersReported < workers { rows.append(("workers reported", "\(workersReported) of \(workers)")) }
        for node in nodes ?? [] {
            rows.append(
                (
                    "node \(node.target)",
                    "sent/acked \(node.sent)/\(node.acked), ack p50/p99 \(String(format: "%.2f / %.2f", node.ackMs.p50, node.ackMs.p99)) ms; "
                        + "delivered \(node.delivered), p50/p99 \(String(format: "%.2f / %.2f", node.deliveryMs.p50, node.deliveryMs.p99)) ms"
                ))
        }
        if !errorCodes.isEmpty { rows.append(("error codes", countsText(errorCodes))) }
        if !closeReasons.isEmpty { rows.append(("close reasons", countsText(closeReasons))) }
        return rows
    }

}

/// One target's share of a chat run (`nodes` in the JSON).
struct ChatNodeResult: Encodable {
    var target: String
    var sent, acked, delivered: Int
    var ackMs, deliveryMs: Percentiles

    enum CodingKeys: String, CodingKey {
        case target, sent, acked, delivered, ackMs = "ack_ms", deliveryMs = "delivery_ms"
    }

    init(target: String, _ figures: ChatNodeFigures) {
        self.target = target
        (sent, acked, delivered) = (figures.sent, figures.acked, figures.delivered)
        (ackMs, deliveryMs) = (Percentiles(figures.ack), Percentiles(figures.delivery))
    }
}
