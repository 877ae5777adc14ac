// Options shared by the scenarios: where the hub (or the nodes of a
// cluster) is and how to authenticate.
import ArgumentParser
import Foundation
import SwitchboardPostgres

/// One node's address.
struct Endpoint: Hashable, Codable {
    var host: String
    var port: Int

    var text: String { "\(host):\(port)" }

    /// `host:port` on loopback (the load goes to loopback only).
    static func parse(_ text: String) throws -> Endpoint {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = Int(parts[1]), (1...65_535).contains(port) else {
            throw ValidationError("a target is host:port, not \(text.debugDescription)")
        }
        let host = String(parts[0])
        guard host.hasPrefix("127.") || host == "localhost" else {
            throw ValidationError("load goes to loopback only (127.0.0.0/8), not \(host)")
        }
        return Endpoint(host: host, port: port)
    }

    /// A comma list of `host:port`.
    static func parseList(_ text: String) throws -> [Endpoint] {
        try text.split(separator: ",").map { try parse(String($0)) }
    }
}

struct TargetOptions: ParsableArguments {
    @Option(help: "Hub address (loopback only).") var host = "127.0.0.1"
    @Option(
        name: .customLong("port"),
        help: "Hub port; a comma list names several nodes on --host, like --target (fanout, chat, connections).")
    var portList = "8080"
    @Option(
        name: .customLong("target"),
        help: """
            A node as host:port, repeatable or a comma list (fanout, chat, connections): connections go round-robin \
            over the targets and the report gives each node's figures (default: --host and --port).
            """)
    var targetList: [String] = []
    @Option(name: .customLong("publish-via"), help: "host:port that takes the publications (default: the first target).")
    var publishVia: String?
    @Option(name: .customLong("jwt-secret"), help: "HS256 secret the hub verifies with (default: --data-dir/dev-secrets).")
    var jwtSecret: String?
    @Option(name: .customLong("api-key"), help: "Backend API key for publishing (default: --data-dir/dev-secrets).")
    var apiKey: String?
    @Option(name: .customLong("data-dir"), help: "The hub's data folder, for development secrets.") var dataDir = ".data"
    @Option(
        name: .customLong("hub-pid"),
        help: "A hub's pid for RSS, repeatable: the total of them is reported (default: one found by its command line).")
    var hubPIDs: [Int32] = []
    @Flag(help: "Print JSON instead of a table.") var json = false

    func validate() throws {
        guard host.hasPrefix("127.") || host == "localhost" else {
            throw ValidationError("load goes to loopback only (127.0.0.0/8)")
        }
        guard !ports.isEmpty, ports.count == portList.split(separator: ",").count else {
            throw ValidationError("--port: a port 1...65535, or a comma list of them")
        }
        for t in targetList { _ = try Endpoint.parseList(t) }
        if let publishVia { _ = try Endpoint.parse(publishVia) }
        guard endpoints.count <= 64 else { throw ValidationError("at most 64 targets") }
    }

    /// The ports of `--port`.
    var ports: [Int] { portList.split(separator: ",").compactMap { Int($0) }.filter { (1...65_535).contains($0) } }

    /// The hub's port (the first of `--port`).
    var port: Int { ports.first ?? 8080 }

    /// The nodes, in the order given: `--target`s, else `--host` with each `--port`.
    var endpoints: [Endpoint] {
        let listed = targetList.flatMap { (try? Endpoint.parseList($0)) ?? [] }
        return listed.isEmpty ? ports.map { Endpoint(host: host, port: $0) } : listed
    }

    /// Where publications go: `--publish-via`, else the first target.
    var publisher: Endpoint { publishVia.flatMap { try? Endpoint.parse($0) } ?? endpoints[0] }

    /// For the scenarios that drive one hub: refuses `--target`.
    func requireSingleHub() throws {
        guard targetList.isEmpty, publishVia == nil, ports.count == 1 else {
            throw ValidationError("several nodes are for fanout, chat and connections; give one --host and --port")
        }
    }

    func secrets() throws -> (jwt: String, apiKey: String) {
        let lines =
            (try? String(contentsOfFile: dataDir + "/dev-secrets", encoding: .utf8))?.split(separator: "\n").map(String.init)
            ?? []
        guard let jwt = jwtSecret ?? lines.first else { throw ValidationError("give --jwt-secret (no \(dataDir)/dev-secrets)") }
        let key = apiKey ?? (lines.count > 1 ? String(lines[1].split(separator: ":", maxSplits: 1).last ?? "") : "")
        return (jwt, key)
    }

    /// A connection for a scenario's final check: `url`, or the embedded
    /// cluster in `--data-dir`.
    func database(_ url: String?) throws -> PGConnection {
        let dir = URL(fileURLWithPath: dataDir).standardizedFileURL.path
        return try PGConnection(url ?? "host=\(dir)/postgres port=5432 user=switchboard dbname=switchboard")
    }
}

/// The HTML report's option, for the scenarios that measure latency.
struct HTMLReportOptions: ParsableArguments {
    @Option(
        name: .customLong("report"),
        help: "Also write a self-contained HTML page (latency over time, percentile plot) to this file.")
    var path: String?
}
