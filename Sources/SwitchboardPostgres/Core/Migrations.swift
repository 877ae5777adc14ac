// Versioned schema migrations, applied in order under an advisory lock so
// that several nodes starting together do not race.

/// The schema's history. Append only: never edit a shipped migration.
public enum Migrations {
    /// (version, SQL) in order.
    public static let all: [(version: Int, sql: String)] = [
        (
            1,
            """
            CREATE TABLE users (
                id                text PRIMARY KEY,
                role              text NOT NULL DEFAULT 'user',
                created_at        timestamptz NOT NULL DEFAULT now(),
                last_connected_at timestamptz,
                last_seen_at      timestamptz
            );
            """
        ),
        (
            2,
            """
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
            """
        ),
        (
            3,
            """
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
            """
        ),
        (
            4,
            """
            CREATE TABLE notifications (
                id          bigserial PRIMARY KEY,
                user_id     text NOT NULL,
                kind        text NOT NULL CHECK (kind IN ('new_message','new_project_inquiry','quote_received','quote_match','quote_response','contract_ready','contract_signed','payment_received','payment_released','payment_refunded','review_posted','milestone_completed','project_update')),
                title       text NOT NULL,
                body        text NOT NULL DEFAULT '',
                data        jsonb NOT NULL DEFAULT '{}',
                entity_type text,
                entity_id   text,
                created_at  timestamptz NOT NULL DEFAULT now(),
                read_at     timestamptz
            );
            CREATE INDEX notifications_user ON notifications (user_id, id);
            CREATE INDEX notifications_unread ON notifications (user_id, id) WHERE read_at IS NULL;
            -- POST /v1/notify with an idempotency key: a retry creates nothing.
            CREATE TABLE notify_requests (
                idempotency_key text PRIMARY KEY,
                fingerprint     text NOT NULL,
                notified        integer NOT NULL,
                created_at      timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE quote_requests (
                id             bigserial PRIMARY KEY,
                requester_id   text NOT NULL,
                event          text NOT NULL,
                city           text NOT NULL,
                starts_on      date NOT NULL,
                ends_on        date NOT NULL,
                stand_size_sqm numeric NOT NULL CHECK (stand_size_sqm > 0),
                budget_min     bigint NOT NULL,
                budget_max     bigint NOT NULL,
                currency       text NOT NULL,
                services       jsonb NOT NULL DEFAULT '[]',
                urgency        text NOT NULL CHECK (urgency IN ('low','normal','high','urgent')),
                created_at     timestamptz NOT NULL DEFAULT now(),
                CHECK (budget_min >= 0 AND budget_min <= budget_max),
                CHECK (starts_on <= ends_on)
            );
            CREATE INDEX quote_requests_requester ON quote_requests (requester_id, id);
            CREATE TABLE quote_matches (
                id               bigserial PRIMARY KEY,
                request_id       bigint NOT NULL REFERENCES quote_requests (id),
                builder_id       text NOT NULL,
                score            integer NOT NULL CHECK (score BETWEEN 0 AND 100),
                breakdown        jsonb NOT NULL,
                status           text NOT NULL DEFAULT 'matched' CHECK (status IN ('matched','interested','responded','declined')),
                estimate_min     bigint,
                estimate_max     bigint,
                proposal_summary text,
                created_at       timestamptz NOT NULL DEFAULT now(),
                responded_at     timestamptz,
                -- Posting the same builder again for the same request creates nothing.
                UNIQUE (request_id, builder_id)
            );
            CREATE INDEX quote_matches_builder ON quote_matches (builder_id, id);
            """
        ),
        (
            5,
            """
            CREATE TABLE projects (
                id               bigserial PRIMARY KEY,
                client_id        text NOT NULL,
                craftsman_id     text NOT NULL,
                title            text NOT NULL,
                status           text NOT NULL DEFAULT 'inquiry' CHECK (status IN ('inquiry','negotiation','quote_sent',
                                 'contract_pending','contract_signed','in_progress','completed','cancelled','disputed')),
                estimated_budget bigint CHECK (estimated_budget >= 0),
                currency         text NOT NULL DEFAULT 'RON',
                payment_status   text NOT NULL DEFAULT 'unpaid' CHECK (payment_status IN ('unpaid','in_escrow','partially_released',
                                 'released','refunded')),
                conversation_id  bigint,
                created_at       timestamptz NOT NULL DEFAULT now(),
                updated_at       timestamptz NOT NULL DEFAULT now(),
                CHECK (client_id <> craftsman_id)
            );
            CREATE INDEX projects_client ON projects (client_id);
            CREATE INDEX projects_craftsman ON projects (craftsman_id);
            CREATE TABLE milestones (
                id                bigserial PRIMARY KEY,
                project_id        bigint NOT NULL REFERENCES projects (id),
                title             text NOT NULL,
                due_on            date,
                amount            bigint CHECK (amount > 0),
                percentage        numeric(5,2) CHECK (percentage > 0 AND percentage <= 100),
                requires_approval boolean NOT NULL DEFAULT true,
                completed_at      timestamptz,
                approved_at       timestamptz,
                created_at        timestamptz NOT NULL DEFAULT now(),
                CHECK ((amount IS NULL) <> (percentage IS NULL))
            );
            CREATE SEQUENCE contract_numbers;
            CREATE TABLE contracts (
                id                  bigserial PRIMARY KEY,
                project_id          bigint NOT NULL REFERENCES projects (id),
                number              text NOT NULL UNIQUE,
                terms               jsonb NOT NULL,
                parent_id           bigint REFERENCES contracts (id),
                superseded_by       bigint REFERENCES contracts (id),
                client_signed_at    timestamptz,
                client_ip           text,
                craftsman_signed_at timestamptz,
                craftsman_ip        text,
                signed_at           timestamptz,
                expires_at          timestamptz NOT NULL,
                created_at          timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX contracts_project ON contracts (project_id);
            CREATE TABLE payments (
                id                 bigserial PRIMARY KEY,
                project_id         bigint NOT NULL REFERENCES projects (id),
                milestone_id       bigint REFERENCES milestones (id),
                type               text NOT NULL CHECK (type IN ('milestone','deposit','final','installment')),
                amount             bigint NOT NULL CHECK (amount > 0),
                currency           text NOT NULL DEFAULT 'RON',
                status             text NOT NULL CHECK (status IN ('pending','processing','completed','failed','refunded','disputed')),
                method             text NOT NULL CHECK (method IN ('card','bank_transfer','klarna')),
                escrow             boolean NOT NULL DEFAULT true,
                released_at        timestamptz,
                refunded_amount    bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
                platform_fee       bigint NOT NULL,
                provider_fee       bigint NOT NULL,
                net_amount         bigint NOT NULL,
                installment_number integer,
                installment_count  integer,
                provider_reference text NOT NULL,
                created_by         text NOT NULL,
                created_at         timestamptz NOT NULL DEFAULT now(),
                -- The split always adds up (see Fees.swift for the rounding).
                CHECK (amount - refunded_amount = platform_fee + provider_fee + net_amount)
            );
            CREATE INDEX payments_project ON payments (project_id, id);
            CREATE TABLE refunds (
                id         bigserial PRIMARY KEY,
                payment_id bigint NOT NULL REFERENCES payments (id),
                amount     bigint NOT NULL CHECK (amount > 0),
                reason     text NOT NULL,
                created_by text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            -- An Idempotency-Key replay returns the stored response.
            CREATE TABLE idempotency_keys (
                scope       text NOT NULL,
                key         text NOT NULL,
                fingerprint text NOT NULL,
                status      integer NOT NULL,
                response    jsonb NOT NULL,
                created_at  timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (scope, key)
            );
            CREATE TABLE audit_log (
                id          bigserial PRIMARY KEY,
                actor       text NOT NULL,
                action      text NOT NULL,
                entity_type text NOT NULL,
                entity_id   text NOT NULL,
                ip          text,
                details     jsonb NOT NULL DEFAULT '{}',
                at          timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id);
            """
        ),
        // From 6 on, each feature's migrations live beside its SQL.
        (6, NotificationMigrations.outputFunctions),
        (7, ScanMigrations.counterFunctions),
        (8, ChatMigrations.rules),
        (9, MarketMigrations.rules),
        (10, MarketMigrations.records),
        (11, ChatMigrations.messageProjection),
        (12, ChatMigrations.sendWithoutForeignKeyCheck),
        (13, ClusterMigrations.payloads),
    ]

    /// Applies the missing migrations; returns the versions applied.
    @discardableResult
    package static func apply(on connection: PGConnection) throws(PostgresError) -> [Int] {
        try connection.query("SELECT pg_advisory_lock(727274)")
        defer { _ = try? connection.query("SELECT pg_advisory_unlock(727274)") }
        try connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now())
            """)
        var done = Set<Int>()
        for row in try connection.query("SELECT version FROM schema_migrations") { done.insert(try row.int("version")) }
        var applied: [Int] = []
        for migration in all where !done.contains(migration.version) {
            try connection.query("BEGIN")
            do {
                try connection.executeScript(migration.sql)
                try connection.query("INSERT INTO schema_migrations (version) VALUES ($1)", [.int(migration.version)])
                try connection.query("COMMIT")
            } catch {
                _ = try? connection.query("ROLLBACK")
                throw error
            }
            applied.append(migration.version)
        }
        return applied
    }

    /// The newest version known to this build.
    public static var latestVersion: Int { all.last?.version ?? 0 }
}
