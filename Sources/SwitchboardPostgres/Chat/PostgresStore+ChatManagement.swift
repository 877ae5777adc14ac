// Conversation lists, edits and deletions in SQL.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore: ChatManagementStore {
    public func listConversations(user: String, after cursor: (activityMicros: Int64, id: ConversationID)?, limit: Int,
                                  reply: @escaping (Result<[ConversationSummary], ChatFailure>) -> Void) {
        let deliver = self.deliver
        reader.read({ (conn: PGConnection) throws(PostgresError) -> [ConversationSummary] in
            let rows = try conn.execute("""
                SELECT c.id, c.project_id, c.last_seq, m.last_read_seq,
                       (SELECT json_agg(user_id ORDER BY user_id) FROM conversation_members WHERE conversation_id = c.id)::text,
                       (SELECT count(*) FROM messages x WHERE x.conversation_id = c.id AND x.seq > m.last_read_seq AND x.sender_id <> $1),
                       (extract(epoch FROM coalesce(c.last_message_at, c.created_at)) * 1000000)::bigint,
                       lm.id, lm.seq, lm.sender_id, lm.client_msg_id, lm.kind, lm.body::text,
                       (extract(epoch FROM lm.created_at) * 1000)::bigint, (extract(epoch FROM lm.edited_at) * 1000)::bigint,
                       lm.deleted_at IS NOT NULL
                FROM conversation_members m
                JOIN conversations c ON c.id = m.conversation_id
                LEFT JOIN LATERAL (SELECT * FROM messages WHERE conversation_id = c.id ORDER BY seq DESC LIMIT 1) lm ON true
                WHERE m.user_id = $1 AND NOT m.archived
                  AND ($2::bigint IS NULL OR (date_trunc('microseconds', coalesce(c.last_message_at, c.created_at)), c.id)
                                             < (to_timestamp($2::bigint / 1000000.0), $3::bigint))
                ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC
                LIMIT $4
                """, [user, cursor.map { String($0.activityMicros) }, cursor.map { String($0.id) }, String(limit)])
            return rows.compactMap { row in
                guard let id = row[0].flatMap({ Int64($0) }), let lastSeq = row[2].flatMap({ Int64($0) }),
                      let read = row[3].flatMap({ Int64($0) }), let activity = row[6].flatMap({ Int64($0) }) else { return nil }
                let last = Self.message([row[7], row[0], row[8], row[9], row[10], row[11], row[12], row[13], row[14], row[15]])
                return ConversationSummary(id: id, projectID: row[1], members: Self.stringArray(row[4]), lastSeq: lastSeq,
                                           lastReadSeq: read, unread: row[5].flatMap { Int64($0) } ?? 0, lastMessage: last,
                                           activityMicros: activity)
            }
        }, completion: { result in deliver { reply(result.mapError(ChatFailure.init)) } })
    }

    public func editMessage(_ id: Int64, sender: String, body: [UInt8], reply: @escaping (Result<StoredMessage, ChatFailure>) -> Void) {
        change(sql: """
            UPDATE messages SET body = $3::jsonb, edited_at = now()
            WHERE id = $1 AND sender_id = $2 AND kind <> 'system' AND deleted_at IS NULL
            """, params: [String(id), sender, String(decoding: body, as: UTF8.self)], reply: reply)
    }

    public func deleteMessage(_ id: Int64, sender: String, reply: @escaping (Result<StoredMessage, ChatFailure>) -> Void) {
        change(sql: """
            UPDATE messages SET body = '{}'::jsonb, deleted_at = now()
            WHERE id = $1 AND sender_id = $2 AND kind <> 'system' AND deleted_at IS NULL
            """, params: [String(id), sender], reply: reply)
    }

    /// Runs an UPDATE of one message through the writer and returns the row.
    private func change(sql: String, params: [String?], reply: @escaping (Result<StoredMessage, ChatFailure>) -> Void) {
        let deliver = self.deliver
        let returning = """
             RETURNING id, conversation_id, seq, sender_id, client_msg_id, kind, body::text,
                       (extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM edited_at) * 1000)::bigint,
                       deleted_at IS NOT NULL
            """
        writer.submit(WriteJob(sql: sql + returning, params: params, survivesOutage: false) { result in
            let outcome: Result<StoredMessage, ChatFailure> = switch result {
            case .failure(let error): .failure(ChatFailure(error))
            case .success(let rows): rows.first.flatMap(Self.message).map { .success($0) } ?? .failure(.forbidden)
            }
            deliver { reply(outcome) }
        })
    }
}
