// switchboard-load: drives thousands of WebSocket connections at a hub and
// reports what it measured. Connections are spread over worker processes
// (the per-process open-files limit is 20,000) and 127.0.0.x source addresses.
import ArgumentParser
import Foundation

@main
struct LoadTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-load",
        abstract: "Load scenarios for a Switchboard hub (loopback only).",
        discussion: """
            Each worker process opens thousands of sockets from one source address: start the hub with \
            `--max-connections-per-ip 0 --max-handshakes-per-ip 0` (no per-address caps), or it refuses them at accept.
            """,
        subcommands: [
            ConnectScenario.self, ConnectionsScenario.self, FanoutScenario.self, ChatScenario.self, ScansScenario.self,
            NotifyScenario.self,
            FloorScenario.self,
            ChatVerifyCommand.self,
            WorkerCommand.self, ChatWorkerCommand.self, FloorReaderCommand.self,
        ])

    static func main() {
        // A worker that finished closes its pipes; writing STOP to it must
        // not kill the coordinator.
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
