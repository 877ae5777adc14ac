// Notifications: the notify API as one set-based statement (idempotency key
// claimed in the same statement), lists, read marks and replays.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore: NotificationStore {
    /// A notification row as JSON text (alias `n`).
    static let notificationJSON = """
        json_build_object('id', n.id, 'user_id', n.user_id, 'kind', n.kind, 'title', n.title, 'body', n.body, 'data', n.data,
                          'entity_type', n.entity_type, 'entity_id', n.entity_id,
                          'created_at', (extract(epoch FROM n.created_at) * 1000)::bigint,
                          'read_at', (extract(epoch FROM n.read_at) * 1000)::bigint)::text
        """

    static func notification(_ text: String?) -> StoredNotification? {
        guard let text, let j = try? JSON.parse(Array(text.utf8)), let id = j["id"]?.intValue else { return nil }
        return StoredNotification(id: id, user: j["user_id"]?.stringValue ?? "", kind: j["kind"]?.stringValue ?? "",
                                  title: j["title"]?.stringValue ?? "", body: j["body"]?.stringValue ?? "",
                                  data: j["data"]?.bytes ?? Array("{}".utf8), entityType: j["entity_type"]?.stringValue,
                                  entityID: j["entity_id"]?.stringValue, createdAtMillis: j["created_at"]?.intValue ?? 0,
                                  readAtMillis: j["read_at"]?.intValue)
    }

    static let notifySQL = """
        WITH claim AS (
            INSERT INTO notify_requests (idempotency_key, fingerprint, notified)
            SELECT $8, $9, jsonb_array_length($1::jsonb) WHERE $8::text IS NOT NULL
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING idempotency_key
        ), prior AS (
            SELECT fingerprint, notified FROM notify_requests
            WHERE idempotency_key = $8 AND NOT EXISTS (SELECT 1 FROM claim)
        ), n AS (
            INSERT INTO notifications (user_id, kind, title, body, data, entity_type, entity_id)
            SELECT u.value, $2, $3, $4, $5::jsonb, $6, $7
            FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS u(value, ord)
            WHERE NOT EXISTS (SELECT 1 FROM prior)
            ORDER BY u.ord
            RETURNING *
        )
        SELECT 'n', \(notificationJSON), NULL FROM n
        UNION ALL SELECT 'p', fingerprint, notified::text FROM prior
        """

    public func notify(_ request: NotifyRequest,
                       reply: @escaping (Result<(notified: Int, duplicate: Bool, created: [StoredNotification]), DomainFailure>) -> Void) {
        let deliver = self.deliver
        let recipients = JSON.array(request.recipients.map(JSON.string)).serialized
        let params: [String?] = [recipients, request.kind.rawValue, request.title, request.body,
                                 String(decoding: request.data, as: UTF8.self), request.entityType, request.entityID,
                                 request.idempotencyKey, request.fingerprint]
        writer.submit(WriteJob(sql: Self.notifySQL, params: params) { result in
            let outcome: Result<(notified: Int, duplicate: Bool, created: [StoredNotification]), DomainFailure>
            switch result {
            case .failure(let error): outcome = .failure(.store(error))
            case .success(let rows):
                if let prior = rows.first(where: { $0[0] == "p" }) {
                    outcome = prior[1] == request.fingerprint
                        ? .success((Int(prior[2] ?? "") ?? 0, true, [])) : .failure(.idempotencyMismatch)
                } else {
                    let created = rows.compactMap { Self.notification($0[1]) }
                    outcome = .success((created.count, false, created))
                }
            }
            deliver { reply(outcome) }
        })
    }

    public func notifications(user: String, after: Int64?, unreadOnly: Bool, limit: Int,
                              reply: @escaping (Result<(items: [StoredNotification], unread: Int), StoreError>) -> Void) {
        let deliver = self.deliver
        reader.read({ (conn: PGConnection) throws(PostgresError) -> (items: [StoredNotification], unread: Int) in
            let filter = unreadOnly ? " AND n.read_at IS NULL" : ""
            let rows: Rows
            if let after {
                rows = try conn.execute("SELECT \(Self.notificationJSON) FROM notifications n WHERE n.user_id = $1 AND n.id > $2\(filter) ORDER BY n.id LIMIT $3",
                                        [user, String(after), String(limit)])
            } else {
                rows = try conn.execute("""
                    SELECT j FROM (SELECT n.id, \(Self.notificationJSON) AS j FROM notifications n
                                   WHERE n.user_id = $1\(filter) ORDER BY n.id DESC LIMIT $2) newest ORDER BY id
                    """, [user, String(limit)])
            }
            let unread = try conn.execute("SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL", [user])
            return (rows.compactMap { Self.notification($0[0]) }, Int(unread.first?[0] ?? "0") ?? 0)
        }, completion: { result in deliver { reply(result) } })
    }

    public func markNotificationsRead(user: String, ids: [Int64]?, upTo: Int64?,
                                      reply: @escaping (Result<(marked: Int, unread: Int), StoreError>) -> Void) {
        let deliver = self.deliver
        let which = ids != nil ? "id = ANY($2::bigint[])" : "id <= $2::bigint"
        let param = ids.map { "{" + $0.map(String.init).joined(separator: ",") + "}" } ?? String(upTo ?? 0)
        writer.submit(WriteJob(sql: """
            WITH marked AS (
                UPDATE notifications SET read_at = now() WHERE user_id = $1 AND \(which) AND read_at IS NULL RETURNING 1
            )
            SELECT (SELECT count(*) FROM marked),
                   (SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL) - (SELECT count(*) FROM marked)
            """, params: [user, param]) { result in
            let outcome = result.map { rows in
                (marked: Int(rows.first?[0] ?? "0") ?? 0, unread: Int(rows.first?[1] ?? "0") ?? 0)
            }
            deliver { reply(outcome) }
        })
    }

    public func notificationsSince(user: String, since: Int64, limit: Int,
                                   reply: @escaping (Result<MissedNotifications, StoreError>) -> Void) {
        let deliver = self.deliver
        reader.read({ (conn: PGConnection) throws(PostgresError) -> MissedNotifications in
            let items = try conn.execute("SELECT \(Self.notificationJSON) FROM notifications n WHERE n.user_id = $1 AND n.id > $2 ORDER BY n.id LIMIT $3",
                                         [user, String(since), String(limit)]).compactMap { Self.notification($0[0]) }
            let newest = try conn.execute("SELECT COALESCE(max(id), 0) FROM notifications WHERE user_id = $1", [user])
                .first?[0].flatMap { Int64($0) } ?? 0
            return MissedNotifications(items: items, newestID: max(newest, items.last?.id ?? 0))
        }, completion: { result in deliver { reply(result) } })
    }
}
