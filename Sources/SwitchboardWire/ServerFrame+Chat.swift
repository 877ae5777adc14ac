// Chat frames the hub sends: message, ack, notice, typing, receipt, and the
// conversation form of `subscribed`.

extension ServerFrame {
    /// Fields of a `message` frame.
    public struct MessageFields: Equatable, Sendable {
        public var conversation: Int64
        public var id: Int64
        public var seq: Int64
        public var sender: String
        public var clientMessageID: String
        public var kind: String
        public var body: [UInt8]
        public var createdAtMillis: Int64
        public var editedAtMillis: Int64?
        public var deleted: Bool

        /// Fields.
        public init(
            conversation: Int64, id: Int64, seq: Int64, sender: String, clientMessageID: String, kind: String,
            body: [UInt8], createdAtMillis: Int64, editedAtMillis: Int64? = nil, deleted: Bool = false
        ) {
            self.conversation = conversation
            self.id = id
            self.seq = seq
            self.sender = sender
            self.clientMessageID = clientMessageID
            self.kind = kind
            self.body = body
            self.createdAtMillis = createdAtMillis
            self.editedAtMillis = editedAtMillis
            self.deleted = deleted
        }
    }

    private static func start(_ type: StaticString) -> JSONWriter {
        var w = JSONWriter(headroom: OutboundFrame.headroom)
        w.raw("{\"type\":\"")
        w.raw(type)
        w.raw("\"")
        return w
    }

    private static func finish(_ w: inout JSONWriter) -> OutboundFrame {
        w.raw("}")
        return OutboundFrame(writer: w)
    }

    /// `message`: a chat message, live or replayed (`replay: true`).
    public static func message(_ m: MessageFields, replay: Bool) -> OutboundFrame {
        var w = start("message")
        w.key("conversation"); w.quotedInt(m.conversation)
        w.key("message_id"); w.quotedInt(m.id)
        w.key("seq"); w.int(m.seq)
        w.key("sender"); w.string(m.sender)
        w.key("client_msg_id"); w.string(m.clientMessageID)
        w.key("kind"); w.string(m.kind)
        w.key("body"); w.raw(m.body)
        w.key("created_at"); w.int(m.createdAtMillis)
        if let edited = m.editedAtMillis { w.key("edited_at"); w.int(edited) }
        if m.deleted { w.key("deleted"); w.raw("true") }
        if replay { w.key("replay"); w.raw("true") }
        return finish(&w)
    }

    /// `ack`: the message is durably committed (or was already: `duplicate`).
    public static func ack(
        id: RequestID?, conversation: Int64, messageID: Int64, seq: Int64, createdAtMillis: Int64,
        duplicate: Bool
    ) -> OutboundFrame {
        var w = start("ack")
        if let id { w.key("id"); w.requestID(id) }
        w.key("conversation"); w.quotedInt(conversation)
        w.key("message_id"); w.quotedInt(messageID)
        w.key("seq"); w.int(seq)
        w.key("created_at"); w.int(createdAtMillis)
        w.key("duplicate"); duplicate ? w.raw("true") : w.raw("false")
        return finish(&w)
    }

    /// `notice`: a compact new-message note on `user:<id>` for members not
    /// subscribed to the conversation.
    public static func notice(conversation: Int64, messageID: Int64, seq: Int64, sender: String, kind: String) -> OutboundFrame {
        var w = start("notice")
        w.key("conversation"); w.quotedInt(conversation)
        w.key("message_id"); w.quotedInt(messageID)
        w.key("seq"); w.int(seq)
        w.key("sender"); w.string(sender)
        w.key("kind"); w.string(kind)
        return finish(&w)
    }

    /// `typing`: someone started or stopped typing.
    public static func typing(conversation: Int64, user: String, active: Bool) -> OutboundFrame {
        var w = start("typing")
        w.key("conversation"); w.quotedInt(conversation)
        w.key("user"); w.string(user)
        w.key("active"); active ? w.raw("true") : w.raw("false")
        return finish(&w)
    }

    /// `receipt`: a member's read position.
    public static func receipt(id: RequestID?, conversation: Int64, user: String, seq: Int64) -> OutboundFrame {
        var w = start("receipt")
        if let id { w.key("id"); w.requestID(id) }
        w.key("conversation"); w.quotedInt(conversation)
        w.key("user"); w.string(user)
        w.key("seq"); w.int(seq)
        return finish(&w)
    }

    /// `subscribed` for a conversation: live from here; `recovered` says
    /// whether every message after `since` was replayed before it.
    public static func conversationSubscribed(id: RequestID?, channel: String, lastSeq: Int64, recovered: Bool?) -> OutboundFrame
    {
        var w = start("subscribed")
        if let id { w.key("id"); w.requestID(id) }
        w.key("channel"); w.string(channel)
        w.key("last_seq"); w.int(lastSeq)
        if let recovered { w.key("recovered"); recovered ? w.raw("true") : w.raw("false") }
        return finish(&w)
    }
}

extension ServerFrame {
    /// `presence`: a contact went online or offline (pushed), or the answer
    /// to a `presence` query (`id` and `users`).
    public static func presenceChange(user: String, online: Bool, lastSeenMillis: Int64?) -> OutboundFrame {
        var w = JSONWriter(headroom: OutboundFrame.headroom)
        w.raw("{\"type\":\"presence\"")
        w.key("user"); w.string(user)
        w.key("online"); online ? w.raw("true") : w.raw("false")
        w.key("last_seen"); if let t = lastSeenMillis { w.int(t) } else { w.raw("null") }
        w.raw("}")
        return OutboundFrame(writer: w)
    }

    /// The answer to a `presence` query.
    public static func presenceState(id: RequestID?, users: [(user: String, online: Bool, lastSeenMillis: Int64?)])
        -> OutboundFrame
    {
        var w = JSONWriter(headroom: OutboundFrame.headroom)
        w.raw("{\"type\":\"presence\"")
        if let id { w.key("id"); w.requestID(id) }
        w.key("users"); w.raw("[")
        for (i, u) in users.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"user\":"); w.string(u.user)
            w.key("online"); u.online ? w.raw("true") : w.raw("false")
            w.key("last_seen"); if let t = u.lastSeenMillis { w.int(t) } else { w.raw("null") }
            w.raw("}")
        }
        w.raw("]}")
        return OutboundFrame(writer: w)
    }
}

extension ServerFrame {
    /// `message_edited` / `message_deleted`: the sender changed a message.
    public static func messageChanged(_ m: MessageFields) -> OutboundFrame {
        var w = JSONWriter(headroom: OutboundFrame.headroom)
        m.deleted ? w.raw("{\"type\":\"message_deleted\"") : w.raw("{\"type\":\"message_edited\"")
        w.key("conversation"); w.quotedInt(m.conversation)
        w.key("message_id"); w.quotedInt(m.id)
        w.key("seq"); w.int(m.seq)
        w.key("sender"); w.string(m.sender)
        if !m.deleted { w.key("body"); w.raw(m.body) }
        if let edited = m.editedAtMillis { w.key("edited_at"); w.int(edited) }
        w.raw("}")
        return OutboundFrame(writer: w)
    }
}
