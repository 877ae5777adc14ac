// A throwaway redis-server for end-to-end tests: its own free port on
// 127.0.0.1, its own temporary folder, nothing saved to disk, killed at exit.
// Tests never use a system Redis.
//
//     let redis = try RedisServer()
//     // … hubs started with ["--broker", "redis", "--redis-url", redis.url]
//     redis.stop()          // Redis gone (kill -9): links see the drop
//     try redis.restart()   // back on the same port, empty
//     redis.suspend()       // frozen (SIGSTOP): connections stay open, nothing answers
//     redis.resume()
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A redis-server process started for the tests.
// Unchecked: `process` is replaced under `lock` only.
final class RedisServer: @unchecked Sendable {
    /// The port it listens on (kept across `restart()`).
    let port: Int
    /// The AUTH password it requires, if any.
    let password: String?
    /// Its working folder (removed with the server).
    let directory: String
    /// Addresses it listens on besides 127.0.0.1 (a veth's, for a node in a network namespace).
    let addresses: [String]
    private let lock = NSLock()
    private var process: Process?

    /// The URL a `RedisLink` or `switchboard serve --redis-url` takes.
    var url: String { "redis://" + (password.map { ":\($0)@" } ?? "") + "127.0.0.1:\(port)" }

    /// Starts a server on a free port and waits (≤ 10 s) until it answers PING.
    init(password: String? = nil, addresses: [String] = []) throws {
        port = try Self.freePort()
        self.password = password
        self.addresses = addresses
        directory = NSTemporaryDirectory() + "sbtest-redis-\(getpid())-\(port)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try launch()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Kills the server (SIGKILL, as a crash) and waits until it is gone. Idempotent.
    func stop() {
        guard
            let process = lock.withLock({
                defer { self.process = nil }; return self.process
            })
        else { return }
        kill(process.processIdentifier, SIGCONT)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        _ = Self.running.withLock { $0.remove(process.processIdentifier) }
    }

    /// Stops the server if it runs, then starts a fresh one on the same port.
    func restart() throws {
        stop()
        try launch()
    }

    /// Freezes the server (SIGSTOP): its connections stay open but nothing answers.
    func suspend() { _ = lock.withLock { process.map { kill($0.processIdentifier, SIGSTOP) } } }

    /// Thaws a suspended server (SIGCONT).
    func resume() { _ = lock.withLock { process.map { kill($0.processIdentifier, SIGCONT) } } }

    // MARK: - Private

    /// Every server's pid, killed at exit so that none outlives the test run.
    private static let running: Locked<Set<Int32>> = {
        atexit {
            for pid in RedisServer.running.withLock({ $0 }) { kill(pid, SIGKILL) }
        }
        return Locked([])
    }()

    private func launch() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments =
            [
                "--port", String(port), "--bind", "127.0.0.1",
            ] + addresses + [
                "--protected-mode", addresses.isEmpty ? "yes" : "no", "--save", "", "--appendonly", "no",
                "--dir", directory, "--logfile", directory + "/redis.log", "--daemonize", "no",
            ] + (password.map { ["--requirepass", $0] } ?? [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        Self.running.withLock { _ = $0.insert(process.processIdentifier) }
        lock.withLock { self.process = process }
        try Self.watch(process.processIdentifier)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if answersPing() { return }
            if !process.isRunning { break }
            usleep(20_000)
        }
        let log = (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? ""
        stop()
        throw TestClientError.handshake("redis-server did not start on port \(port): " + log.suffix(2000))
    }

    /// atexit does not run when the test process crashes or is killed: a
    /// watchdog shell kills the server then (it ends with either of them;
    /// it checks the pid is still a redis-server before the kill).
    private static func watch(_ server: Int32) throws {
        let watchdog = Process()
        watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
        watchdog.arguments = [
            "-c",
            // Its parent is the test process until that dies (even as a zombie, which kill -0 still finds).
            "while [ \"$(cut -d' ' -f4 /proc/$$/stat)\" = \"$0\" ] && kill -0 $1; do sleep 1; done 2>/dev/null; "
                + "grep -qs redis-server /proc/$1/cmdline && kill -9 $1",
            String(getpid()), String(server),
        ]
        try watchdog.run()
    }

    /// True when the server answers PING (or asks for AUTH: it is up).
    private func answersPing() -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = Self.loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return false }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let ping = Array("PING\r\n".utf8)
        guard write(fd, ping, ping.count) == ping.count else { return false }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return false }
        let answer = String(decoding: buffer[..<n], as: UTF8.self)
        return answer.hasPrefix("+PONG") || answer.hasPrefix("-NOAUTH")
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// A port nobody listens on now (the kernel's pick for port 0).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError.handshake("socket() failed") }
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw TestClientError.handshake("no free port for redis-server") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
