// The send statement, written once: it takes a JSON array of messages — one
// for a single send, many when the group-commit writer merges a batch — and
// applies the rules (membership, idempotent client_msg_id, gapless
// per-conversation seq) to all of them in one statement.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore {
    /// `$1`: a JSON array of `sendRecord`s. One row per input message,
    /// `ord` its 1-based position; no row: the sender is not a member.
    static let sendSQL = """
        WITH input AS (
            SELECT * FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (conversation_id bigint, sender_id text, client_msg_id text,
                kind text, body jsonb, quote_amount bigint, quote_currency text, quote_valid_until bigint))
                WITH ORDINALITY AS t(conversation_id, sender_id, client_msg_id, kind, body, quote_amount, quote_currency,
                                     quote_valid_until, ord)
        ), firsts AS (
            -- A key repeated inside the batch: the first send writes, the others repeat it.
            SELECT DISTINCT ON (sender_id, client_msg_id) * FROM input ORDER BY sender_id, client_msg_id, ord
        ), existing AS (
            SELECT m.id, m.conversation_id, m.seq, m.created_at, m.sender_id, m.client_msg_id, m.kind, m.body, m.edited_at, m.deleted_at
            FROM messages m JOIN firsts f ON m.sender_id = f.sender_id AND m.client_msg_id = f.client_msg_id
        ), fresh AS (
            SELECT f.*, row_number() OVER (PARTITION BY f.conversation_id ORDER BY f.ord) AS n
            FROM firsts f
            WHERE EXISTS (SELECT 1 FROM chat_member(f.conversation_id, f.sender_id))
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
            SELECT d.conversation_id, chat_members(d.conversation_id) AS list FROM (SELECT DISTINCT conversation_id FROM input) d
        )
        SELECT i.ord, r.id, r.conversation_id, r.seq, epoch_ms(r.created_at) AS created_ms,
               (NOT r.fresh OR i.ord <> f.ord) AS duplicate, mb.list AS members,
               -- A repeated key must come with the same conversation, kind and
               -- body (jsonb equality: key order and spacing do not matter); a
               -- message its sender edited or deleted since no longer has its
               -- first body, so the key and conversation decide then. The job
               -- that inserted the row matches it.
               CASE WHEN r.fresh AND i.ord = f.ord THEN false
                    ELSE NOT (r.conversation_id = i.conversation_id AND r.kind = i.kind
                              AND (r.body = i.body OR r.edited_at IS NOT NULL OR r.deleted_at IS NOT NULL)) END AS mismatch
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

    /// One message as an element of `sendSQL`'s array (JSON object text).
    static func sendRecord(_ m: NewMessage) -> [UInt8] {
        var w = JSONWriter(capacity: 160 + m.body.count)
        w.raw("{\"conversation_id\":"); w.int(m.conversation)
        w.key("sender_id"); w.string(m.sender)
        w.key("client_msg_id"); w.string(m.clientMessageID)
        w.key("kind"); w.string(m.kind.rawValue)
        // The body was validated as a JSON object when the frame was decoded.
        w.key("body"); w.raw(m.body)
        w.key("quote_amount"); if let a = m.quoteAmount { w.int(a) } else { w.raw("null") }
        w.key("quote_currency"); if let c = m.quoteCurrency { w.string(c) } else { w.raw("null") }
        w.key("quote_valid_until"); if let u = m.quoteValidUntilMillis { w.int(u) } else { w.raw("null") }
        w.raw("}")
        return w.bytes
    }

    /// Merges send jobs (each `[record]`) into one array: same statement,
    /// one row per job found by `ord`.
    static let sendMerger = WriteMerger(
        key: "chat.send",
        combine: { jobs in
            var array: [UInt8] = [UInt8(ascii: "[")]
            for (index, values) in jobs.enumerated() {
                if index > 0 { array.append(UInt8(ascii: ",")) }
                // Each job's only value is `[record]`: its record is inside the brackets.
                let single = Array((values.first?.wireText ?? "[]").utf8)
                array.append(contentsOf: single.dropFirst().dropLast())
            }
            array.append(UInt8(ascii: "]"))
            return (sendSQL, [.json(array)])
        },
        split: { rows, count in
            var perJob = [[Row]](repeating: [], count: count)
            for row in rows {
                if let ord = try? row.int("ord"), ord >= 1, ord <= count { perJob[ord - 1] = [row] }
            }
            return perJob
        })
}
