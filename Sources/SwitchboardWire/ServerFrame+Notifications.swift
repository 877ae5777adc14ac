// Notification frames: a durable notification on `user:<id>`, and the end of
// a notification replay.

extension ServerFrame {
    /// Fields of a `notification` frame (and of a REST notification).
    public struct NotificationFields: Equatable, Sendable {
        public var id: Int64
        public var user: String
        public var kind: String
        public var title: String
        public var body: String
        /// JSON text (an object).
        public var data: [UInt8]
        public var entityType: String?
        public var entityID: String?
        public var createdAtMillis: Int64
        public var readAtMillis: Int64?

        /// Fields.
        public init(
            id: Int64, user: String, kind: String, title: String, body: String, data: [UInt8],
            entityType: String?, entityID: String?, createdAtMillis: Int64, readAtMillis: Int64? = nil
        ) {
            self.id = id
            self.user = user
            self.kind = kind
            self.title = title
            self.body = body
            self.data = data
            self.entityType = entityType
            self.entityID = entityID
            self.createdAtMillis = createdAtMillis
            self.readAtMillis = readAtMillis
        }
    }

    /// Writes a notification's members (no braces), shared by the frame and REST.
    public static func writeNotification(_ n: NotificationFields, into w: inout JSONWriter) {
        w.key("notification_id"); w.string(String(n.id))
        w.key("kind"); w.string(n.kind)
        w.key("title"); w.string(n.title)
        w.key("body"); w.string(n.body)
        w.key("data"); w.raw(n.data.isEmpty ? Array("{}".utf8) : n.data)
        w.key("entity_type"); if let t = n.entityType { w.string(t) } else { w.raw("null") }
        w.key("entity_id"); if let e = n.entityID { w.string(e) } else { w.raw("null") }
        w.key("created_at"); w.int(n.createdAtMillis)
        w.key("read_at"); if let r = n.readAtMillis { w.int(r) } else { w.raw("null") }
    }

    /// `notification`: committed before it is sent; `replay: true` when it
    /// comes from the catch-up after a connect with `since`.
    public static func notification(_ n: NotificationFields, replay: Bool) -> OutboundFrame {
        var w = JSONWriter(headroom: OutboundFrame.headroom, capacity: 256 + n.data.count + n.body.utf8.count)
        w.raw("{\"type\":\"notification\"")
        writeNotification(n, into: &w)
        if replay { w.key("replay"); w.raw("true") }
        w.raw("}")
        return OutboundFrame(writer: w)
    }

    /// `subscribed` for `user:<id>` after a notification replay: `last_id` is
    /// the newest notification sent (a string, as every notification id the hub writes); `recovered: false` when more were missed
    /// than the replay cap (page `GET /v1/notifications?after=`).
    public static func notificationsReplayed(id: RequestID?, channel: String, lastID: Int64, recovered: Bool) -> OutboundFrame {
        var w = JSONWriter(headroom: OutboundFrame.headroom)
        w.raw("{\"type\":\"subscribed\"")
        if let id { w.key("id"); w.requestID(id) }
        w.key("channel"); w.string(channel)
        w.key("last_id"); w.string(String(lastID))
        w.key("recovered"); w.raw(recovered ? "true" : "false")
        w.raw("}")
        return OutboundFrame(writer: w)
    }
}
