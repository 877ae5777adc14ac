// `switchboard migrate`: applies the schema migrations and exits.
import ArgumentParser
import SwitchboardPostgres

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply database migrations (serve also does this on start).")
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let database = try DatabaseSetup.open(database, stopEmbeddedOnExit: true)
        defer { database.embedded?.stop() }
        let conn = try PGConnection(database.conninfo)
        let applied = try Migrations.apply(on: conn)
        print(
            applied.isEmpty
                ? "schema is up to date (version \(Migrations.latestVersion))"
                : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
    }
}

/// Chooses DATABASE_URL or an embedded cluster.
enum DatabaseSetup {
    struct Opened {
        var conninfo: String
        var embedded: EmbeddedPostgres?
    }

    static func open(_ options: DatabaseOptions, stopEmbeddedOnExit: Bool) throws -> Opened {
        if let url = options.databaseURL { return Opened(conninfo: url, embedded: nil) }
        let embedded = try EmbeddedPostgres(directory: options.dataDirectory + "/postgres")
        try embedded.start()
        return Opened(conninfo: embedded.conninfo, embedded: embedded)
    }
}
