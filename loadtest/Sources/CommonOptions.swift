// Options shared by the scenarios: where the hub is and how to authenticate.
import ArgumentParser
import Foundation
import SwitchboardPostgres

struct TargetOptions: ParsableArguments {
    @Option(help: "Hub address (loopback only).") var host = "127.0.0.1"
    @Option(help: "Hub port.") var port = 8080
    @Option(name: .customLong("jwt-secret"), help: "HS256 secret the hub verifies with (default: --data-dir/dev-secrets).")
    var jwtSecret: String?
    @Option(name: .customLong("api-key"), help: "Backend API key for publishing (default: --data-dir/dev-secrets).")
    var apiKey: String?
    @Option(name: .customLong("data-dir"), help: "The hub's data folder, for development secrets.") var dataDir = ".data"
    @Option(name: .customLong("hub-pid"), help: "The hub's pid for RSS (default: found by its command line).") var hubPID: Int32?
    @Flag(help: "Print JSON instead of a table.") var json = false

    func validate() throws {
        guard host.hasPrefix("127.") || host == "localhost" else {
            throw ValidationError("load goes to loopback only (127.0.0.0/8)")
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
