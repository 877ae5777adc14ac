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
        (
            6,
            """
            -- Shared pieces of the notification and quote statements, written once.
            -- Milliseconds since the epoch, as every API field carries times.
            CREATE OR REPLACE FUNCTION epoch_ms(t timestamptz) RETURNS bigint
                LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT (extract(epoch FROM t) * 1000)::bigint $$;
            -- A user's unread notifications.
            CREATE FUNCTION unread_notifications(u text) RETURNS bigint
                LANGUAGE sql STABLE AS $$ SELECT count(*) FROM notifications WHERE user_id = u AND read_at IS NULL $$;
            -- A notification as the hub reads it (columns named for typed decoding).
            CREATE TYPE notification_out AS (notification_id bigint, user_id text, kind text, title text, body text, data text,
                                             entity_type text, entity_id text, created_ms bigint, read_ms bigint);
            CREATE FUNCTION notification_out(n notifications) RETURNS notification_out
                LANGUAGE sql STABLE AS $$
                SELECT n.id, n.user_id, n.kind, n.title, n.body, n.data::text, n.entity_type, n.entity_id,
                       epoch_ms(n.created_at), epoch_ms(n.read_at) $$;
            -- A quote match as the hub reads it.
            CREATE TYPE quote_match_out AS (match_id bigint, request_id bigint, builder_id text, score integer, breakdown text,
                                            status text, estimate_min bigint, estimate_max bigint, proposal_summary text,
                                            matched_ms bigint, responded_ms bigint);
            CREATE FUNCTION quote_match_out(m quote_matches) RETURNS quote_match_out
                LANGUAGE sql STABLE AS $$
                SELECT m.id, m.request_id, m.builder_id, m.score, m.breakdown::text, m.status, m.estimate_min, m.estimate_max,
                       m.proposal_summary, epoch_ms(m.created_at), epoch_ms(m.responded_at) $$;
            """
        ),
        (7, ScanMigrations.counterFunctions),
        (
            8,
            """
            -- Chat's rules the statements share, written once.
            -- The member row of a user in a conversation, if a member: only
            -- members read a conversation and send in it. A set-returning SQL
            -- function, so the planner inlines it (a scalar one with a subquery
            -- would run per row of a batch).
            CREATE FUNCTION chat_member(conversation bigint, member text) RETURNS SETOF conversation_members
                LANGUAGE sql STABLE
                AS 'SELECT * FROM conversation_members WHERE conversation_id = $1 AND user_id = $2';
            -- The members of a conversation, sorted, as a JSON array text.
            CREATE FUNCTION chat_members(conversation bigint) RETURNS text
                LANGUAGE sql STABLE
                AS 'SELECT json_agg(user_id ORDER BY user_id)::text FROM conversation_members WHERE conversation_id = $1';
            -- The member took part in the conversation: created it, sent in it,
            -- or read it. Presence is shared only through such conversations.
            CREATE FUNCTION chat_took_part(conversation bigint, member text, last_read_seq bigint) RETURNS boolean
                LANGUAGE sql STABLE
                AS $$ SELECT $3 > 0
                      OR EXISTS (SELECT 1 FROM conversations WHERE id = $1 AND created_by = $2)
                      OR EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1 AND sender_id = $2) $$;
            -- Only the sender changes (edits, deletes) a message: not a system
            -- message, not after deleting it.
            CREATE FUNCTION chat_may_change(sender text, kind text, deleted_at timestamptz, caller text) RETURNS boolean
                LANGUAGE sql IMMUTABLE
                AS $$ SELECT $1 = $4 AND $2 <> 'system' AND $3 IS NULL $$;
            """
        ),
        // Market (issue 11): the pieces its statements share, as functions;
        // every value they need arrives as an argument.
        (
            9,
            """
            -- An amount in minor units as "1234.50 RON" (integer arithmetic), for texts.
            CREATE FUNCTION market_money(amount bigint, currency text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
                AS $$ SELECT ($1 / 100)::text || '.' || lpad(($1 % 100)::text, 2, '0') || ' ' || $2 $$;
            -- Fees.share: amount × basis points / per_whole, half up (the caller
            -- passes the constants of Fees.swift).
            CREATE FUNCTION market_fee_share(amount bigint, basis_points bigint, per_whole bigint) RETURNS bigint
                LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT ($1 * $2 + $3 / 2) / $3 $$;
            -- A notification for one user, returned for the hub to push.
            CREATE FUNCTION market_notify(recipient text, kind text, title text, body text, data jsonb,
                                          entity_type text, entity_id text) RETURNS SETOF notifications LANGUAGE sql
                AS $$ INSERT INTO notifications (user_id, kind, title, body, data, entity_type, entity_id)
                      VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING * $$;
            -- A `system` message in the project's conversation (none if it has
            -- none), at the conversation's next seq; returned for delivery.
            CREATE FUNCTION market_system_message(project bigint, message text) RETURNS SETOF messages LANGUAGE sql
                AS $$ WITH c AS (
                          UPDATE conversations c SET last_seq = c.last_seq + 1, last_message_at = now()
                          FROM projects pj WHERE pj.id = $1 AND c.id = pj.conversation_id
                          RETURNING c.id, c.last_seq)
                      INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, kind, body)
                      SELECT id, last_seq, 'system', 'system-' || id || '-' || last_seq, 'system', jsonb_build_object('text', $2) FROM c
                      RETURNING * $$;
            """
        ),
        // Market (issue 11): the records its statements answer, one function
        // per row type, called on whole rows. Scalar SQL functions without a
        // FROM, so the planner inlines them; the names are the columns the
        // store decodes by (MarketRows.swift).
        (
            10,
            """
            CREATE FUNCTION market_project_record(p projects) RETURNS jsonb LANGUAGE sql STABLE
                AS $$ SELECT jsonb_build_object('id', p.id, 'client', p.client_id, 'craftsman', p.craftsman_id, 'title', p.title,
                          'status', p.status, 'estimated_budget', p.estimated_budget, 'currency', p.currency,
                          'payment_status', p.payment_status, 'conversation', p.conversation_id,
                          'created_at', epoch_ms(p.created_at)) $$;
            -- A contract's status is derived: superseded, signed, expired or pending.
            CREATE FUNCTION market_contract_record(c contracts) RETURNS jsonb LANGUAGE sql STABLE
                AS $$ SELECT jsonb_build_object('id', c.id, 'project', c.project_id, 'number', c.number, 'terms', c.terms,
                          'parent', c.parent_id, 'superseded_by', c.superseded_by,
                          'client_signed_at', epoch_ms(c.client_signed_at), 'craftsman_signed_at', epoch_ms(c.craftsman_signed_at),
                          'signed_at', epoch_ms(c.signed_at), 'expires_at', epoch_ms(c.expires_at),
                          'status', CASE WHEN c.superseded_by IS NOT NULL THEN 'superseded' WHEN c.signed_at IS NOT NULL THEN 'signed'
                                         WHEN c.expires_at <= now() THEN 'expired' ELSE 'pending' END) $$;
            CREATE FUNCTION market_milestone_record(m milestones) RETURNS jsonb LANGUAGE sql STABLE
                AS $$ SELECT jsonb_build_object('id', m.id, 'project', m.project_id, 'title', m.title, 'due_on', m.due_on,
                          'amount', m.amount, 'percentage', m.percentage, 'requires_approval', m.requires_approval,
                          'completed_at', epoch_ms(m.completed_at), 'approved_at', epoch_ms(m.approved_at)) $$;
            -- Also the answer stored for an idempotency key (idempotency_keys.response).
            CREATE FUNCTION market_payment_record(p payments) RETURNS jsonb LANGUAGE sql STABLE
                AS $$ SELECT jsonb_build_object('id', p.id, 'project', p.project_id, 'milestone', p.milestone_id, 'type', p.type,
                          'amount', p.amount, 'currency', p.currency, 'status', p.status, 'method', p.method, 'escrow', p.escrow,
                          'released_at', epoch_ms(p.released_at), 'refunded_amount', p.refunded_amount,
                          'platform_fee', p.platform_fee, 'provider_fee', p.provider_fee, 'net_amount', p.net_amount,
                          'installment_number', p.installment_number, 'installment_count', p.installment_count,
                          'provider_reference', p.provider_reference, 'created_at', epoch_ms(p.created_at)) $$;
            -- A notification to push ('n' rows), as PostgresStore.notification(_:) reads it.
            CREATE FUNCTION market_notification_record(n notifications) RETURNS text LANGUAGE sql STABLE
                AS $$ SELECT json_build_object('id', n.id, 'user_id', n.user_id, 'kind', n.kind, 'title', n.title, 'body', n.body,
                          'data', n.data, 'entity_type', n.entity_type, 'entity_id', n.entity_id,
                          'created_at', epoch_ms(n.created_at), 'read_at', epoch_ms(n.read_at))::text $$;
            -- A system message to deliver ('s' rows), with its conversation's members.
            CREATE FUNCTION market_message_record(m messages) RETURNS jsonb LANGUAGE sql STABLE
                AS $$ SELECT jsonb_build_object('conversation', m.conversation_id, 'id', m.id, 'seq', m.seq,
                          'client_msg_id', m.client_msg_id, 'body', m.body, 'created_at', epoch_ms(m.created_at),
                          'members', chat_members(m.conversation_id)::jsonb) $$;
            -- A statement's refusal ('x' row): "code:message".
            CREATE FUNCTION market_refusal(refusal text) RETURNS text LANGUAGE sql STABLE
                AS $$ SELECT json_build_object('refusal', refusal)::text $$;
            """
        ),
        (
            11,
            """
            -- A message as the hub reads it (history, replays, the conversation
            -- list, edits): one projection for every chat statement. The view
            -- is inlined by the planner (indexes on messages still serve it);
            -- the function gives an UPDATE's RETURNING the same columns.
            CREATE VIEW chat_message_out AS
                SELECT id, conversation_id, seq, sender_id, client_msg_id, kind, body::text AS body,
                       epoch_ms(created_at) AS created_ms, epoch_ms(edited_at) AS edited_ms, deleted_at IS NOT NULL AS deleted
                FROM messages;
            CREATE FUNCTION chat_message_out(m messages) RETURNS chat_message_out LANGUAGE sql STABLE
                AS $$ SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.client_msg_id, m.kind, m.body::text,
                             epoch_ms(m.created_at), epoch_ms(m.edited_at), m.deleted_at IS NOT NULL $$;
            """
        ),
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
