// The SQL functions and types of the notification and quote statements,
// created by their own migration (number 6 in `Migrations.all`).

/// Migrations of the notification and quote tables.
enum NotificationMigrations {
    /// Notifications and quote matches as the hub reads them, and `epoch_ms` (migration 6).
    static let outputFunctions = """
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
}
