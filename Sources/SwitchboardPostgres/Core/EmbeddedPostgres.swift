// A throwaway local PostgreSQL cluster (initdb + pg_ctl) for `serve` without
// DATABASE_URL and for the test suite. Listens on a unix socket in its own
// folder only. As root (initdb refuses root) it runs as the `postgres` user.
import Foundation

/// A local cluster in a folder.
// Unchecked: its fields are set in init; start/stop run on the thread that owns it (the executable's main thread, a test's setup).
public final class EmbeddedPostgres: @unchecked Sendable {
    /// Why the cluster could not be started.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong, with the log's path for details.
        public let description: String
    }

    /// The folder holding `data/`, the socket and the log.
    public let directory: String
    /// The port number in the socket name.
    public let port: Int
    /// The database created for Switchboard.
    public let database = "switchboard"
    private let binDirectory: String
    private var startedHere = false

    /// A cluster in `directory` (created if missing).
    public init(directory: String, port: Int = 5432) throws {
        self.directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        self.port = port
        guard let bin = Self.findBinDirectory() else {
            throw Failure(description: "PostgreSQL server binaries not found (install Debian's postgresql package)")
        }
        binDirectory = bin
    }

    /// libpq connection string for the Switchboard database.
    public var conninfo: String { "host=\(directory) port=\(port) user=switchboard dbname=\(database) connect_timeout=3" }

    private var dataDirectory: String { directory + "/data" }
    private var logFile: String { directory + "/postgres.log" }

    static func findBinDirectory() -> String? {
        let fm = FileManager.default
        let versions = ((try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).sorted {
            (Int($0) ?? 0) > (Int($1) ?? 0)
        }
        for v in versions where fm.isExecutableFile(atPath: "/usr/lib/postgresql/\(v)/bin/initdb") {
            return "/usr/lib/postgresql/\(v)/bin"
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        where fm.isExecutableFile(atPath: "\(dir)/initdb") { return String(dir) }
        return nil
    }

    private var isRoot: Bool { getuid() == 0 }

    /// Runs a PostgreSQL tool, as `postgres` when we are root, and waits.
    @discardableResult
    private func tool(_ name: String, _ arguments: [String]) throws -> Int32 {
        let argv =
            isRoot
            ? ["/usr/sbin/runuser", "-u", "postgres", "--", "\(binDirectory)/\(name)"] + arguments
            : ["\(binDirectory)/\(name)"] + arguments
        return try Subprocess.run(argv)
    }

    /// Initializes the cluster if needed, starts it unless it is already
    /// running, and creates the database. Idempotent.
    public func start() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if isRoot {
            // The server runs as postgres: it must own its folder and be able
            // to reach it.
            _ = chmod(directory, 0o700)
            _ = chown(directory, Self.postgresUID(), Self.postgresGID())
            var parent = URL(fileURLWithPath: directory).deletingLastPathComponent().path
            while parent != "/" && parent.count > 1 {
                var st = stat()
                if stat(parent, &st) == 0 && (st.st_mode & 0o001) == 0 { _ = chmod(parent, mode_t(st.st_mode & 0o7777) | 0o711) }
                parent = URL(fileURLWithPath: parent).deletingLastPathComponent().path
            }
        }
        if !fm.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            let status = try tool(
                "initdb",
                [
                    "-D", dataDirectory, "-U", "switchboard", "-A", "trust", "-E", "UTF8",
                    "--locale=C", "--no-instructions",
                ])
            guard status == 0 else { throw Failure(description: "initdb failed in \(directory) (exit \(status))") }
        }
        if try tool("pg_ctl", ["-D", dataDirectory, "status"]) != 0 {
            let options = "-k \(directory) -c listen_addresses='' -p \(port) -c max_connections=200 -c shared_buffers=256MB"
            let status = try tool("pg_ctl", ["-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "-o", options, "start"])
            guard status == 0 else { throw Failure(description: "PostgreSQL did not start; see \(logFile)") }
            startedHere = true
        }
        try createDatabase()
    }

    private func createDatabase() throws {
        let admin = "host=\(directory) port=\(port) user=switchboard dbname=postgres connect_timeout=5"
        var lastError: Error?
        for _ in 0..<50 {
            do {
                let conn = try PGConnection(admin)
                let exists = try conn.query("SELECT 1 FROM pg_database WHERE datname = $1", [.text(database)])
                if exists.isEmpty {
                    // An identifier cannot be a bound value: PostgreSQL quotes it (format %I).
                    let create = try conn.query("SELECT format('CREATE DATABASE %I', $1::text) AS sql", [.text(database)])
                    _ = try conn.query(try create[0].text("sql"))
                }
                return
            } catch {
                lastError = error
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        throw Failure(description: "cannot reach the embedded cluster: \(lastError.map { "\($0)" } ?? "?")")
    }

    /// Stops the cluster (fast shutdown: in-flight transactions roll back,
    /// committed ones are durable).
    public func stop() {
        _ = try? tool("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "-t", "30", "stop"])
    }

    /// Stops the cluster immediately (tests of outages).
    public func stopImmediately() {
        _ = try? tool("pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "-t", "30", "stop"])
    }

    /// Starts it again after `stop()`.
    public func restart() throws { try start() }

    private static func postgresUID() -> uid_t { getpwnam("postgres")?.pointee.pw_uid ?? 0 }
    private static func postgresGID() -> gid_t { getpwnam("postgres")?.pointee.pw_gid ?? 0 }
}
