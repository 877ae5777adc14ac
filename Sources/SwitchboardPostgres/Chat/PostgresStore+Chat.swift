// Chat persistence: sends through the group-commit writer (gapless per-
// conversation seq, idempotent client_msg_id, membership enforced in SQL),
// opens and history through the reader.
import Foundation
import SwitchboardHub
import SwitchboardWire

extension PostgresStore: ChatStore {
    public func send(_ message: NewMessage, reply: Reply<SendOutcome>) {
        // Refused before it joins a batch (the writer also isolates a job
        // PostgreSQL rejects, but that costs the batch a second run).
        guard Self.storable(message) else { reply.fail(.invalidValue); return }
        writers.submit(sendJob(message, reply: reply))
    }

    /// The writer's job for a send (unchecked: `send` checks first).
    func sendJob(_ message: NewMessage, reply: Reply<SendOutcome>) -> WriteJob {
        let cache = memberCache
        let cached = cache.members(of: message.conversation)
        // The conversation's lane: its sends commit and are answered in seq order.
        let announcing = announcingAs != nil
        return WriteJob(
            Self.sendSQL(announcing: announcing),
            Self.sendValues(message, wantMembers: cached == nil) + (announcingAs.map { [.text($0)] } ?? []),
            lane: message.conversation, merger: announcing ? Self.announcingSendMerger : Self.sendMerger
        ) { result in
            reply(result.flatMap { Self.sendOutcome($0, cached: cached, cache: cache) })
        }
    }

    /// The answer to a send from its row (either form): none means not a
    /// member. Members come from the row when it has them (then remembered),
    /// else from the cache.
    private static func sendOutcome(_ rows: [Row], cached: [String]?, cache: MemberCache) -> Result<SendOutcome, HubError> {
        guard let row = rows.first else { return .failure(.notAMember) }
        return decoded { () throws(PostgresError) -> Result<SendOutcome, HubError> in
            // The key was used for another conversation or content: never ack
            // a message that is not the one sent.
            if try row.bool("mismatch") { return .failure(.clientMessageIDReused) }
            let conversation = try row.int64("conversation_id")
            var members = cached ?? []
            if let text = try row.optionalText("members") {
                members = stringArray(text)
                cache.remember(members, of: conversation)
            }
            return .success(
                SendOutcome(
                    id: try row.int64("id"), conversation: conversation, seq: try row.int64("seq"),
                    createdAtMillis: try row.int64("created_ms"), duplicate: try row.bool("duplicate"), members: members))
        }
    }

    /// Runs a decoding on the writer's thread: a row that does not decode is
    /// the store's failure.
    static func decoded<T>(_ body: () throws(PostgresError) -> Result<T, HubError>) -> Result<T, HubError> {
        do {
            return try body()
        } catch {
            return .failure(error.hubError)
        }
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
                if body[i + 1] == UInt8(ascii: "u"), i + 5 < body.count, body[(i + 2)...(i + 5)].elementsEqual("0000".utf8) {
                    return false
                }
                i += 2
            } else {
                i += 1
            }
        }
        return true
    }

    public func openConversation(
        _ id: ConversationID, user: String, since: Int64?, limit: Int, reply: Reply<ConversationSnapshot>
    ) {
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> ConversationSnapshot? in
                let head = try conn.query(
                    """
                    SELECT c.last_seq, chat_members(c.id) AS members
                    FROM conversations c, chat_member($1, $2) m
                    WHERE c.id = $1
                    """, [.int64(id), .text(user)])
                guard let row = head.first else { return nil }
                let lastSeq = try row.int64("last_seq")
                var messages: [StoredMessage] = []
                if let since, since < lastSeq {
                    messages = try Self.messages(
                        conn.query(
                            "SELECT * FROM chat_message_out WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                            [.int64(id), .int64(since), .int(limit)]))
                }
                return ConversationSnapshot(
                    members: Self.stringArray(try row.optionalText("members")), lastSeq: lastSeq, messages: messages)
            }, then: { result in reply(result.flatMap { $0.map { .success($0) } ?? .failure(.notAMember) }) })
    }

    public func markRead(_ id: ConversationID, user: String, seq: Int64, reply: Reply<Int64>) {
        writers.submit(
            WriteJob(
                """
                UPDATE conversation_members m
                SET last_read_seq = GREATEST(m.last_read_seq, LEAST($3::bigint, c.last_seq))
                FROM conversations c
                WHERE m.conversation_id = $1 AND m.user_id = $2 AND c.id = m.conversation_id
                RETURNING m.last_read_seq
                """, [.int64(id), .text(user), .int64(seq)], lane: id
            ) { result in
                reply(
                    result.flatMap { rows in
                        guard let row = rows.first else { return .failure(.notAMember) }
                        return Self.decoded { () throws(PostgresError) in .success(try row.int64("last_read_seq")) }
                    })
            })
    }

    public func createConversation(creator: String, participants: [String], projectID: String?, reply: Reply<CreatedConversation>)
    {
        let members = Array(Set(participants + [creator])).sorted()
        let key = JSON.array(members.map(JSON.string)).serialized
        // Unlaned: the id is not known before. It inserts a new conversation
        // (no other writer can know it yet) or, for an existing one, finds
        // its members already there: ON CONFLICT DO NOTHING takes no lock (it
        // may wait for a mark-read of that conversation to commit, one way).
        writers.submit(
            WriteJob(
                """
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
                """, [.text(projectID), .text(key), .text(creator)]
            ) { result in
                reply(
                    result.flatMap { rows in
                        guard let row = rows.first else { return .failure(.storeFailed) }
                        return Self.decoded { () throws(PostgresError) in
                            .success(CreatedConversation(id: try row.int64("id"), created: try row.bool("created")))
                        }
                    })
            })
    }

    public func history(
        _ id: ConversationID, user: String, before: Int64?, after: Int64?, limit: Int, reply: Reply<[StoredMessage]>
    ) {
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> Result<[StoredMessage], HubError> in
                let member = try conn.query("SELECT 1 FROM chat_member($1, $2)", [.int64(id), .text(user)])
                guard !member.isEmpty else {
                    // A stranger to an existing conversation is refused (403);
                    // one that does not exist is not found (404).
                    let exists = try conn.query("SELECT 1 FROM conversations WHERE id = $1", [.int64(id)])
                    return .failure(exists.isEmpty ? .noSuchConversation : .notAMember)
                }
                if let after {
                    // With `before` too: strictly between them, ascending.
                    return .success(
                        try Self.messages(
                            conn.query(
                                """
                                SELECT * FROM chat_message_out
                                WHERE conversation_id = $1 AND seq > $2 AND ($4::bigint IS NULL OR seq < $4)
                                ORDER BY seq LIMIT $3
                                """,
                                [.int64(id), .int64(after), .int(limit), .int64(before)])))
                }
                return .success(
                    try Self.messages(
                        conn.query(
                            """
                            SELECT * FROM chat_message_out
                            WHERE conversation_id = $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3
                            """,
                            [.int64(id), .int64(before), .int(limit)])
                    ).reversed())
            }, then: { result in reply(result.flatMap { $0 }) })
    }

    /// A message from the columns of `chat_message_out` (migration 11), each name after `prefix`.
    static func message(_ row: Row, prefix: String = "") throws(PostgresError) -> StoredMessage {
        StoredMessage(
            conversation: try row.int64(prefix + "conversation_id"), id: try row.int64(prefix + "id"),
            seq: try row.int64(prefix + "seq"), sender: try row.text(prefix + "sender_id"),
            clientMessageID: try row.text(prefix + "client_msg_id"), kind: try row.text(prefix + "kind"),
            body: try row.bytes(prefix + "body"), createdAtMillis: try row.int64(prefix + "created_ms"),
            editedAtMillis: try row.optionalInt64(prefix + "edited_ms"), deleted: try row.bool(prefix + "deleted"))
    }

    static func messages(_ rows: [Row]) throws(PostgresError) -> [StoredMessage] {
        var out: [StoredMessage] = []
        out.reserveCapacity(rows.count)
        for row in rows { out.append(try message(row)) }
        return out
    }

    static func stringArray(_ text: String?) -> [String] {
        guard let text, case .array(let items)? = try? JSON.parse(text) else { return [] }
        return items.compactMap(\.stringValue)
    }
}

extension PostgresStore: PresenceStore {
    // Presence is shared only through conversations both took part in
    // (SQL `chat_took_part`): opening a conversation with somebody does not
    // reveal whether they are online (their consent is taking part).

    public func contacts(of user: String, reply: Reply<[String]>) {
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> [String] in
                // Only conversations the user took part in: being added to one
                // by somebody else reveals nothing about the user.
                var contacts: [String] = []
                for row in try conn.query(
                    """
                    SELECT DISTINCT other.user_id FROM conversation_members mine
                    JOIN conversation_members other ON other.conversation_id = mine.conversation_id AND other.user_id <> $1
                    WHERE mine.user_id = $1 AND chat_took_part(mine.conversation_id, mine.user_id, mine.last_read_seq)
                    """, [.text(user)])
                { contacts.append(try row.text("user_id")) }
                return contacts
            }, reply: reply)
    }

    public func presence(asker: String, users: [String], reply: Reply<[String: Int64?]>) {
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> [String: Int64?] in
                let rows = try conn.query(
                    """
                    SELECT asked.u, epoch_ms(usr.last_seen_at) AS last_seen_ms
                    FROM unnest($2::text[]) AS asked(u)
                    LEFT JOIN users usr ON usr.id = asked.u
                    WHERE asked.u = $1 OR EXISTS (
                        SELECT 1 FROM conversation_members mine
                        JOIN conversation_members other ON other.conversation_id = mine.conversation_id
                        WHERE mine.user_id = $1 AND other.user_id = asked.u
                          AND chat_took_part(other.conversation_id, other.user_id, other.last_read_seq))
                    """, [.text(asker), .textArray(users)])
                var out: [String: Int64?] = [:]
                // updateValue, not `out[u] = x`: assigning a nil Int64? through the
                // subscript would remove the key (a user who never disconnected
                // has no last_seen and must still be answered).
                for row in rows { out.updateValue(try row.optionalInt64("last_seen_ms"), forKey: try row.text("u")) }
                return out
            }, reply: reply)
    }
}
