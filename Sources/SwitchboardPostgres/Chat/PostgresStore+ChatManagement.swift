// Conversation lists, edits and deletions in SQL.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore: ChatManagementStore {
    public func listConversations(
        user: String, after cursor: (activityMicros: Int64, id: ConversationID)?, limit: Int,
        reply: Reply<[ConversationSummary]>
    ) {
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> [ConversationSummary] in
                let rows = try conn.query(
                    """
                    SELECT c.id, c.project_id, c.last_seq, m.last_read_seq,
                           chat_members(c.id) AS members,
                           (SELECT count(*) FROM messages x WHERE x.conversation_id = c.id AND x.seq > m.last_read_seq AND x.sender_id <> $1)
                               AS unread,
                           (extract(epoch FROM coalesce(c.last_message_at, c.created_at)) * 1000000)::bigint AS activity_us,
                           lm.id AS last_id, lm.conversation_id AS last_conversation_id, lm.seq AS last_seq_of_message,
                           lm.sender_id AS last_sender_id, lm.client_msg_id AS last_client_msg_id, lm.kind AS last_kind,
                           lm.body AS last_body, lm.created_ms AS last_created_ms, lm.edited_ms AS last_edited_ms,
                           lm.deleted AS last_deleted
                    FROM conversation_members m
                    JOIN conversations c ON c.id = m.conversation_id
                    LEFT JOIN LATERAL (SELECT * FROM chat_message_out WHERE conversation_id = c.id ORDER BY seq DESC LIMIT 1) lm ON true
                    WHERE m.user_id = $1 AND NOT m.archived
                      AND ($2::bigint IS NULL OR (date_trunc('microseconds', coalesce(c.last_message_at, c.created_at)), c.id)
                                                 < (to_timestamp($2::bigint / 1000000.0), $3::bigint))
                    ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC
                    LIMIT $4
                    """, [.text(user), .int64(cursor?.activityMicros), .int64(cursor?.id), .int(limit)])
                var list: [ConversationSummary] = []
                for row in rows {
                    let last = try row.optionalInt64("last_id") == nil ? nil : try Self.message(row, prefix: "last_")
                    list.append(
                        ConversationSummary(
                            id: try row.int64("id"), projectID: try row.optionalText("project_id"),
                            members: Self.stringArray(try row.optionalText("members")), lastSeq: try row.int64("last_seq"),
                            lastReadSeq: try row.int64("last_read_seq"), unread: try row.int64("unread"),
                            lastMessage: last, activityMicros: try row.int64("activity_us")))
                }
                return list
            }, reply: reply)
    }

    public func editMessage(_ id: Int64, sender: String, body: [UInt8], reply: Reply<StoredMessage>) {
        change(
            """
            UPDATE messages SET body = $3::jsonb, edited_at = now()
            WHERE id = $1 AND chat_may_change(sender_id, kind, deleted_at, $2)
            RETURNING (chat_message_out(messages)).*
            """, [.int64(id), .text(sender), .json(body)], message: id, reply: reply)
    }

    public func deleteMessage(_ id: Int64, sender: String, reply: Reply<StoredMessage>) {
        change(
            """
            UPDATE messages SET body = '{}'::jsonb, deleted_at = now()
            WHERE id = $1 AND chat_may_change(sender_id, kind, deleted_at, $2)
            RETURNING (chat_message_out(messages)).*
            """, [.int64(id), .text(sender)], message: id, reply: reply)
    }

    /// Runs an UPDATE … RETURNING one message through the writer of the
    /// message's conversation and answers the row.
    private func change(_ sql: String, _ values: [SQLValue], message: Int64, reply: Reply<StoredMessage>) {
        submit(
            WriteJob(sql, values) { result in
                reply(
                    result.flatMap { rows in
                        guard let row = rows.first else { return .failure(.notTheSender) }
                        return Self.decoded { () throws(PostgresError) in .success(try Self.message(row)) }
                    })
            }, on: .message(message))
    }
}
