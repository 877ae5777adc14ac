// A worker process: opens its share of connections through one lws client
// context, optionally subscribes them to a channel, records delivery
// latencies, and reports on stdout (READY, then one DONE line of JSON).
import ArgumentParser
import Foundation
import Histogram
import SwitchboardAuth
import SwitchboardWire

struct WorkerReport: Codable {
    var opened = 0
    var authenticated = 0
    var failed = 0
    var closedEarly = 0
    var firstAttemptMicros: Int64 = 0
    var lastOpenMicros: Int64 = 0
    var deliveries = 0
    var firstDeliveryMicros: Int64 = 0
    var lastDeliveryMicros: Int64 = 0
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000)
    /// From the hub encoding the publication (its `ts`) to this worker reading it.
    var hubLatency = Histogram<UInt64>(highestTrackableValue: 60_000_000)
    var failureReasons: [String: Int] = [:]
    /// The same figures for each target, in the order of `--targets`.
    var nodes: [NodeFigures] = []
    /// Delivery latency by the time it was measured (the HTML report).
    var timeline = LatencyTimeline()
}

/// One node's share of a worker's figures.
struct NodeFigures: Codable {
    var opened = 0
    var authenticated = 0
    var failed = 0
    var closedEarly = 0
    var deliveries = 0
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000)

    /// Adds another worker's figures for the same node.
    mutating func add(_ other: NodeFigures) {
        opened += other.opened
        authenticated += other.authenticated
        failed += other.failed
        closedEarly += other.closedEarly
        deliveries += other.deliveries
        latency.add(other.latency)
    }
}

func nowMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "(internal) one load process.", shouldDisplay: false)
    @Option(help: "Comma list of host:port: connection i goes to target (first-index + i) % count.") var targets: String
    @Option var firstIndex = 0
    @Option var connections: Int
    @Option var rate: Double
    @Option var source: String
    @Option var userPrefix: String
    @Option var secret: String
    @Option var channel: String?
    @Option var hold: Double = 0
    @Option var bucketMs = 1000
    @Flag var distinctUsers = false

    func run() throws {
        let worker = try LoadWorker(self)
        worker.run()
    }
}

final class LoadWorker: LWSClientDelegate {
    let options: WorkerCommand
    let pool: LWSClientPool
    var report = WorkerReport()
    var attempted = 0
    var resolved = 0
    var subscribed = 0
    var ready = false
    var tokens: [String] = []
    let targets: [Endpoint]

    init(_ options: WorkerCommand) throws {
        self.options = options
        targets = try Endpoint.parseList(options.targets)
        guard !targets.isEmpty, options.firstIndex >= 0 else { throw ExitCode(2) }
        pool = try LWSClientPool()
        pool.delegate = self
        report.nodes = Array(repeating: NodeFigures(), count: targets.count)
        report.timeline = LatencyTimeline(bucketMicros: Int64(max(1, min(options.bucketMs, 3_600_000))) * 1000)
        let now = Int64(Date().timeIntervalSince1970)
        let secret = Array(options.secret.utf8)
        // Users are shared by a few connections so per-user fan-out is
        // exercised too, unless every connection is to be its own user.
        tokens = (0..<max(1, options.distinctUsers ? options.connections : options.connections / 4)).map {
            JWTSigner.hs256(Claims(subject: "\(options.userPrefix)-\($0)", expiresAt: now + 3600), secret: secret)
        }
    }

    func run() {
        let waker = pool.waker
        // Wakes the loop for connect pacing and the stop check; rarely, because
        // every wake costs a poll() over all of this worker's sockets.
        Thread { while true { usleep(100_000); waker.wake() } }.start()
        // The coordinator writes STOP (or closes stdin) when it is done.
        let commands = StdinCommands.start()
        let start = Date()
        report.firstAttemptMicros = nowMicros()
        var holdUntil: Date?
        while true {
            let elapsed = Date().timeIntervalSince(start)
            let due = min(options.connections, Int(elapsed * options.rate) + 1)
            while attempted < due {
                let path = "/?token=" + tokens[attempted % tokens.count]
                let to = targets[node(attempted)]
                if !pool.connect(id: attempted, host: to.host, port: to.port, path: path, sourceAddress: options.source) {
                    report.failed += 1
                    report.nodes[node(attempted)].failed += 1
                    resolved += 1
                }
                attempted += 1
            }
            pool.service()
            let settled =
                resolved == options.connections && report.authenticated == report.opened
                && (options.channel == nil || subscribed == report.opened)
            if settled && !ready {
                ready = true
                emit("READY", report)
                if options.hold > 0 { holdUntil = Date().addingTimeInterval(options.hold) }
            }
            if commands.latest == "STOP" || (holdUntil.map { Date() >= $0 } ?? false) { break }
        }
        emit("DONE", report)
        exit(0)
    }

    func emit(_ tag: String, _ report: WorkerReport) {
        let data = (try? JSONEncoder().encode(report)) ?? Data()
        writeReportLine(Data((tag + " ").utf8) + data + Data("\n".utf8))
    }

    /// The target of connection `id`: round-robin over the targets.
    func node(_ id: Int) -> Int { (options.firstIndex % targets.count + id % targets.count) % targets.count }

    /// Counts a delivery of `latency` µs read at `now` on connection `id`.
    func delivered(_ id: Int, latency: UInt64, at now: Int64) {
        _ = report.latency.record(latency)
        _ = report.nodes[node(id)].latency.record(latency)
        report.timeline.record(latency, at: now)
        if report.deliveries == 0 { report.firstDeliveryMicros = now }
        report.deliveries += 1
        report.nodes[node(id)].deliveries += 1
        report.lastDeliveryMicros = now
    }

    func clientOpened(_ id: Int) {
        report.opened += 1
        report.nodes[node(id)].opened += 1
        resolved += 1
        if let channel = options.channel {
            pool.send(id, text: #"{"type":"subscribe","id":"s","channel":"\#(channel)"}"#)
        }
    }

    func clientReceived(_ id: Int, _ message: UnsafeRawBufferPointer) {
        let now = nowMicros()
        // Cheap pre-checks before parsing: most frames are publications.
        guard let json = try? JSON.parse(message), let type = json["type"]?.stringValue else { return }
        switch type {
        case "publication":
            if let sent = json["data"]?["sent_us"]?.intValue {
                // `ts`: when the hub published it, in ms (protocol revision 2).
                if let ts = json["ts"]?.intValue { _ = report.hubLatency.record(UInt64(max(0, now - ts * 1000))) }
                delivered(id, latency: UInt64(max(0, now - sent)), at: now)
            }
        case "notification":
            // From the notification's created_at (the committing
            // transaction's start, so an upper bound of commit → delivery).
            if let created = json["created_at"]?.intValue {
                delivered(id, latency: UInt64(max(0, now - created * 1000)), at: now)
            }
        case "subscribed":
            subscribed += 1
        case "welcome":
            report.authenticated += 1
            report.nodes[node(id)].authenticated += 1
            report.lastOpenMicros = now
        default:
            break
        }
    }

    func clientClosed(_ id: Int, failed: Bool, reason: String) {
        if failed {
            report.failed += 1
            report.nodes[node(id)].failed += 1
            report.failureReasons[String(reason.prefix(60)), default: 0] += 1
            resolved += 1
        } else {
            report.closedEarly += 1
            report.failureReasons["dropped: " + String(reason.prefix(52)), default: 0] += 1
            report.opened -= 1
            report.nodes[node(id)].closedEarly += 1
            report.nodes[node(id)].opened -= 1
        }
    }
}
