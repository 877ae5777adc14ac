// The `switchboard` command: serve, migrate, token.
import ArgumentParser

@main
struct Switchboard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A realtime hub: WebSocket chat, presence, live counters and notifications over libwebsockets and PostgreSQL.",
        subcommands: [Serve.self, Migrate.self, Token.self],
        defaultSubcommand: Serve.self)
}
