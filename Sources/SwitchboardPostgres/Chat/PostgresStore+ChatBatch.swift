// The set-based form of a batch of sends: one statement for everything the
// group-commit writer drained, instead of one statement per message. Same
// rules as the single form (membership, idempotent client_msg_id, gapless
// per-conversation seq), same rows per job.
import SwitchboardWire

extension PostgresStore {
    static let batchSendSQL = """
        WITH input AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(ord int, conversation_id bigint, sender_id text, client_msg_id text,
                kind text, body jsonb, quote_amount bigint, quote_currency text, quote_valid_until bigint)
        ), firsts AS (
            SELECT DISTINCT ON (sender_id, client_msg_id) * FROM input ORDER BY sender_id, client_msg_id, ord
        ), existing AS (
            SELECT m.id, m.conversation_id, m.seq, m.created_at, m.sender_id, m.client_msg_id, m.kind, m.body, m.edited_at, m.deleted_at
            FROM messages m JOIN firsts f ON m.sender_id = f.sender_id AND m.client_msg_id = f.client_msg_id
        ), fresh AS (
            SELECT f.*, row_number() OVER (PARTITION BY f.conversation_id ORDER BY f.ord) AS n
            FROM firsts f
            WHERE EXISTS (SELECT 1 FROM conversation_members cm WHERE cm.conversation_id = f.conversation_id AND cm.user_id = f.sender_id)
              AND NOT EXISTS (SELECT 1 FROM existing e WHERE e.sender_id = f.sender_id AND e.client_msg_id = f.client_msg_id)
        ), counts AS (
            SELECT conversation_id, count(*) AS k FROM fresh GROUP BY conversation_id
        ), bumped AS (
            UPDATE conversations c SET last_seq = c.last_seq + counts.k, last_message_at = now()
            FROM counts WHERE c.id = counts.conversation_id
            RETURNING c.id, c.last_seq - counts.k AS base
        ), inserted AS (
            INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, kind, body, quote_amount, quote_currency, quote_valid_until)
            SELECT f.conversation_id, b.base + f.n, f.sender_id, f.client_msg_id, f.kind, f.body, f.quote_amount, f.quote_currency,
                   to_timestamp(f.quote_valid_until / 1000.0)
            FROM fresh f JOIN bumped b ON b.id = f.conversation_id
            RETURNING id, conversation_id, seq, created_at, sender_id, client_msg_id, kind, body
        ), members AS (
            SELECT cm.conversation_id, json_agg(cm.user_id ORDER BY cm.user_id)::text AS list
            FROM conversation_members cm WHERE cm.conversation_id IN (SELECT DISTINCT conversation_id FROM input)
            GROUP BY cm.conversation_id
        )
        SELECT i.ord, r.id, r.conversation_id, r.seq, (extract(epoch FROM r.created_at) * 1000)::bigint AS created_ms,
               (NOT r.fresh OR i.ord <> f.ord) AS duplicate, mb.list AS members,
               -- The job that inserted the row matches it; only repeats are compared.
               CASE WHEN r.fresh AND i.ord = f.ord THEN false
                    ELSE NOT \(sameContent("i.conversation_id", "i.kind", "i.body", table: "r")) END AS mismatch
        FROM input i
        JOIN firsts f ON f.sender_id = i.sender_id AND f.client_msg_id = i.client_msg_id
        JOIN (SELECT id, conversation_id, seq, created_at, sender_id, client_msg_id, kind, body, NULL::timestamptz AS edited_at,
                     NULL::timestamptz AS deleted_at, true AS fresh FROM inserted
              UNION ALL
              SELECT id, conversation_id, seq, created_at, sender_id, client_msg_id, kind, body, edited_at, deleted_at, false
              FROM existing) r
          ON r.sender_id = i.sender_id AND r.client_msg_id = i.client_msg_id
        LEFT JOIN members mb ON mb.conversation_id = r.conversation_id
        """

    /// Merges send jobs (params in the single form's order) into `batchSendSQL`.
    static let sendMerger = WriteMerger(key: "chat.send", combine: { jobs in
        var w = JSONWriter(capacity: jobs.count * 160)
        w.raw("[")
        for (ord, p) in jobs.enumerated() {
            if ord > 0 { w.raw(",") }
            w.raw("{\"ord\":"); w.int(ord)
            w.key("conversation_id"); w.raw(Array((p[0].wireText ?? "0").utf8))
            w.key("sender_id"); w.string(p[1].wireText ?? "")
            w.key("client_msg_id"); w.string(p[2].wireText ?? "")
            w.key("kind"); w.string(p[3].wireText ?? "text")
            // The body was validated as a JSON object when the frame was decoded.
            w.key("body"); w.raw(Array((p[4].wireText ?? "{}").utf8))
            w.key("quote_amount"); w.raw(Array((p[5].wireText ?? "null").utf8))
            w.key("quote_currency"); if let c = p[6].wireText { w.string(c) } else { w.raw("null") }
            w.key("quote_valid_until"); w.raw(Array((p[7].wireText ?? "null").utf8))
            w.raw("}")
        }
        w.raw("]")
        return (batchSendSQL, [.text(w.string)])
    }, split: { rows, count in
        var perJob = [[Row]](repeating: [], count: count)
        for row in rows {
            // The single form's columns by name, plus `ord`.
            if let ord = try? row.int("ord"), (0..<count).contains(ord) { perJob[ord] = [row] }
        }
        return perJob
    })
}
