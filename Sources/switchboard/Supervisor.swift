// `switchboard serve --workers N`: one process per core on one port. The
// supervisor (the process started by the user) runs N hub processes of its own
// binary with the same arguments, each listening with SO_REUSEPORT
// (`--listen-share`), so that the kernel spreads new connections among them.
// It serves nothing itself: it prepares what the workers must share (the port
// when 0 was asked for, the embedded PostgreSQL, the development secrets),
// writes --ready-file once every worker listens, restarts a worker that dies,
// and on SIGTERM/SIGINT stops them all and exits with their status.
import ArgumentParser
import Foundation
import Logging
import SwitchboardPostgres
#if canImport(Glibc)
import Glibc
#endif

/// Options of `serve` for several processes on one port.
struct WorkerOptions: ParsableArguments {
    @Option(
        name: .customLong("workers"),
        help:
            "Hub processes to run on this machine, all on one port (SO_REUSEPORT); more than 1 needs --broker postgres or redis. 1...64. Env SWITCHBOARD_WORKERS."
    )
    var workers: Int = Env.int("SWITCHBOARD_WORKERS", 1)
    @Flag(
        name: .customLong("listen-share"),
        help:
            "Listen with SO_REUSEPORT, so that other switchboard processes may serve the same port (--workers sets it for its workers). Env SWITCHBOARD_LISTEN_SHARE=1."
    )
    var listenShare: Bool = Env.bool("SWITCHBOARD_LISTEN_SHARE")

    func validate() throws {
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be 1...64") }
    }
}

/// Runs and watches the worker processes of `serve --workers N`.
final class Supervisor {
    /// Set in every worker's environment: the supervisor's pid.
    static let parentVariable = "SWITCHBOARD_SUPERVISOR_PID"
    /// Options the supervisor sets for each worker itself.
    static let replacedOptions: Set<String> = ["--workers", "--port", "--ready-file", "--node-name"]

    /// Called by `serve` first thing: with --workers above 1 this process
    /// becomes the supervisor and never returns; in a worker it starts the
    /// watch that stops the worker when its supervisor is gone.
    static func takeOver(_ serve: Serve) throws {
        if serve.workerOptions.workers > 1 {
            let supervisor = try Supervisor(serve)
            supervisor.run()
        }
        if let parent = Env.string(parentVariable).flatMap({ pid_t($0) }) { stopWhenOrphaned(supervisor: parent) }
    }

    private let serve: Serve
    private let count: Int
    private let logger: Logger
    private let signals: sigset_t
    private var port = 0
    /// Held for the supervisor's life when the port was chosen here, so that
    /// nobody else takes it (the workers can: they bind with SO_REUSEPORT too).
    private var reservation: Int32 = -1
    private var embedded: EmbeddedPostgres?
    /// The embedded cluster's conninfo, given to the workers as --database-url.
    private var embeddedURL: String?
    private let readyDirectory: String
    private let nodeName: String
    private var workers: [Worker] = []

    private init(_ serve: Serve) throws {
        self.serve = serve
        count = serve.workerOptions.workers
        guard serve.cluster.broker != .memory else {
            throw ValidationError(
                "--workers \(count) needs --broker postgres or --broker redis: with the memory broker each worker would be a hub of its own that sees only its own connections"
            )
        }
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        sigaddset(&blocked, SIGINT)
        pthread_sigmask(SIG_BLOCK, &blocked, nil)
        signals = blocked
        signal(SIGPIPE, SIG_IGN)
        let level = Logger.Level(rawValue: serve.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        logger = Logger(label: "switchboard.supervisor")
        nodeName = serve.cluster.resolvedNodeName
        readyDirectory = NSTemporaryDirectory() + "switchboard-workers-\(getpid())"
        // Generated once here: workers starting together would each write their own.
        let (_, development) = try serve.auth.jwtConfiguration(dataDirectory: serve.database.dataDirectory)
        _ = try serve.auth.apiKeyRing(dataDirectory: serve.database.dataDirectory, development: development)
        try preparePort()
        let opened = try DatabaseSetup.open(serve.database, stopEmbeddedOnExit: true)
        if let cluster = opened.embedded {
            embedded = cluster
            embeddedURL = opened.conninfo
            logger.info("embedded PostgreSQL running in \(serve.database.dataDirectory)/postgres")
        }
        do { _ = try Migrations.apply(on: PGConnection(opened.conninfo)) } catch {
            logger.warning("could not apply migrations now: \(error)")
        }
        try FileManager.default.createDirectory(
            atPath: readyDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        workers = (1...count).map { Worker(index: $0, readyFile: readyDirectory + "/w\($0).ready") }
    }

    /// Starts the workers, then supervises them until a signal; exits the process.
    private func run() -> Never {
        for i in workers.indices { spawn(i) }
        var ready = false
        let startDeadline = Date().addingTimeInterval(60)
        while true {
            if let caught = waitForSignal(seconds: 0.05) {
                logger.info("signal \(caught): stopping \(count) workers")
                finish(status: stopAll())
            }
            for i in workers.indices { reap(i, startingUp: !ready) }
            for i in workers.indices where workers[i].pid == 0 && Date() >= workers[i].restartAt { spawn(i) }
            for i in workers.indices where workers[i].pid != 0 && !workers[i].listening {
                guard Self.readPort(workers[i].readyFile) == port else { continue }
                workers[i].listening = true
                if ready { logger.notice("worker \(workers[i].index) (pid \(workers[i].pid)) is listening again") }
            }
            if !ready && workers.allSatisfy(\.listening) {
                ready = true
                logger.info("\(count) workers listening on \(serve.bindAddress):\(port)")
                if let file = serve.readyFile { try? String(port).write(toFile: file, atomically: true, encoding: .utf8) }
            }
            if !ready && Date() >= startDeadline {
                logger.error("the workers did not all listen within 60 s")
                finish(status: max(1, stopAll()))
            }
        }
    }

    /// Picks a free port for all workers when 0 was asked for.
    private func preparePort() throws {
        guard serve.port == 0 else {
            port = serve.port
            return
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound =
            fd >= 0 && inet_pton(AF_INET, serve.bindAddress, &address.sin_addr) == 1
            && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
            && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
            && withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
                }
            }
        guard bound else {
            if fd >= 0 { close(fd) }
            throw ValidationError("--workers with --port 0: cannot pick a free port on \(serve.bindAddress)")
        }
        reservation = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts worker `i` (again).
    private func spawn(_ i: Int) {
        try? FileManager.default.removeItem(atPath: workers[i].readyFile)
        var arguments = Self.arguments(removing: Self.replacedOptions.union(["--listen-share"]))
        arguments += ["--listen-share", "--port", String(port), "--ready-file", workers[i].readyFile]
        arguments += ["--node-name", "\(nodeName)-w\(workers[i].index)"]
        if let embeddedURL { arguments += ["--database-url", embeddedURL] }
        var environment = ProcessInfo.processInfo.environment
        environment["SWITCHBOARD_WORKERS"] = nil
        environment[Self.parentVariable] = String(getpid())
        do {
            workers[i].pid = try Self.spawn(arguments: arguments, environment: environment)
            workers[i].startedAt = Date()
            workers[i].listening = false
        } catch {
            logger.error("cannot start worker \(workers[i].index): \(error)")
            scheduleRestart(i)
        }
    }

    /// Collects worker `i` if it exited; a worker that dies while the others
    /// start ends the start (a bad flag would fail every restart alike).
    private func reap(_ i: Int, startingUp: Bool) {
        guard workers[i].pid != 0, let status = Self.exitStatus(of: workers[i].pid, wait: false) else { return }
        let pid = workers[i].pid
        workers[i].pid = 0
        workers[i].listening = false
        if startingUp {
            logger.error("worker \(workers[i].index) (pid \(pid)) exited with status \(status) while starting")
            finish(status: max(1, stopAll()))
        }
        let delay = scheduleRestart(i)
        logger.error(
            "worker \(workers[i].index) (pid \(pid)) exited unexpectedly with status \(status); restarting in \(delay) s")
    }

    /// Backoff doubles from 0.5 s to 30 s; a worker that had run for a
    /// minute starts over at 0.5 s. Returns the delay.
    @discardableResult
    private func scheduleRestart(_ i: Int) -> TimeInterval {
        if Date().timeIntervalSince(workers[i].startedAt) >= 60 { workers[i].backoff = 0.5 }
        let delay = workers[i].backoff
        workers[i].restartAt = Date().addingTimeInterval(delay)
        workers[i].backoff = min(30, delay * 2)
        return delay
    }

    /// Forwards SIGTERM, waits (bounded) for every worker to drain; returns
    /// the first non-zero exit status, else 0.
    private func stopAll() -> Int32 {
        for w in workers where w.pid != 0 { kill(w.pid, SIGTERM) }
        // Workers drain in about 4 s (2 s of connections, 2 s of writes).
        let deadline = Date().addingTimeInterval(20)
        var result: Int32 = 0
        for i in workers.indices where workers[i].pid != 0 {
            var status = Self.exitStatus(of: workers[i].pid, wait: false)
            while status == nil && Date() < deadline {
                usleep(20_000)
                status = Self.exitStatus(of: workers[i].pid, wait: false)
            }
            if status == nil {
                logger.error("worker \(workers[i].index) (pid \(workers[i].pid)) did not stop within 20 s: killed")
                kill(workers[i].pid, SIGKILL)
                status = Self.exitStatus(of: workers[i].pid, wait: true)
            }
            if result == 0, let status, status != 0 { result = status }
            workers[i].pid = 0
        }
        return result
    }

    private func finish(status: Int32) -> Never {
        embedded?.stop()
        if reservation >= 0 { close(reservation) }
        try? FileManager.default.removeItem(atPath: readyDirectory)
        logger.info("stopped", metadata: ["status": "\(status)"])
        exit(status)
    }

    /// SIGTERM or SIGINT if one came within `seconds`.
    private func waitForSignal(seconds: Double) -> Int32? {
        var set = signals
        var timeout = timespec(tv_sec: 0, tv_nsec: Int(seconds * 1_000_000_000))
        let caught = sigtimedwait(&set, nil, &timeout)
        return caught > 0 ? caught : nil
    }
}

/// One worker slot: its process (0 while none runs) and restart state.
private struct Worker {
    let index: Int
    let readyFile: String
    var pid: pid_t = 0
    var listening = false
    var startedAt = Date()
    var restartAt = Date.distantPast
    var backoff: TimeInterval = 0.5
}

extension Supervisor {
    /// A worker stops (SIGTERM to itself, so it drains) once its supervisor is
    /// gone, even after a kill -9 of the supervisor.
    static func stopWhenOrphaned(supervisor: pid_t) {
        let thread = Thread {
            var blocked = sigset_t()
            sigemptyset(&blocked)
            sigaddset(&blocked, SIGTERM)
            sigaddset(&blocked, SIGINT)
            pthread_sigmask(SIG_BLOCK, &blocked, nil)
            while getppid() == supervisor { Thread.sleep(forTimeInterval: 0.5) }
            kill(getpid(), SIGTERM)
        }
        thread.name = "switchboard-supervisor-watch"
        thread.start()
    }

    /// This process's arguments without `options` and their values.
    static func arguments(removing options: Set<String>) -> [String] {
        var kept: [String] = []
        var args = CommandLine.arguments.dropFirst()[...]
        while let arg = args.popFirst() {
            let name = String(arg.prefix { $0 != "=" })
            guard options.contains(name) else {
                kept.append(arg)
                continue
            }
            if name == arg && name != "--listen-share" { _ = args.popFirst() }
        }
        return kept
    }

    /// The port in a worker's ready file, if written.
    static func readPort(_ path: String) -> Int? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Starts this binary with `arguments`; stdin, stdout and stderr are shared.
    static func spawn(arguments: [String], environment: [String: String]) throws -> pid_t {
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The supervisor blocks SIGTERM/SIGINT for sigtimedwait; a worker
        // starts with none blocked (serve blocks them for its own thread).
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([binary] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, binary, nil, &attributes, argv, envp)
        guard rc == 0 else { throw ValidationError("cannot start \(binary) (errno \(rc))") }
        return pid
    }

    /// The exit status of `pid` (128 + signal when killed), nil while it runs.
    static func exitStatus(of pid: pid_t, wait: Bool) -> Int32? {
        var status: Int32 = 0
        var rc = waitpid(pid, &status, wait ? 0 : WNOHANG)
        while rc < 0 && errno == EINTR { rc = waitpid(pid, &status, wait ? 0 : WNOHANG) }
        guard rc == pid else { return rc < 0 ? 1 : nil }
        // WIFEXITED / WEXITSTATUS by hand: Glibc's macros do not import.
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
