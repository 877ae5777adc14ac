// The send statement, written once: it takes typed arrays of messages — one
// element for a single send, many when the group-commit writer merges a
// batch — and applies the rules (membership, idempotent client_msg_id,
// gapless per-conversation seq) to all of them in one statement.
//
// Its cost per message is close to a plain multi-row insert's (issue 12,
// loadtest/RESULTS.md): typed arrays instead of a JSON document to take
// apart; each message probed once for its key and once for its sender's
// membership (index lookups); one UPDATE per conversation that moves
// `last_seq` and hands the conversation's new rows to the INSERT as arrays,
// so no step joins two sets of the batch (the planner cannot size them, and
// a nested loop over two of them grows with the square of the batch); ids
// drawn before the insert, so the answer needs no join back to the input;
// members read only for conversations the store has not cached.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore {
    /// `$1`…`$8`: the messages, column by column (`bigint[]` conversation,
    /// `text[]` sender, client id, kind, body as JSON text, `bigint[]` quote
    /// amount, `text[]` currency, `bigint[]` valid-until ms). `$9`: the
    /// conversations whose members to return (`bigint[]`). One row per input
    /// message, `ord` its 1-based position; no row: the sender is not a member.
    static func sendSQL(announcing: Bool) -> String { announcing ? announcingSendSQL : sendSQL }

    /// `sendSQL` that also tells the other nodes, in the committing
    /// transaction, how far each conversation it wrote now goes
    /// (`$10`: this node's name): a control message `chat.heads`
    /// (`{"h":[["<conversation>",<last seq>],…]}`, 200 conversations per
    /// message, each well under NOTIFY's limit) in PostgresLink's payload
    /// format. They hear it only if the batch commits, in commit order, even
    /// if this node dies before it publishes the messages: a node whose
    /// subscribers then miss them reads them back (Hub+Repair.swift).
    static let announcingSendSQL = sendStatement(
        announced: """
            , announced AS (
                SELECT pg_notify('\(PostgresLink.channel)', octet_length(m)::text || ':' || m) AS n
                FROM (
                    SELECT json_build_object('o', $10::text, 't', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
                                             'k', 'c', 'tp', 'chat.heads')::text || chr(10)
                           || json_build_object('h', json_agg(json_build_array(p.id::text, p.base + cardinality(p.ords))))::text AS m
                    FROM (SELECT id, base, ords, (row_number() OVER ()) / 200 AS part FROM bumped) p
                    GROUP BY p.part
                ) parts
            )
            """,
        join: "\n        CROSS JOIN (SELECT count(*) FROM announced) announcing")

    static let sendSQL = sendStatement(announced: "", join: "")

    private static func sendStatement(announced: String, join announcedJoin: String) -> String {
        """
        WITH input AS MATERIALIZED (
            -- A key repeated inside the batch: the first send writes, the others repeat it.
            SELECT t.*, min(t.ord) OVER (PARTITION BY t.sender_id, t.client_msg_id) AS first_ord
            FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::bigint[])
                WITH ORDINALITY AS t(conversation_id, sender_id, client_msg_id, kind, body, quote_amount, quote_currency,
                                     quote_valid_until, ord)
        ), checked AS MATERIALIZED (
            -- Each first send: the message its key already stored, if any, and whether its sender is a member.
            SELECT i.*, m.id AS stored_id, m.conversation_id AS stored_conversation, m.seq AS stored_seq,
                   m.created_at AS stored_at, m.kind AS stored_kind, m.body AS stored_body,
                   (m.edited_at IS NOT NULL OR m.deleted_at IS NOT NULL) AS stored_changed,
                   EXISTS (SELECT 1 FROM chat_member(i.conversation_id, i.sender_id)) AS member
            FROM input i LEFT JOIN messages m ON m.sender_id = i.sender_id AND m.client_msg_id = i.client_msg_id
            WHERE i.ord = i.first_ord
        ), groups AS (
            -- The new messages of each conversation, in batch order.
            SELECT conversation_id, count(*) AS k, array_agg(ord ORDER BY ord) AS ords,
                   array_agg(sender_id ORDER BY ord) AS senders, array_agg(client_msg_id ORDER BY ord) AS client_ids,
                   array_agg(kind ORDER BY ord) AS kinds, array_agg(body ORDER BY ord) AS bodies,
                   array_agg(quote_amount ORDER BY ord) AS amounts, array_agg(quote_currency ORDER BY ord) AS currencies,
                   array_agg(quote_valid_until ORDER BY ord) AS valid_until
            FROM checked WHERE stored_id IS NULL AND member GROUP BY conversation_id
        ), bumped AS (
            UPDATE conversations c SET last_seq = c.last_seq + g.k, last_message_at = now()
            FROM groups g WHERE c.id = g.conversation_id
            RETURNING c.id, c.last_seq - g.k AS base, g.ords, g.senders, g.client_ids, g.kinds, g.bodies, g.amounts,
                      g.currencies, g.valid_until, CASE WHEN c.id = ANY($9::bigint[]) THEN chat_members(c.id) END AS members
        )\(announced), fresh AS MATERIALIZED (
            SELECT nextval('messages_id_seq') AS id, b.id AS conversation_id, b.base + u.n AS seq, b.members, u.*
            FROM bumped b,
                 unnest(b.ords, b.senders, b.client_ids, b.kinds, b.bodies, b.amounts, b.currencies, b.valid_until)
                     WITH ORDINALITY AS u(ord, sender_id, client_msg_id, kind, body, quote_amount, quote_currency,
                                          quote_valid_until, n)
        ), inserted AS (
            -- created_at defaults to now(): the answer's created_ms without reading the rows back.
            -- In key order: a sender's keys are unique across conversations, so two writers
            -- inserting the same keys wait for each other in one order, never in a cycle.
            INSERT INTO messages (id, conversation_id, seq, sender_id, client_msg_id, kind, body, quote_amount, quote_currency,
                                  quote_valid_until)
            SELECT id, conversation_id, seq, sender_id, client_msg_id, kind, body::jsonb, quote_amount, quote_currency,
                   to_timestamp(quote_valid_until / 1000.0)
            FROM fresh ORDER BY sender_id, client_msg_id
        ), outcomes AS (
            -- What each first send ended as: written now, or stored before.
            SELECT ord, id, conversation_id, seq, now() AS created_at, kind, body::jsonb AS body, false AS changed, members
            FROM fresh
            UNION ALL
            SELECT ord, stored_id, stored_conversation, stored_seq, stored_at, stored_kind, stored_body, stored_changed,
                   CASE WHEN stored_conversation = ANY($9::bigint[]) THEN chat_members(stored_conversation) END
            FROM checked WHERE stored_id IS NOT NULL
        )
        -- Three parts; only the last joins two sets of the batch, and only its repeated keys.
        SELECT ord, id, conversation_id, seq, epoch_ms(now()) AS created_ms, false AS duplicate, members, false AS mismatch
        FROM fresh\(announcedJoin)
        UNION ALL
        -- A repeated key (stored before, or earlier in the batch) must come
        -- with the same conversation, kind and body (jsonb equality: key
        -- order and spacing do not matter); a message its sender edited or
        -- deleted since no longer has its first body, so the key and
        -- conversation decide then.
        SELECT ord, stored_id, stored_conversation, stored_seq, epoch_ms(stored_at), true,
               CASE WHEN stored_conversation = ANY($9::bigint[]) THEN chat_members(stored_conversation) END,
               NOT (stored_conversation = conversation_id AND stored_kind = kind AND (stored_changed OR stored_body = body::jsonb))
        FROM checked WHERE stored_id IS NOT NULL
        UNION ALL
        SELECT i.ord, o.id, o.conversation_id, o.seq, epoch_ms(o.created_at), true, o.members,
               NOT (o.conversation_id = i.conversation_id AND o.kind = i.kind AND (o.changed OR o.body = i.body::jsonb))
        FROM (SELECT * FROM input WHERE ord <> first_ord) i JOIN outcomes o ON o.ord = i.first_ord
        """
    }

    /// One message as the single form of `sendSQL`'s parameters: arrays of
    /// one element; `wantMembers`: its conversation's members are answered.
    static func sendValues(_ m: NewMessage, wantMembers: Bool) -> [SQLValue] {
        [
            .int64Array([m.conversation]), .textArray([m.sender]), .textArray([m.clientMessageID]),
            .textArray([m.kind.rawValue]),
            // The body was validated as a JSON object when the frame was decoded.
            .textArray([String(decoding: m.body, as: UTF8.self)]),
            .optionalInt64Array([m.quoteAmount]), .optionalTextArray([m.quoteCurrency]),
            .optionalInt64Array([m.quoteValidUntilMillis]), .int64Array(wantMembers ? [m.conversation] : []),
        ]
    }

    /// Merges send jobs into one statement: each parameter array is the
    /// concatenation of the jobs' arrays; one row per job, found by `ord`.
    static let sendMerger = WriteMerger(
        key: "chat.send",
        combine: { jobs in
            let columns = jobs.first?.count ?? 0
            return (sendSQL, (0..<columns).map { c in SQLValue.concatenatingArrays(jobs.map { $0[c] }) })
        },
        split: splitSends)

    /// `sendMerger` for `announcingSendSQL`: the nine arrays concatenated,
    /// the node's name (`$10`, the same in every job) once.
    static let announcingSendMerger = WriteMerger(
        key: "chat.send.announcing",
        combine: { jobs in
            let arrays = (0..<9).map { c in SQLValue.concatenatingArrays(jobs.map { $0[c] }) }
            return (announcingSendSQL, arrays + [jobs.first?.last ?? .null])
        },
        split: splitSends)

    private static let splitSends: @Sendable ([Row], Int) -> [[Row]] = { rows, count in
        var perJob = [[Row]](repeating: [], count: count)
        for row in rows {
            if let ord = try? row.int("ord"), ord >= 1, ord <= count { perJob[ord - 1] = [row] }
        }
        return perJob
    }
}
