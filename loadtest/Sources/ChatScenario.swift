// The chat scenario: P pairs of users, each pair in its own conversation,
// sending at a total rate; ack and delivery latency, persisted messages/s,
// errors; then a check in SQL that every acked message is stored exactly
// once with gapless seqs.
import ArgumentParser
import Foundation
import Histogram
import SwitchboardPostgres

struct ChatScenario: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Pairs of users chatting at a total rate; ack/delivery latency, msgs/s, and a stored-exactly-once check.")
    @OptionGroup var target: TargetOptions
    @Option(help: "Pairs of users (one conversation each).") var pairs = 200
    @Option(help: "Messages per second, in total.") var rate = 5000.0
    @Option(help: "Seconds of sending.") var duration = 20.0
    @Option(help: "Worker processes.") var processes = 2
    @Option(name: .customLong("database-url"), help: "For the final check (default: the embedded cluster in --data-dir).")
    var databaseURL: String?

    func run() throws {
        let (secret, _) = try target.secrets()
        let run = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        let workers = try (0..<processes).map { k -> GenericWorkerProcess<ChatWorkerReport> in
            let share = pairs / processes + (k < pairs % processes ? 1 : 0)
            return try GenericWorkerProcess<ChatWorkerReport>(
                subcommand: "chat-worker",
                arguments: [
                    "--host", target.host, "--port", String(target.port), "--pairs", String(share),
                    "--rate", String(rate * Double(share) / Double(pairs)), "--duration", String(duration),
                    "--source", "127.0.0.\(2 + k % 250)", "--user-prefix", "chat-\(run)-\(k)", "--secret", secret,
                ])
        }
        var unused = 0
        guard Coordinator.wait(workers, timeout: 120, hub: nil, maxRSS: &unused, until: { $0.ready != nil }) else {
            for w in workers { w.stop() }
            throw ValidationError("workers did not get ready (connections or conversations failed)")
        }
        for w in workers { w.tell("GO") }
        _ = Coordinator.wait(workers, timeout: duration + 60, hub: nil, maxRSS: &unused) { $0.done != nil }
        for w in workers { w.stop() }
        let reports = workers.compactMap(\.done)
        var ack = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        var delivery = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        var perConversation: [String: Int] = [:]
        var codes: [String: Int] = [:]
        for r in reports {
            ack.add(r.ack)
            delivery.add(r.delivery)
            perConversation.merge(r.ackedPerConversation, uniquingKeysWith: +)
            codes.merge(r.errorCodes, uniquingKeysWith: +)
        }
        let sent = reports.map(\.sent).reduce(0, +), acked = reports.map(\.acked).reduce(0, +)
        let delivered = reports.map(\.delivered).reduce(0, +), errors = reports.map(\.errors).reduce(0, +)
        let first = reports.map(\.firstSendMicros).filter { $0 > 0 }.min() ?? 0
        let last = reports.map(\.lastAckMicros).max() ?? 0
        let seconds = Double(max(1, last - first)) / 1e6
        let check = try verify(perConversation)
        func ms(_ h: Histogram<UInt64>, _ p: Double) -> String { String(format: "%.2f", Double(h.valueAtPercentile(p)) / 1000) }
        var rows: [(String, String)] = [
            ("pairs", String(pairs)), ("target rate (msg/s)", String(format: "%.0f", rate)),
            ("sent / acked / delivered", "\(sent) / \(acked) / \(delivered)"),
            ("errors", String(errors)),
            ("persisted msg/s (first send → last ack)", String(format: "%.0f", Double(acked) / seconds)),
            (
                "ack p50 / p99 / p99.9 / max (ms)",
                "\(ms(ack, 50)) / \(ms(ack, 99)) / \(ms(ack, 99.9)) / " + String(format: "%.2f", Double(ack.max) / 1000)
            ),
            (
                "delivery p50 / p99 / p99.9 / max (ms)",
                "\(ms(delivery, 50)) / \(ms(delivery, 99)) / \(ms(delivery, 99.9)) / "
                    + String(format: "%.2f", Double(delivery.max) / 1000)
            ),
            ("stored exactly once, gapless", check),
        ]
        if !codes.isEmpty { rows.append(("error codes", codes.map { "\($0.key)×\($0.value)" }.joined(separator: "; "))) }
        Report.print(title: "chat", rows: rows, json: target.json)
        if check != "yes" { throw ExitCode(1) }
    }

    /// For every conversation: seqs 1...n (gapless), client ids unique, and
    /// at least every acked message stored (equal when nothing failed: a
    /// send whose connection broke may be stored without its ack arriving).
    private func verify(_ acked: [String: Int]) throws -> String {
        let conn = try target.database(databaseURL)
        var bad = 0
        for (conversation, count) in acked {
            let row =
                try conn.execute(
                    "SELECT count(*), coalesce(max(seq), 0), count(DISTINCT client_msg_id) FROM messages WHERE conversation_id = $1",
                    [conversation]
                ).first ?? []
            guard let stored = row.first.flatMap({ $0.flatMap { Int($0) } }), row.count == 3 else { bad += 1; continue }
            if row[1] != String(stored) || row[2] != String(stored) || stored < count { bad += 1 }
        }
        return bad == 0 ? "yes" : "NO: \(bad) of \(acked.count) conversations differ"
    }
}
