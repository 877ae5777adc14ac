// Notifications and the quote flow in memory.
import Logging
import SwitchboardAuth
import SwitchboardWire
import SwitchboardHub

/// Notifications in memory; answers computed when asked, delivered on `flush()`.
public final class FakeNotificationStore: NotificationStore {
    public init() {}
    public var stored: [StoredNotification] = []
    public var keys: [String: (fingerprint: String, notified: Int)] = [:]
    private var pending: [() -> Void] = []
    private var nextID: Int64 = 0
    public var clock: Int64 = 1_800_000_000_000

    public func flush() {
        while !pending.isEmpty { let work = pending; pending = []; work.forEach { $0() } }
    }

    /// Commits now (as the writer would); the answer waits for `flush()`.
    @discardableResult
    public func commit(_ user: String, title: String = "t") -> StoredNotification {
        nextID += 1
        let n = StoredNotification(id: nextID, user: user, kind: "project_update", title: title, body: "", data: Array("{}".utf8),
                                   entityType: nil, entityID: nil, createdAtMillis: clock)
        stored.append(n)
        return n
    }

    public func notify(_ request: NotifyRequest,
                reply: @escaping (Result<(notified: Int, duplicate: Bool, created: [StoredNotification]), DomainFailure>) -> Void) {
        if let key = request.idempotencyKey, let prior = keys[key] {
            let outcome: Result<(notified: Int, duplicate: Bool, created: [StoredNotification]), DomainFailure> =
                prior.fingerprint == request.fingerprint ? .success((prior.notified, true, [])) : .failure(.idempotencyMismatch)
            pending.append { reply(outcome) }
            return
        }
        if let key = request.idempotencyKey { keys[key] = (request.fingerprint, request.recipients.count) }
        let created = request.recipients.map { commit($0, title: request.title) }
        pending.append { reply(.success((created.count, false, created))) }
    }

    public func notifications(user: String, after: Int64?, unreadOnly: Bool, limit: Int,
                       reply: @escaping (Result<(items: [StoredNotification], unread: Int), StoreError>) -> Void) {
        let mine = stored.filter { $0.user == user && $0.id > (after ?? 0) && (!unreadOnly || $0.readAtMillis == nil) }
        let unread = stored.filter { $0.user == user && $0.readAtMillis == nil }.count
        pending.append { reply(.success((Array(mine.prefix(limit)), unread))) }
    }

    public func markNotificationsRead(user: String, ids: [Int64]?, upTo: Int64?,
                               reply: @escaping (Result<(marked: Int, unread: Int), StoreError>) -> Void) {
        var marked = 0
        for i in stored.indices where stored[i].user == user && stored[i].readAtMillis == nil
            && (ids?.contains(stored[i].id) ?? (stored[i].id <= (upTo ?? 0))) {
            stored[i].readAtMillis = clock
            marked += 1
        }
        let unread = stored.filter { $0.user == user && $0.readAtMillis == nil }.count
        pending.append { reply(.success((marked, unread))) }
    }

    public func notificationsSince(user: String, since: Int64, limit: Int,
                            reply: @escaping (Result<MissedNotifications, StoreError>) -> Void) {
        let mine = stored.filter { $0.user == user }
        let snapshot = MissedNotifications(items: Array(mine.filter { $0.id > since }.prefix(limit)),
                                           newestID: mine.map(\.id).max() ?? 0)
        pending.append { reply(.success(snapshot)) }
    }

    public func createQuoteRequest(_ request: QuoteRequest, reply: @escaping (Result<QuoteRequest, DomainFailure>) -> Void) {
        pending.append { reply(.failure(.store(StoreError(.failed)))) }
    }
    public func addMatches(request: Int64, _ matches: [QuoteMatchInput],
                    reply: @escaping (Result<(created: [QuoteMatch], existing: [QuoteMatch], notifications: [StoredNotification]), DomainFailure>) -> Void) {
        pending.append { reply(.failure(.notFound("no such quote request"))) }
    }
    public func respond(match: Int64, builder: String, _ response: MatchResponse,
                 reply: @escaping (Result<(QuoteMatch, StoredNotification), DomainFailure>) -> Void) {
        pending.append { reply(.failure(.conflict("no"))) }
    }
    public func matches(request: Int64, requester: String, reply: @escaping (Result<[QuoteMatch], DomainFailure>) -> Void) {
        pending.append { reply(.success([])) }
    }
    public func matches(builder: String, limit: Int, reply: @escaping (Result<[QuoteMatch], DomainFailure>) -> Void) {
        pending.append { reply(.success([])) }
    }
}
