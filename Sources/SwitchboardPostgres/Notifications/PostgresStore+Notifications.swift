// Notifications: the notify API as one set-based statement (idempotency key
// claimed in the same statement), lists, read marks and replays. Rows are
// read by column name from `notification_out` (migration 6).
import SwitchboardHub
import SwitchboardWire

extension StoredNotification {
    /// A row of `notification_out` columns.
    init(row: Row) throws(PostgresError) {
        let data = try row.bytes("data")
        // jsonb prints with spaces; clients have always seen it compact.
        self.init(
            id: try row.int64("notification_id"), user: try row.text("user_id"), kind: try row.text("kind"),
            title: try row.text("title"), body: try row.text("body"), data: (try? JSON.parse(data))?.bytes ?? data,
            entityType: try row.optionalText("entity_type"), entityID: try row.optionalText("entity_id"),
            createdAtMillis: try row.int64("created_ms"), readAtMillis: try row.optionalInt64("read_ms"))
    }
}

extension PostgresStore: NotificationStore {
    /// Decodes the notification rows of a result (rows without one are skipped), in id order.
    static func notifications(in rows: [Row]) throws(PostgresError) -> [StoredNotification] {
        var out: [StoredNotification] = []
        for row in rows where try row.optionalInt64("notification_id") != nil { out.append(try StoredNotification(row: row)) }
        return out.sorted { $0.id < $1.id }
    }

    static let notifySQL = """
        WITH claim AS (
            INSERT INTO notify_requests (idempotency_key, fingerprint, notified)
            SELECT $8, $9, cardinality($1::text[]) WHERE $8::text IS NOT NULL
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING idempotency_key
        ), prior AS (
            SELECT fingerprint, notified FROM notify_requests
            WHERE idempotency_key = $8 AND NOT EXISTS (SELECT 1 FROM claim)
        ), n AS (
            INSERT INTO notifications AS nt (user_id, kind, title, body, data, entity_type, entity_id)
            SELECT u.value, $2, $3, $4, $5::jsonb, $6, $7
            FROM unnest($1::text[]) WITH ORDINALITY AS u(value, ord)
            WHERE NOT EXISTS (SELECT 1 FROM prior)
            ORDER BY u.ord
            RETURNING (notification_out(nt)).*
        )
        SELECT n.*, prior.fingerprint, prior.notified FROM n FULL JOIN prior ON false
        """

    public func notify(_ request: NotifyRequest, reply: Reply<NotifyOutcome>) {
        let values: [SQLValue] = [
            .textArray(request.recipients), .text(request.kind.rawValue), .text(request.title),
            .text(request.body), .json(request.data), .text(request.entityType), .text(request.entityID),
            .text(request.idempotencyKey), .text(request.fingerprint),
        ]
        writers.submit(
            WriteJob(Self.notifySQL, values) { result in
                reply(
                    result.flatMap { rows in
                        do throws(PostgresError) {
                            if let prior = rows.first(where: { (try? $0.optionalText("fingerprint")) != nil }) {
                                guard try prior.text("fingerprint") == request.fingerprint else {
                                    return .failure(NotifyRequest.keyReused)
                                }
                                return .success(NotifyOutcome(notified: try prior.int("notified"), duplicate: true, created: []))
                            }
                            let created = try Self.notifications(in: rows)
                            return .success(NotifyOutcome(notified: created.count, duplicate: false, created: created))
                        } catch {
                            return .failure(error.hubError)
                        }
                    })
            })
    }

    public func notifications(user: String, after: Int64?, unreadOnly: Bool, limit: Int, reply: Reply<NotificationPage>) {
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> NotificationPage in
                let rows: [Row]
                if let after {
                    rows = try conn.query(
                        """
                        SELECT (notification_out(n)).* FROM notifications n
                        WHERE n.user_id = $1 AND n.id > $2 AND (NOT $4 OR n.read_at IS NULL) ORDER BY n.id LIMIT $3
                        """, [.text(user), .int64(after), .int(limit), .bool(unreadOnly)])
                } else {
                    rows = try conn.query(
                        """
                        SELECT * FROM (SELECT (notification_out(n)).* FROM notifications n
                                       WHERE n.user_id = $1 AND (NOT $3 OR n.read_at IS NULL) ORDER BY n.id DESC LIMIT $2) newest
                        ORDER BY notification_id
                        """, [.text(user), .int(limit), .bool(unreadOnly)])
                }
                let unread = try conn.query("SELECT unread_notifications($1) AS unread", [.text(user)])
                return NotificationPage(items: try Self.notifications(in: rows), unread: try unread.first?.int("unread") ?? 0)
            }, reply: reply)
    }

    public func markNotificationsRead(user: String, ids: [Int64]?, upTo: Int64?, reply: Reply<ReadMarks>) {
        // One of `ids` (the listed ones) and `upTo` (all up to it) is NULL.
        writers.submit(
            WriteJob(
                """
                WITH marked AS (
                    UPDATE notifications SET read_at = now()
                    WHERE user_id = $1 AND (id = ANY($2::bigint[]) OR id <= $3::bigint) AND read_at IS NULL
                    RETURNING 1
                )
                SELECT (SELECT count(*) FROM marked) AS marked,
                       unread_notifications($1) - (SELECT count(*) FROM marked) AS unread
                """, [.text(user), ids.map(SQLValue.int64Array) ?? .null, .int64(ids == nil ? upTo ?? 0 : nil)]
            ) { result in
                reply(
                    result.flatMap { rows in
                        do throws(PostgresError) {
                            guard let row = rows.first else { return .failure(.storeFailed) }
                            return .success(ReadMarks(marked: try row.int("marked"), unread: try row.int("unread")))
                        } catch {
                            return .failure(error.hubError)
                        }
                    })
            })
    }

    public func notificationsSince(user: String, since: Int64, limit: Int, reply: Reply<MissedNotifications>) {
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> MissedNotifications in
                let items = try Self.notifications(
                    in: try conn.query(
                        """
                        SELECT (notification_out(n)).* FROM notifications n WHERE n.user_id = $1 AND n.id > $2 ORDER BY n.id LIMIT $3
                        """, [.text(user), .int64(since), .int(limit)]))
                let newest = try conn.query(
                    "SELECT COALESCE(max(id), 0) AS newest FROM notifications WHERE user_id = $1", [.text(user)])
                return MissedNotifications(
                    items: items, newestID: max(try newest.first?.int64("newest") ?? 0, items.last?.id ?? 0))
            }, reply: reply)
    }

    public func newestNotificationID(user: String, reply: Reply<Int64>) {
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> Int64 in
                try conn.query(
                    "SELECT COALESCE(max(id), 0) AS newest FROM notifications WHERE user_id = $1", [.text(user)]
                ).first?.int64("newest") ?? 0
            }, reply: reply)
    }

    // MARK: Transitional, for Market's statements until its slice reads typed rows

    /// A notification record (market_notification_record, migration 10).
    static func notification(_ text: String?) -> StoredNotification? {
        guard let text, let j = try? JSON.parse(Array(text.utf8)), let id = j["id"]?.intValue else { return nil }
        return StoredNotification(
            id: id, user: j["user_id"]?.stringValue ?? "", kind: j["kind"]?.stringValue ?? "",
            title: j["title"]?.stringValue ?? "", body: j["body"]?.stringValue ?? "",
            data: j["data"]?.bytes ?? Array("{}".utf8), entityType: j["entity_type"]?.stringValue,
            entityID: j["entity_id"]?.stringValue, createdAtMillis: j["created_at"]?.intValue ?? 0,
            readAtMillis: j["read_at"]?.intValue)
    }
}
