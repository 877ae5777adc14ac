// Notifications in memory: plain stored rows, calls recorded, scripted
// answers where the real store applies a rule (idempotency keys).
import SwitchboardHub

/// Notifications in memory; answers computed when asked, delivered on `flush()`.
public final class FakeNotificationStore: NotificationStore {
    public init() {}
    /// Every notification committed, in id order.
    public var stored: [StoredNotification] = []
    /// The notify requests received, in order.
    public var notifyRequests: [NotifyRequest] = []
    /// When set, `notify` answers this (a duplicate, a refusal) and stores nothing.
    public var notifyAnswer: Result<NotifyOutcome, HubError>?
    /// The read-mark calls received, in order.
    public var readCalls: [(user: String, ids: [Int64]?, upTo: Int64?)] = []
    /// What marking read answers.
    public var readAnswer: Result<ReadMarks, HubError> = .success(ReadMarks(marked: 0, unread: 0))
    /// When set, every read answers this failure.
    public var failure: HubError?
    private var pending: [() -> Void] = []
    /// When set, `newestNotificationID` waits for `flush()` like every
    /// other read (by default it answers at once, so a test's `auth` is
    /// welcomed without a flush).
    public var holdNewest = false
    private var nextID: Int64 = 0
    public var clock: Int64 = 1_800_000_000_000

    /// Delivers the answers held back so far (and those they cause).
    public func flush() {
        while !pending.isEmpty { let work = pending; pending = []; work.forEach { $0() } }
    }

    /// Commits now (as the writer would); the answer waits for `flush()`.
    @discardableResult
    public func commit(_ user: String, title: String = "t") -> StoredNotification {
        nextID += 1
        let n = StoredNotification(
            id: nextID, user: user, kind: "project_update", title: title, body: "", data: Array("{}".utf8),
            entityType: nil, entityID: nil, createdAtMillis: clock)
        stored.append(n)
        return n
    }

    public func notify(_ request: NotifyRequest, reply: Reply<NotifyOutcome>) {
        notifyRequests.append(request)
        if let answer = notifyAnswer {
            pending.append { reply(answer) }
            return
        }
        let created = request.recipients.map { commit($0, title: request.title) }
        pending.append { reply(.success(NotifyOutcome(notified: created.count, duplicate: false, created: created))) }
    }

    public func notifications(user: String, after: Int64?, unreadOnly: Bool, limit: Int, reply: Reply<NotificationPage>) {
        let mine = stored.filter { $0.user == user && $0.id > (after ?? 0) && (!unreadOnly || $0.readAtMillis == nil) }
        let unread = stored.filter { $0.user == user && $0.readAtMillis == nil }.count
        let answer: Result<NotificationPage, HubError> =
            failure.map { .failure($0) }
            ?? .success(NotificationPage(items: Array(mine.prefix(limit)), unread: unread))
        pending.append { reply(answer) }
    }

    public func markNotificationsRead(user: String, ids: [Int64]?, upTo: Int64?, reply: Reply<ReadMarks>) {
        readCalls.append((user, ids, upTo))
        let answer = readAnswer
        pending.append { reply(answer) }
    }

    public func newestNotificationID(user: String, reply: Reply<Int64>) {
        let answer: Result<Int64, HubError> =
            failure.map { .failure($0) } ?? .success(stored.filter { $0.user == user }.map(\.id).max() ?? 0)
        if holdNewest { pending.append { reply(answer) } } else { reply(answer) }
    }

    public func notificationsSince(user: String, since: Int64, limit: Int, reply: Reply<MissedNotifications>) {
        let mine = stored.filter { $0.user == user }
        let answer: Result<MissedNotifications, HubError> =
            failure.map { .failure($0) }
            ?? .success(
                MissedNotifications(
                    items: Array(mine.filter { $0.id > since }.prefix(limit)),
                    newestID: mine.map(\.id).max() ?? 0))
        pending.append { reply(answer) }
    }
}
