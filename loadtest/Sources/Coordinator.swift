// Spawns worker processes, waits for READY/DONE lines, samples the hub's RSS.
import Foundation

/// A worker process speaking READY/DONE lines with a JSON report.
final class GenericWorkerProcess<Report: Decodable> {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    private var buffer = Data()
    private(set) var ready: Report?
    private(set) var done: Report?

    init(subcommand: String = "worker", arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = [subcommand] + arguments
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    /// Reads whatever arrived; non-blocking.
    func poll() {
        let fd = output.fileHandleForReading.fileDescriptor
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while Glibc.poll(&pfd, 1, 0) > 0 {
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            buffer.append(contentsOf: chunk[0..<n])
        }
        while let newline = buffer.firstIndex(of: 0x0A) {
            let line = buffer[buffer.startIndex..<newline]
            buffer.removeSubrange(buffer.startIndex...newline)
            guard let space = line.firstIndex(of: 0x20) else { continue }
            let tag = String(decoding: line[line.startIndex..<space], as: UTF8.self)
            let report = try? JSONDecoder().decode(Report.self, from: Data(line[(space + 1)...]))
            if tag == "READY" { ready = report }
            if tag == "DONE" { done = report }
        }
    }

    func stop() { tell("STOP") }

    /// Writes a command line to the worker's stdin.
    func tell(_ line: String) {
        try? input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }
}

typealias WorkerProcess = GenericWorkerProcess<WorkerReport>

enum Coordinator {
    /// Starts `processes` workers sharing `connections` and `rate`.
    /// Starts the workers. With `distinctUsers`, connection i of worker k is
    /// user `load-<run>-<k>-<i>` (see `users`); otherwise users share connections.
    /// Connections go round-robin over the targets (connection i of the
    /// whole run to target i % count); `bucketMs` is the timeline's bucket.
    static func spawn(
        target: TargetOptions, secret: String, connections: Int, processes: Int, rate: Double,
        hold: Double, channel: String?, run: String = String(UInt32.random(in: 0..<UInt32.max), radix: 36),
        distinctUsers: Bool = false, bucketMs: Int = 1000
    ) throws -> [WorkerProcess] {
        let targets = target.endpoints.map(\.text).joined(separator: ",")
        return try (0..<processes).map { k in
            let first = (0..<k).map { share(connections, processes, $0) }.reduce(0, +)
            var args = [
                "--targets", targets, "--first-index", String(first),
                "--connections", String(share(connections, processes, k)),
                "--rate", String(rate / Double(processes)), "--source", "127.0.0.\(2 + k % 250)",
                "--user-prefix", "load-\(run)-\(k)", "--secret", secret, "--hold", String(hold),
                "--bucket-ms", String(bucketMs),
            ]
            if let channel { args += ["--channel", channel] }
            if distinctUsers { args.append("--distinct-users") }
            return try WorkerProcess(arguments: args)
        }
    }

    /// The user ids of a `distinctUsers` spawn.
    static func users(run: String, connections: Int, processes: Int) -> [String] {
        (0..<processes).flatMap { k in (0..<share(connections, processes, k)).map { "load-\(run)-\(k)-\($0)" } }
    }

    static func share(_ total: Int, _ processes: Int, _ k: Int) -> Int {
        total / processes + (k < total % processes ? 1 : 0)
    }

    /// Waits until every worker reported `keyPath`, sampling RSS; false on timeout.
    static func wait<R>(
        _ workers: [GenericWorkerProcess<R>], timeout: TimeInterval, hub: HubProcessInfo?, maxRSS: inout Int,
        until condition: (GenericWorkerProcess<R>) -> Bool
    ) -> Bool {
        wait(workers, timeout: timeout, hubs: hub.map { [$0] } ?? [], maxRSS: &maxRSS, until: condition)
    }

    /// The same, with `maxRSS` the largest total RSS of `hubs`.
    static func wait<R>(
        _ workers: [GenericWorkerProcess<R>], timeout: TimeInterval, hubs: [HubProcessInfo], maxRSS: inout Int,
        until condition: (GenericWorkerProcess<R>) -> Bool
    ) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            for w in workers { w.poll() }
            let rss = hubs.compactMap { $0.rssKB() }
            if !rss.isEmpty && rss.count == hubs.count { maxRSS = max(maxRSS, rss.reduce(0, +)) }
            if workers.allSatisfy(condition) { return true }
            if workers.contains(where: { !$0.process.isRunning && !condition($0) }) {
                for w in workers { w.poll() }
                if workers.allSatisfy(condition) { return true }
                return false
            }
            usleep(50_000)
        }
        return false
    }
}

/// The hub process, for its memory.
struct HubProcessInfo {
    let pid: Int32

    static func find(_ explicit: Int32?) -> HubProcessInfo? {
        if let explicit { return HubProcessInfo(pid: explicit) }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), pid != getpid(),
                let cmd = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline"))
            else { continue }
            let args = cmd.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if let first = args.first, first.hasSuffix("/switchboard") || first == "switchboard", args.contains("serve") {
                return HubProcessInfo(pid: pid)
            }
        }
        return nil
    }

    /// CPU time (user + system) the hub has used, in seconds.
    func cpuSeconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3; utime, stime are 14, 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func rssKB() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "")
        }
        return nil
    }
}
