// Chat persistence: sends through the group-commit writer (gapless per-
// conversation seq, idempotent client_msg_id, membership enforced in SQL),
// opens and history through the reader.
import Foundation
import SwitchboardHub
import SwitchboardWire

extension PostgresStore: ChatStore {
    /// One statement: membership check, duplicate lookup, seq allocation
    /// (row lock on the conversation), insert, members. No row: not a member.
    static let sendSQL = """
        WITH member AS (
            SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND user_id = $2
        ), existing AS (
            SELECT id, conversation_id, seq, created_at, \(sameContent("$1", "$4", "$5::jsonb")) AS same
            FROM messages WHERE sender_id = $2 AND client_msg_id = $3
        ), bumped AS (
            UPDATE conversations SET last_seq = last_seq + 1, last_message_at = now()
            WHERE id = $1 AND EXISTS (SELECT 1 FROM member) AND NOT EXISTS (SELECT 1 FROM existing)
            RETURNING last_seq
        ), inserted AS (
            INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, kind, body,
                                  quote_amount, quote_currency, quote_valid_until)
            SELECT $1, last_seq, $2, $3, $4, $5::jsonb, $6::bigint, $7, to_timestamp($8::bigint / 1000.0) FROM bumped
            RETURNING id, conversation_id, seq, created_at
        ), result AS (
            SELECT id, conversation_id, seq, created_at, false AS duplicate, true AS same FROM inserted
            UNION ALL
            SELECT id, conversation_id, seq, created_at, true, same FROM existing
        )
        SELECT r.id, r.conversation_id, r.seq, (extract(epoch FROM r.created_at) * 1000)::bigint AS created_ms, r.duplicate,
               (SELECT json_agg(user_id ORDER BY user_id) FROM conversation_members WHERE conversation_id = r.conversation_id)::text
                   AS members,
               NOT r.same AS mismatch
        FROM result r
        """

    /// True when the stored message `m` has the content of a repeated send:
    /// same conversation, kind and body (jsonb equality: key order and
    /// spacing do not matter). A message its sender edited or deleted since
    /// no longer has its first body; the key and conversation decide then.
    static func sameContent(_ conversation: String, _ kind: String, _ body: String, table m: String = "messages") -> String {
        "(\(m).conversation_id = \(conversation) AND \(m).kind = \(kind) AND (\(m).body = \(body) "
            + "OR \(m).edited_at IS NOT NULL OR \(m).deleted_at IS NOT NULL))"
    }

    public func send(_ message: NewMessage, reply: @escaping (Result<SendOutcome, ChatFailure>) -> Void) {
        let deliver = self.deliver
        // Refused before it joins a batch (the writer also isolates a job
        // PostgreSQL rejects, but that costs the batch a second run).
        guard Self.storable(message) else { deliver { reply(.failure(.invalidValue)) }; return }
        let values: [SQLValue] = [.int64(message.conversation), .text(message.sender), .text(message.clientMessageID),
                                  .text(message.kind.rawValue), .json(message.body), .int64(message.quoteAmount),
                                  .text(message.quoteCurrency), .int64(message.quoteValidUntilMillis)]
        writer.submit(WriteJob(Self.sendSQL, values, merger: Self.sendMerger) { result in
            let outcome: Result<SendOutcome, ChatFailure>
            switch result {
            case .failure(let error): outcome = .failure(ChatFailure(StoreError(legacy: error)))
            case .success(let rows):
                do {
                    outcome = try Self.sendOutcome(rows)
                } catch {
                    outcome = .failure(.failed)
                }
            }
            deliver { reply(outcome) }
        })
    }

    /// The answer to a send from its row (either form): none means not a member.
    private static func sendOutcome(_ rows: [Row]) throws(PostgresError) -> Result<SendOutcome, ChatFailure> {
        guard let row = rows.first else { return .failure(.forbidden) }
        // The key was used for another conversation or content: never ack a
        // message that is not the one sent.
        if try row.bool("mismatch") { return .failure(.idempotencyMismatch) }
        return .success(SendOutcome(id: try row.int64("id"), conversation: try row.int64("conversation_id"), seq: try row.int64("seq"),
                                    createdAtMillis: try row.int64("created_ms"), duplicate: try row.bool("duplicate"),
                                    members: stringArray(try row.optionalText("members"))))
    }

    /// Timestamps PostgreSQL stores without doubt: years 1 to 9999, in ms.
    static let storableMillis: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// False for a message PostgreSQL would reject: NUL in a text value, a
    /// `\u0000` escape in the body (jsonb refuses it), a time out of range.
    static func storable(_ m: NewMessage) -> Bool {
        let texts = [m.sender, m.clientMessageID, m.quoteCurrency ?? ""]
        guard !texts.contains(where: { $0.utf8.contains(0) }), !m.body.contains(0) else { return false }
        if let until = m.quoteValidUntilMillis, !storableMillis.contains(until) { return false }
        // Walk the JSON text's escapes: only a real `\u0000` counts, not an
        // escaped backslash followed by "u0000".
        var i = 0
        let body = m.body
        while i < body.count {
            if body[i] == UInt8(ascii: "\\"), i + 1 < body.count {
                if body[i + 1] == UInt8(ascii: "u"), i + 5 < body.count, body[(i + 2)...(i + 5)].elementsEqual("0000".utf8) { return false }
                i += 2
            } else {
                i += 1
            }
        }
        return true
    }

    public func openConversation(_ id: ConversationID, user: String, since: Int64?, limit: Int,
                                 reply: @escaping (Result<ConversationSnapshot, ChatFailure>) -> Void) {
        let deliver = self.deliver
        reader.read({ (conn: PGConnection) throws(PostgresError) -> ConversationSnapshot? in
            let head = try conn.execute("""
                SELECT c.last_seq,
                       (SELECT json_agg(user_id ORDER BY user_id) FROM conversation_members WHERE conversation_id = c.id)::text
                FROM conversations c
                JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $2
                WHERE c.id = $1
                """, [String(id), user])
            guard let row = head.first, let lastSeq = row[0].flatMap({ Int64($0) }) else { return nil }
            var messages: [StoredMessage] = []
            if let since, since < lastSeq {
                messages = try conn.execute(Self.messageColumns + " WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                                            [String(id), String(since), String(limit)]).compactMap(Self.message)
            }
            return ConversationSnapshot(members: Self.stringArray(row[1]), lastSeq: lastSeq, messages: messages)
        }, completion: { result in
            let outcome: Result<ConversationSnapshot, ChatFailure> = switch result {
            case .success(let snapshot?): .success(snapshot)
            case .success(nil): .failure(.forbidden)
            case .failure(let error): .failure(ChatFailure(error))
            }
            deliver { reply(outcome) }
        })
    }

    public func markRead(_ id: ConversationID, user: String, seq: Int64, reply: @escaping (Result<Int64, ChatFailure>) -> Void) {
        let deliver = self.deliver
        writer.submit(WriteJob(sql: """
            UPDATE conversation_members m
            SET last_read_seq = GREATEST(m.last_read_seq, LEAST($3::bigint, c.last_seq))
            FROM conversations c
            WHERE m.conversation_id = $1 AND m.user_id = $2 AND c.id = m.conversation_id
            RETURNING m.last_read_seq
            """, params: [String(id), user, String(seq)], survivesOutage: false) { result in
            let outcome: Result<Int64, ChatFailure> = switch result {
            case .failure(let error): .failure(ChatFailure(error))
            case .success(let rows): rows.first?[0].flatMap { Int64($0) }.map { .success($0) } ?? .failure(.forbidden)
            }
            deliver { reply(outcome) }
        })
    }

    public func createConversation(creator: String, participants: [String], projectID: String?,
                                   reply: @escaping (Result<(id: ConversationID, created: Bool), ChatFailure>) -> Void) {
        let deliver = self.deliver
        let members = Array(Set(participants + [creator])).sorted()
        let key = JSON.array(members.map(JSON.string)).serialized
        writer.submit(WriteJob(sql: """
            WITH inserted AS (
                INSERT INTO conversations (project_id, participants_key, created_by) VALUES ($1, $2, $3)
                ON CONFLICT (participants_key, coalesce(project_id, '')) DO NOTHING
                RETURNING id
            ), conversation AS (
                SELECT id, true AS created FROM inserted
                UNION ALL
                SELECT id, false FROM conversations WHERE participants_key = $2 AND coalesce(project_id, '') = coalesce($1, '')
            ), joined AS (
                INSERT INTO conversation_members (conversation_id, user_id)
                SELECT c.id, m FROM conversation c, json_array_elements_text($2::json) m
                ON CONFLICT DO NOTHING
            )
            SELECT id, created FROM conversation LIMIT 1
            """, params: [projectID, key, creator], survivesOutage: false) { result in
            let outcome: Result<(id: ConversationID, created: Bool), ChatFailure> = switch result {
            case .failure(let error): .failure(ChatFailure(error))
            case .success(let rows):
                rows.first.flatMap { row in row[0].flatMap { Int64($0) }.map { (id: $0, created: row[1] == "t") } }
                    .map { .success($0) } ?? .failure(.failed)
            }
            deliver { reply(outcome) }
        })
    }

    public func history(_ id: ConversationID, user: String, before: Int64?, after: Int64?, limit: Int,
                        reply: @escaping (Result<[StoredMessage], ChatFailure>) -> Void) {
        let deliver = self.deliver
        reader.read({ (conn: PGConnection) throws(PostgresError) -> [StoredMessage]? in
            let member = try conn.execute("SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND user_id = $2",
                                          [String(id), user])
            guard !member.isEmpty else { return nil }
            if let after {
                return try conn.execute(Self.messageColumns + " WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                                        [String(id), String(after), String(limit)]).compactMap(Self.message)
            }
            return try conn.execute(Self.messageColumns
                + " WHERE conversation_id = $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3",
                [String(id), before.map(String.init), String(limit)]).compactMap(Self.message).reversed()
        }, completion: { result in
            let outcome: Result<[StoredMessage], ChatFailure> = switch result {
            case .success(let messages?): .success(messages)
            case .success(nil): .failure(.forbidden)
            case .failure(let error): .failure(ChatFailure(error))
            }
            deliver { reply(outcome) }
        })
    }

    static let messageColumns = """
        SELECT id, conversation_id, seq, sender_id, client_msg_id, kind, body::text,
               (extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM edited_at) * 1000)::bigint,
               deleted_at IS NOT NULL
        FROM messages
        """

    static func message(_ row: [String?]) -> StoredMessage? {
        guard let id = row[0].flatMap({ Int64($0) }), let conversation = row[1].flatMap({ Int64($0) }),
              let seq = row[2].flatMap({ Int64($0) }), let sender = row[3], let clientID = row[4],
              let kind = row[5].flatMap(MessageKind.init(rawValue:)), let body = row[6],
              let created = row[7].flatMap({ Int64($0) }) else { return nil }
        return StoredMessage(conversation: conversation, id: id, seq: seq, sender: sender, clientMessageID: clientID, kind: kind.rawValue,
                             body: Array(body.utf8), createdAtMillis: created, editedAtMillis: row[8].flatMap { Int64($0) },
                             deleted: row[9] == "t")
    }

    static func stringArray(_ text: String?) -> [String] {
        guard let text, case .array(let items)? = try? JSON.parse(text) else { return [] }
        return items.compactMap(\.stringValue)
    }
}

extension PostgresStore: PresenceStore {
    /// SQL: the member row `m` took part in its conversation — created it,
    /// sent a message in it, or read it. Presence is shared only through such
    /// conversations, so opening a conversation with somebody does not reveal
    /// whether they are online (their consent is taking part).
    static func tookPart(_ m: String) -> String {
        """
        (\(m).last_read_seq > 0
         OR EXISTS (SELECT 1 FROM conversations tc WHERE tc.id = \(m).conversation_id AND tc.created_by = \(m).user_id)
         OR EXISTS (SELECT 1 FROM messages tm WHERE tm.conversation_id = \(m).conversation_id AND tm.sender_id = \(m).user_id))
        """
    }

    public func contacts(of user: String, reply: Reply<[String]>) {
        reader.read({ (conn: PGConnection) throws(PostgresError) -> [String] in
            // Only conversations the user took part in: being added to one
            // by somebody else reveals nothing about the user.
            try conn.execute("""
                SELECT DISTINCT other.user_id FROM conversation_members mine
                JOIN conversation_members other ON other.conversation_id = mine.conversation_id AND other.user_id <> $1
                WHERE mine.user_id = $1 AND \(Self.tookPart("mine"))
                """, [user]).compactMap { $0[0] }
        }, completion: { reply($0.mapError(\.hubError)) })
    }

    public func presence(asker: String, users: [String], reply: Reply<[String: Int64?]>) {
        let list = JSON.array(users.map(JSON.string)).serialized
        reader.read({ (conn: PGConnection) throws(PostgresError) -> [String: Int64?] in
            let rows = try conn.execute("""
                SELECT asked.u, (extract(epoch FROM usr.last_seen_at) * 1000)::bigint
                FROM json_array_elements_text($2::json) AS asked(u)
                LEFT JOIN users usr ON usr.id = asked.u
                WHERE asked.u = $1 OR EXISTS (
                    SELECT 1 FROM conversation_members mine
                    JOIN conversation_members other ON other.conversation_id = mine.conversation_id
                    WHERE mine.user_id = $1 AND other.user_id = asked.u AND \(Self.tookPart("other")))
                """, [asker, list])
            var out: [String: Int64?] = [:]
            // updateValue, not `out[u] = x`: assigning a nil Int64? through the
            // subscript would remove the key (a user who never disconnected
            // has no last_seen and must still be answered).
            for row in rows { if let u = row[0] { out.updateValue(row[1].flatMap { Int64($0) }, forKey: u) } }
            return out
        }, completion: { reply($0.mapError(\.hubError)) })
    }
}
