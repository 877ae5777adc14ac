// Versioned schema migrations, applied in order under an advisory lock so
// that several nodes starting together do not race.

/// The schema's history. Append only: never edit a shipped migration.
public enum Migrations {
    /// (version, SQL) in order.
    public static let all: [(version: Int, sql: String)] = [
        (1, """
        CREATE TABLE users (
            id                text PRIMARY KEY,
            role              text NOT NULL DEFAULT 'user',
            created_at        timestamptz NOT NULL DEFAULT now(),
            last_connected_at timestamptz,
            last_seen_at      timestamptz
        );
        """),
    ]

    /// Applies the missing migrations; returns the versions applied.
    @discardableResult
    public static func apply(on connection: PGConnection) throws(PostgresError) -> [Int] {
        try connection.execute("SELECT pg_advisory_lock(727274)")
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock(727274)") }
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now())
            """)
        let done = Set(try connection.execute("SELECT version FROM schema_migrations").compactMap { $0[0].flatMap { Int($0) } })
        var applied: [Int] = []
        for migration in all where !done.contains(migration.version) {
            try connection.execute("BEGIN")
            do {
                try connection.execute(migration.sql)
                try connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", [String(migration.version)])
                try connection.execute("COMMIT")
            } catch {
                _ = try? connection.execute("ROLLBACK")
                throw error
            }
            applied.append(migration.version)
        }
        return applied
    }

    /// The newest version known to this build.
    public static var latestVersion: Int { all.last?.version ?? 0 }
}
