// A PostgreSQL of one test's own (the shared TestDatabase must not be
// restarted under the other tests): initdb in a temporary folder, a free
// port, the unix socket in that folder, and optionally TCP on given
// addresses (a node in a network namespace reaches it over a veth) with
// trust for their subnets only. Stopped and removed with the object.
//
//     let pg = try PostgresServer(tcp: ["10.213.7.1"], trusted: ["10.213.7.0/30"])
//     pg.stop()        // fast shutdown: sessions end, committed work stays
//     try pg.start()   // same folder, same port
import Foundation
import SwitchboardPostgres
#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL server started for one test.
final class PostgresServer: Sendable {
    let directory: String
    let port: Int
    private let tcp: [String]
    private let bin: String

    /// The Switchboard database over the unix socket.
    var conninfo: String { "host=\(directory) port=\(port) user=switchboard dbname=switchboard connect_timeout=3" }

    /// The Switchboard database over TCP at `address` (one of `tcp`).
    func conninfo(address: String) -> String {
        "host=\(address) port=\(port) user=switchboard dbname=switchboard connect_timeout=3"
    }

    /// Initializes, starts, creates the database and applies the migrations.
    init(tcp: [String] = [], trusted subnets: [String] = []) throws {
        guard
            let version = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
                .compactMap(Int.init).max()
        else { throw TestClientError.handshake("no PostgreSQL server binaries") }
        bin = "/usr/lib/postgresql/\(version)/bin"
        port = try freeTCPPort()
        self.tcp = tcp
        directory = NSTemporaryDirectory() + "sbtest-ownpg-\(getpid())-\(port)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 {
            // initdb refuses root: the server runs as postgres and owns its folder.
            let pw = getpwnam("postgres")
            _ = chown(directory, pw?.pointee.pw_uid ?? 0, pw?.pointee.pw_gid ?? 0)
        }
        _ = chmod(directory, 0o700)
        try tool("initdb", ["-D", directory + "/data", "-U", "switchboard", "-A", "trust", "-E", "UTF8", "--locale=C"])
        // Appended as root would leave the file root-owned: written through the tool user.
        let hba = subnets.map { "host all all \($0) trust" }.joined(separator: "\n")
        if !hba.isEmpty { try tool("/bin/sh", ["-c", "printf '%s\\n' \"$0\" >> \"$1\"", hba, directory + "/data/pg_hba.conf"]) }
        try start()
        try watch()
        let admin = try PGConnection("host=\(directory) port=\(port) user=switchboard dbname=postgres connect_timeout=3")
        try admin.execute("CREATE DATABASE switchboard")
        try Migrations.apply(on: PGConnection(conninfo))
    }

    deinit {
        _ = try? tool("pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts the server (after `init` or `stop`) and waits until it accepts sessions.
    func start() throws {
        let listen = tcp.joined(separator: ",")
        let options = "-k \(directory) -c listen_addresses='\(listen)' -p \(port) -c max_connections=100 -c fsync=off"
        let status = try tool(
            "pg_ctl", ["-D", directory + "/data", "-l", directory + "/postgres.log", "-w", "-t", "30", "-o", options, "start"])
        guard status == 0 else {
            let log = (try? String(contentsOfFile: directory + "/postgres.log", encoding: .utf8)) ?? ""
            throw TestClientError.handshake("PostgreSQL did not start: " + log.suffix(2000))
        }
    }

    /// Fast shutdown: open sessions are ended, transactions under way roll back.
    func stop() {
        _ = try? tool("pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "-t", "30", "stop"])
    }

    /// Rows by position, over the unix socket.
    @discardableResult
    func query(_ sql: String, _ params: [String?] = []) throws -> [[String?]] {
        try PGConnection(conninfo).execute(sql, params)
    }

    /// deinit does not run when the test process is killed: a watchdog
    /// shell stops the server and removes its folder then.
    private func watch() throws {
        let stop = (getuid() == 0 ? "/usr/sbin/runuser -u postgres -- " : "") + "\(bin)/pg_ctl -D \"$2/data\" -m immediate stop"
        let watchdog = Process()
        watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
        watchdog.arguments = [
            "-c",
            // Its parent is the test process until that dies (a zombie still answers kill -0).
            "while [ \"$(cut -d' ' -f4 /proc/$$/stat)\" = \"$1\" ] && [ -d \"$2/data\" ]; do sleep 1; done 2>/dev/null; "
                + "[ -d \"$2/data\" ] && { \(stop); rm -rf \"$2\"; } >/dev/null 2>&1",
            "watchdog", String(getpid()), directory,
        ]
        watchdog.standardOutput = FileHandle.nullDevice
        watchdog.standardError = FileHandle.nullDevice
        try watchdog.run()
    }

    /// Runs a server tool (as postgres when root) and waits; its exit status.
    /// posix_spawn + waitpid: Foundation's Process can wait forever for a
    /// child that leaves a daemon behind (pg_ctl start does). The daemon gets
    /// no descriptor of the test's (its client sockets would outlive it).
    @discardableResult
    private func tool(_ name: String, _ arguments: [String]) throws -> Int32 {
        let path = name.hasPrefix("/") ? name : "\(bin)/\(name)"
        let argv = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", path] + arguments : [path] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        for fd in ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap(Int32.init)
        where fd > 2 {
            _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
        }
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ) == 0 else { throw TestClientError.connect }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }
}

/// A TCP port nobody listens on now (the kernel's pick for port 0).
func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestClientError.connect }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestClientError.connect }
    return Int(UInt16(bigEndian: address.sin_port))
}
