// switchboard-load: drives thousands of WebSocket connections at a hub and
// reports what it measured. Connections are spread over worker processes
// (the per-process open-files limit is 20,000) and 127.0.0.x source addresses.
import ArgumentParser

@main
struct LoadTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-load",
        abstract: "Load scenarios for a Switchboard hub (loopback only).",
        subcommands: [ConnectScenario.self, FanoutScenario.self, WorkerCommand.self])
}
