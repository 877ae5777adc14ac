// A real hub for the SDK's tests: the `switchboard` binary the repository's
// main package built (scripts/test builds it first), running its own
// embedded PostgreSQL in a temporary data folder shared by these tests —
// the minimum of Tests/SwitchboardEndToEndTests/Support/Harness.swift.
import Foundation
import SwitchboardClient

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

struct HarnessError: Error, CustomStringConvertible {
    let description: String
}

/// A `switchboard serve` process.
final class RealHub: Sendable {
    static let secret = "sdk-test-secret-sdk-test-secret-00"

    /// The data folder (embedded cluster, dev secrets) every hub of this test process uses.
    static let dataDirectory: String = {
        let dir = NSTemporaryDirectory() + "sb-swift-sdk-\(getpid())"
        atexit {
            // The embedded cluster outlives a killed hub: stop it, then remove the folder.
            RealHub.stopCluster(RealHub.dataDirectory + "/postgres")
            try? FileManager.default.removeItem(atPath: RealHub.dataDirectory)
        }
        return dir
    }()

    /// `SWITCHBOARD_BINARY`, else the repository root's `.build/debug/switchboard`.
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["SWITCHBOARD_BINARY"], !path.isEmpty { return path }
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<6 { root.deleteLastPathComponent() }
        return root.appendingPathComponent(".build/debug/switchboard").path
    }

    let process = Process()
    let port: Int

    /// Starts a hub (on `port`, or any free port) and waits until it is ready.
    init(port requested: Int = 0) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw HarnessError(
                description: "no hub binary at \(Self.binary): build the repository root first (scripts/test does)")
        }
        let readyFile = NSTemporaryDirectory() + "sb-sdk-ready-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: readyFile) }
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "serve", "--port", String(requested), "--ready-file", readyFile, "--data-dir", Self.dataDirectory,
            "--jwt-secret", Self.secret, "--log-level", "error",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = nil
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        var bound = 0
        while Date() < deadline, process.isRunning {
            if let text = try? String(contentsOfFile: readyFile, encoding: .utf8), let p = Int(text), p > 0 {
                bound = p
                break
            }
            usleep(50_000)
        }
        guard bound > 0 else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            throw HarnessError(description: "the hub did not start on port \(requested)")
        }
        port = bound
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// kill -9: no shutdown, no flush.
    func crash() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    var url: URL { URL(string: "ws://127.0.0.1:\(port)/")! }

    /// A token for `user`, minted by `switchboard token` with the hub's secret.
    static func token(_ user: String) throws -> String {
        let minting = Process()
        let out = Pipe()
        minting.executableURL = URL(fileURLWithPath: binary)
        minting.arguments = ["token", "--user", user, "--ttl", "1h", "--jwt-secret", secret, "--data-dir", dataDirectory]
        minting.standardOutput = out
        try minting.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        minting.waitUntilExit()
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Creates a conversation of `user` with `others`; returns its id.
    func createConversation(by user: String, with others: [String]) async throws -> String {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/conversations")!)
        request.httpMethod = "POST"
        request.setValue("Bearer " + (try Self.token(user)), forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(JSONValue.object(["participants": .array(others.map(JSONValue.string))]).jsonText.utf8)
        let (data, _) = try await URLSession.shared.data(for: request)
        guard let id = JSONValue.parse(data)?["id"]?.string else {
            throw HarnessError(description: "no conversation: " + String(decoding: data, as: UTF8.self))
        }
        return id
    }

    private static func stopCluster(_ directory: String) {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }).first else { return }
        let stop = Process()
        let pgctl = "/usr/lib/postgresql/\(version)/bin/pg_ctl"
        let args = ["-D", directory + "/data", "-m", "immediate", "-w", "stop"]
        if getuid() == 0 {
            stop.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            stop.arguments = ["-u", "postgres", "--", pgctl] + args
        } else {
            stop.executableURL = URL(fileURLWithPath: pgctl)
            stop.arguments = args
        }
        stop.standardOutput = FileHandle.nullDevice
        stop.standardError = FileHandle.nullDevice
        try? stop.run()
        stop.waitUntilExit()
    }
}

/// The real transport, with a way to kill its sockets (no close frame) as a dead network would.
final class KillableTransport: WebSocketTransport {
    private let inner = WSClientTransport()
    private let live = LockedList()

    func connect(url: URL, headers: [String: String]) async throws -> any WebSocketConnection {
        let connection = try await inner.connect(url: url, headers: headers)
        live.append(connection)
        return connection
    }

    /// Drops every socket opened so far.
    func killAll() async {
        for connection in live.takeAll() { await connection.close(code: nil) }
    }
}

// Unchecked: `items` is only touched under `lock`.
private final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [any WebSocketConnection] = []
    func append(_ item: any WebSocketConnection) {
        lock.lock()
        items.append(item)
        lock.unlock()
    }
    func takeAll() -> [any WebSocketConnection] {
        lock.lock()
        defer {
            items = []
            lock.unlock()
        }
        return items
    }
}
