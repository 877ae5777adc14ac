// The SQL functions and view of the chat statements, created by their own
// migrations (numbers 8, 11 and 12 in `Migrations.all`).

/// Migrations of the chat tables.
enum ChatMigrations {
    /// Chat's rules the statements share, written once (migration 8).
    static let rules = """
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

    /// The message projection of every chat read and edit (migration 11).
    static let messageProjection = """
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

    /// The send statement's integrity without a per-row trigger (migration 12).
    static let sendWithoutForeignKeyCheck = """
        -- A message's conversation exists by construction: every statement
        -- that inserts messages first moves the conversation's last_seq
        -- (locking its row) and inserts only for the conversations that
        -- UPDATE returned; conversations are never deleted. The foreign
        -- key's per-row check cost about as much as the insert itself.
        ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_fkey;
        """
}
