// A network namespace for one hub process, joined to the host by two veth
// pairs: one its clients use, one it reaches PostgreSQL and Redis by. `cut()`
// takes the second's host end down: the node's packets to the services (and
// theirs back) vanish — no reset, no refusal, as in a real partition — while
// its clients stay connected over the first. Needs root (CAP_NET_ADMIN) and
// iproute2; `isAvailable` says whether this machine allows it.
//
//     let ns = try NetworkNamespace()
//     defer { ns.remove() }
//     let node = try HubProcess(…, launcher: ns.launcher, host: ns.nodeClientAddress)
//     ns.cut(); …; ns.heal()
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A namespace with a client link and a service link to the host.
final class NetworkNamespace: Sendable {
    static let ip = "/usr/sbin/ip"
    /// Why the tests that need a namespace cannot run here (nil: they can).
    static let unavailableReason: String? = {
        guard getuid() == 0 else { return "not root: network namespaces need CAP_NET_ADMIN" }
        guard FileManager.default.isExecutableFile(atPath: ip) else { return "iproute2 (ip) is not installed" }
        let probe = "sbprobe-\(getpid())"
        guard run([ip, "netns", "add", probe]) == 0 else { return "`ip netns add` is refused here" }
        run([ip, "netns", "del", probe])
        return nil
    }()
    static var isAvailable: Bool { unavailableReason == nil }

    /// The namespace's name (`sbtest-<test pid>-<id>`).
    let name: String
    private let id: String
    /// The node's address on the client link (its `--bind`) and the host's.
    let nodeClientAddress: String
    let hostClientAddress: String
    /// The host's address on the service link (PostgreSQL and Redis listen
    /// on it), the node's, and the service link's subnet (for pg_hba).
    let hostServiceAddress: String
    let nodeServiceAddress: String
    let serviceSubnet: String

    /// Runs a command in the namespace: `launcher + [binary, args…]`.
    var launcher: [String] { [Self.ip, "netns", "exec", name] }

    /// Creates the namespace and both links (removing the namespaces a
    /// killed test run left behind first).
    init() throws {
        Self.removeLeftovers()
        let hex = String(UInt32.random(in: 0...0xFF_FFFF), radix: 16)
        id = "sb" + String(repeating: "0", count: 6 - hex.count) + hex
        name = "sbtest-\(getpid())-\(id)"
        // 10.213.<n>.0/29: two /30s, one per link; <n> free on this host.
        let used = Self.output([Self.ip, "-4", "-o", "addr", "show"])
        guard let n = (0...255).shuffled().first(where: { !used.contains("10.213.\($0).") }) else {
            throw TestClientError.handshake("no free 10.213.x.0/29 subnet")
        }
        hostClientAddress = "10.213.\(n).1"
        nodeClientAddress = "10.213.\(n).2"
        hostServiceAddress = "10.213.\(n).5"
        nodeServiceAddress = "10.213.\(n).6"
        serviceSubnet = "10.213.\(n).4/30"
        let steps: [[String]] = [
            ["netns", "add", name],
            ["-n", name, "link", "set", "lo", "up"],
            ["link", "add", id + "ch", "type", "veth", "peer", "name", id + "cn", "netns", name],
            ["link", "add", id + "sh", "type", "veth", "peer", "name", id + "sn", "netns", name],
            ["addr", "add", hostClientAddress + "/30", "dev", id + "ch"],
            ["addr", "add", hostServiceAddress + "/30", "dev", id + "sh"],
            ["-n", name, "addr", "add", nodeClientAddress + "/30", "dev", id + "cn"],
            ["-n", name, "addr", "add", nodeServiceAddress + "/30", "dev", id + "sn"],
            ["link", "set", id + "ch", "up"], ["link", "set", id + "sh", "up"],
            ["-n", name, "link", "set", id + "cn", "up"], ["-n", name, "link", "set", id + "sn", "up"],
        ]
        for step in steps where Self.run([Self.ip] + step) != 0 {
            remove()
            throw TestClientError.handshake("ip \(step.joined(separator: " ")) failed")
        }
    }

    deinit { remove() }

    /// Takes the service link's host end down: what the node sends to the
    /// services, and what they send back, is dropped without a word.
    func cut() { Self.run([Self.ip, "link", "set", id + "sh", "down"]) }

    /// Brings the service link back.
    func heal() { Self.run([Self.ip, "link", "set", id + "sh", "up"]) }

    /// Kills what still runs in the namespace and deletes it (its veth ends,
    /// and with them their host peers). Idempotent.
    func remove() {
        Self.remove(name)
        // The kernel deletes the host ends with the namespace, but later: at once here.
        Self.run([Self.ip, "link", "del", id + "ch"])
        Self.run([Self.ip, "link", "del", id + "sh"])
    }

    // MARK: - Private

    private static func remove(_ namespace: String) {
        for pid in output([ip, "netns", "pids", namespace]).split(separator: "\n").compactMap({ Int32($0) }) {
            kill(pid, SIGKILL)
        }
        run([ip, "netns", "del", namespace])
    }

    /// Namespaces of test runs whose process is gone.
    private static func removeLeftovers() {
        for line in output([ip, "netns", "list"]).split(separator: "\n") {
            let namespace = String(line.split(separator: " ").first ?? "")
            let parts = namespace.split(separator: "-")
            guard parts.count == 3, parts[0] == "sbtest", let pid = Int32(parts[1]), kill(pid, 0) != 0 else { continue }
            remove(namespace)
        }
    }

    @discardableResult
    private static func run(_ argv: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    private static func output(_ argv: [String]) -> String {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
