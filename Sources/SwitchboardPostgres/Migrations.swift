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
        (2, """
        CREATE TABLE conversations (
            id               bigserial PRIMARY KEY,
            project_id       text,
            participants_key text NOT NULL,
            created_by       text NOT NULL,
            last_seq         bigint NOT NULL DEFAULT 0,
            last_message_at  timestamptz,
            created_at       timestamptz NOT NULL DEFAULT now()
        );
        -- Creating a conversation is idempotent per participant set + project.
        CREATE UNIQUE INDEX conversations_participants ON conversations (participants_key, coalesce(project_id, ''));
        CREATE TABLE conversation_members (
            conversation_id bigint NOT NULL REFERENCES conversations (id),
            user_id         text NOT NULL,
            last_read_seq   bigint NOT NULL DEFAULT 0,
            archived        boolean NOT NULL DEFAULT false,
            joined_at       timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (conversation_id, user_id)
        );
        CREATE INDEX conversation_members_user ON conversation_members (user_id, conversation_id);
        CREATE TABLE messages (
            id                bigserial PRIMARY KEY,
            conversation_id   bigint NOT NULL REFERENCES conversations (id),
            seq               bigint NOT NULL,
            sender_id         text NOT NULL,
            client_msg_id     text NOT NULL,
            kind              text NOT NULL CHECK (kind IN ('text','image','document','quote','contract_proposal','system')),
            body              jsonb NOT NULL,
            quote_amount      bigint,
            quote_currency    text,
            quote_valid_until timestamptz,
            created_at        timestamptz NOT NULL DEFAULT now(),
            edited_at         timestamptz,
            deleted_at        timestamptz,
            UNIQUE (conversation_id, seq),
            UNIQUE (sender_id, client_msg_id)
        );
        """),
        (3, """
        CREATE TABLE qr_codes (
            id          bigserial PRIMARY KEY,
            owner_id    text NOT NULL,
            label       text NOT NULL,
            target      text NOT NULL,
            -- Kept equal to count(*) of scans for the code by the ingest
            -- statement (same transaction).
            total_scans bigint NOT NULL DEFAULT 0,
            created_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX qr_codes_owner ON qr_codes (owner_id, id);
        CREATE TABLE scans (
            id          bigserial PRIMARY KEY,
            -- No foreign key: the ingest statement joins qr_codes anyway, and
            -- a per-row FK trigger would cost ingest throughput.
            qr_id       bigint NOT NULL,
            scanned_at  timestamptz NOT NULL,
            device_type text NOT NULL,
            os          text,
            country     text NOT NULL,
            referrer    text,
            event_id    text,
            received_at timestamptz NOT NULL DEFAULT now()
        );
        -- A retried batch with event ids stores each scan once.
        CREATE UNIQUE INDEX scans_event ON scans (qr_id, event_id) WHERE event_id IS NOT NULL;
        CREATE TABLE scan_minutes (
            qr_id  bigint NOT NULL,
            minute timestamptz NOT NULL,
            count  bigint NOT NULL,
            PRIMARY KEY (qr_id, minute)
        );
        CREATE TABLE scan_days (
            qr_id bigint NOT NULL,
            day   date NOT NULL,
            count bigint NOT NULL,
            PRIMARY KEY (qr_id, day)
        );
        CREATE TABLE scan_dimensions (
            qr_id     bigint NOT NULL,
            dimension text NOT NULL CHECK (dimension IN ('device', 'country')),
            value     text NOT NULL,
            count     bigint NOT NULL,
            PRIMARY KEY (qr_id, dimension, value)
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
                try connection.executeScript(migration.sql)
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
