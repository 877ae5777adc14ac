// End-to-end harness: a real PostgreSQL (DATABASE_URL, or a throwaway
// cluster in a temporary folder) and real `switchboard serve` processes.
import Foundation
import SwitchboardAuth
import SwitchboardPostgres
#if canImport(Glibc)
import Glibc
#endif

/// The database every end-to-end test shares (tests use distinct user ids).
enum TestDatabase {
    /// Kept so the cluster is stopped at exit.
    nonisolated(unsafe) static var embedded: EmbeddedPostgres?

    static let conninfo: String = {
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty { return url }
        let dir = NSTemporaryDirectory() + "sbtest-pg-\(getpid())"
        let cluster = try! EmbeddedPostgres(directory: dir)
        try! cluster.start()
        embedded = cluster
        atexit {
            TestDatabase.embedded?.stop()
            if let dir = TestDatabase.embedded?.directory { try? FileManager.default.removeItem(atPath: dir) }
        }
        let conn = try! PGConnection(cluster.conninfo)
        try! Migrations.apply(on: conn)
        return cluster.conninfo
    }()

    @discardableResult
    static func query(_ sql: String, _ params: [String?] = []) throws -> [[String?]] {
        try PGConnection(conninfo).execute(sql, params)
    }
}

/// A running hub process.
final class HubProcess: Sendable {
    static let secret = "e2e-secret-e2e-secret-e2e-secret-0"
    static let apiKey = "e2e-backend-key-0123456789"

    let process = Process()
    let port: Int
    /// The address clients reach it on (another than 127.0.0.1 for a node in a network namespace).
    let host: String
    private let readyFile: String
    let logFile: String

    /// The built `switchboard` binary next to the test bundle.
    static var binary: String {
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundleDir, bundleDir.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("switchboard").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/switchboard").path
    }

    /// A hub on `database`; with `embeddedIn` instead, a hub that runs its
    /// own embedded cluster in that data folder (DATABASE_URL unset).
    /// `launcher` runs the binary (e.g. `ip netns exec NS`), `host` is where
    /// it is reached then (its `--bind` address).
    init(
        database: String = TestDatabase.conninfo, embeddedIn dataDirectory: String? = nil, extra: [String] = [],
        environment: [String: String] = [:], launcher: [String] = [], host: String = "127.0.0.1"
    ) throws {
        self.host = host
        let id = UUID().uuidString.prefix(8)
        readyFile = NSTemporaryDirectory() + "sb-ready-\(id)"
        logFile = NSTemporaryDirectory() + "sb-log-\(id)"
        process.executableURL = URL(fileURLWithPath: launcher.first ?? Self.binary)
        let store = dataDirectory.map { ["--data-dir", $0] } ?? ["--database-url", database]
        process.arguments =
            Array(launcher.dropFirst()) + (launcher.isEmpty ? [] : [Self.binary])
            + ["serve", "--port", "0", "--ready-file", readyFile] + store + [
                "--jwt-secret", Self.secret, "--api-key", "e2e:" + Self.apiKey, "--log-level", "warning",
            ] + extra
        if !environment.isEmpty || dataDirectory != nil {
            var merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            if dataDirectory != nil { merged["DATABASE_URL"] = nil }
            process.environment = merged
        }
        FileManager.default.createFile(atPath: logFile, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: logFile)
        process.standardError = FileHandle(forWritingAtPath: logFile)
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        var bound = 0
        while Date() < deadline {
            if let text = try? String(contentsOfFile: readyFile, encoding: .utf8), let p = Int(text), p > 0 { bound = p; break }
            if !process.isRunning { break }
            usleep(50_000)
        }
        guard bound > 0 else {
            process.terminate()
            throw TestClientError.handshake(
                "hub did not start: " + ((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""))
        }
        port = bound
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: readyFile)
        try? FileManager.default.removeItem(atPath: logFile)
    }

    /// Sends SIGTERM and waits; returns (exit status, seconds taken).
    func terminate(timeout: TimeInterval = 10) -> (status: Int32, seconds: Double) {
        let start = Date()
        kill(process.processIdentifier, SIGTERM)
        while process.isRunning && Date().timeIntervalSince(start) < timeout { usleep(20_000) }
        let seconds = Date().timeIntervalSince(start)
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return (-1, seconds) }
        return (process.terminationStatus, seconds)
    }

    /// kill -9: no shutdown, no flush.
    /// Then waits (≤ 30 s) until PostgreSQL has ended the dead hub's sessions:
    /// a pipelined COMMIT already in the server's socket buffer still commits
    /// after the kill, and a check that ran before it would race it.
    func crash() {
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        process.waitUntilExit()
        let deadline = Date().addingTimeInterval(30)
        var left = databaseSessions()
        while Date() < deadline, left != 0 { usleep(20_000); left = databaseSessions() }
        if left != 0 {
            print("crash(): the killed hub still holds \(left.map(String.init) ?? "unknown") database sessions after 30 s")
        }
    }

    /// How many PostgreSQL sessions this hub process holds (nil if the query failed).
    func databaseSessions() -> Int? {
        let rows = try? TestDatabase.query(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 OR application_name LIKE $1 || '/%'",
            ["switchboard/\(process.processIdentifier)"])
        return rows?.first?[0].flatMap { Int($0) }
    }

    func token(_ user: String, ttl: Int64 = 600, role: String = "user") -> String {
        let now = Int64(Date().timeIntervalSince1970)
        return JWTSigner.hs256(
            Claims(subject: user, role: role, expiresAt: now + ttl, issuedAt: now), secret: Array(Self.secret.utf8))
    }

    func connect(_ user: String? = nil, path: String? = nil, headers: [String: String] = [:]) throws -> WebSocketTestClient {
        try WebSocketTestClient(
            port: port, path: path ?? (user.map { "/?token=" + token($0) } ?? "/"), headers: headers, host: host)
    }

    /// A sample's value from /metrics (the first line of that name), nil if absent.
    func metric(_ name: String) throws -> Double? {
        let text = String(decoding: try httpRequest(host: host, port: port, "GET", "/metrics").body, as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{") }
        return line?.split(separator: " ").last.flatMap { Double($0) }
    }

    func publish(_ channel: String, _ data: String) throws -> HTTPResult {
        try httpRequest(
            host: host, port: port, "POST", "/v1/publish", headers: ["X-API-Key": Self.apiKey],
            body: #"{"channel":"\#(channel)","data":\#(data)}"#)
    }
}

/// A unique user id per test run.
func uniqueUser(_ name: String) -> String { name + "-" + UUID().uuidString.prefix(8).lowercased() }

/// Polls `condition` until true or the timeout passes.
func eventually(timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}

/// A value shared between test threads behind a lock.
// Unchecked: `value` is read and written under `lock` only.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock(); defer { lock.unlock() }
        return body(&value)
    }
}

extension PGConnection {
    /// Rows by position with text parameters: the tests' and load tool's
    /// short form for counting what was stored (the adapter reads `Row`s by name).
    @discardableResult
    func execute(_ sql: String, _ params: [String?] = []) throws(PostgresError) -> [[String?]] {
        try query(sql, params.map(SQLValue.text)).map(\.values)
    }
}
