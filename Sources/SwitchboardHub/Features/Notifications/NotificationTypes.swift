// Durable notifications as the hub sees them, and the store port that keeps
// them.
import SwitchboardWire

/// A stored notification (also the `notification` frame's fields).
public typealias StoredNotification = ServerFrame.NotificationFields

/// What a notification is about.
public enum NotificationKind: String, Sendable, CaseIterable {
    case newMessage = "new_message", newProjectInquiry = "new_project_inquiry", quoteReceived = "quote_received"
    case quoteMatch = "quote_match", quoteResponse = "quote_response", contractReady = "contract_ready"
    case contractSigned = "contract_signed", paymentReceived = "payment_received", paymentReleased = "payment_released"
    case paymentRefunded = "payment_refunded", reviewPosted = "review_posted", milestoneCompleted = "milestone_completed"
    case projectUpdate = "project_update"
}

/// A notification to create for every recipient.
public struct NotifyRequest: Sendable, Equatable {
    public var recipients: [String]
    public var kind: NotificationKind
    public var title: String
    public var body: String
    /// A JSON object, as text.
    public var data: [UInt8]
    public var entityType: String?
    public var entityID: String?
    /// A retried call with the same key creates nothing twice.
    public var idempotencyKey: String?
    /// Fingerprint of the request, to refuse the same key with another body.
    public var fingerprint: String

    /// A request.
    public init(
        recipients: [String], kind: NotificationKind, title: String, body: String, data: [UInt8],
        entityType: String? = nil, entityID: String? = nil, idempotencyKey: String? = nil, fingerprint: String = ""
    ) {
        self.recipients = recipients
        self.kind = kind
        self.title = title
        self.body = body
        self.data = data
        self.entityType = entityType
        self.entityID = entityID
        self.idempotencyKey = idempotencyKey
        self.fingerprint = fingerprint
    }
}

/// What one `POST /v1/notify` did.
public struct NotifyOutcome: Sendable, Equatable {
    /// How many users were notified (for a duplicate: by the first call).
    public var notified: Int
    /// True when the idempotency key was seen before with the same request.
    public var duplicate: Bool
    /// The notifications created now, to publish (empty for a duplicate).
    public var created: [StoredNotification]

    /// An outcome.
    public init(notified: Int, duplicate: Bool, created: [StoredNotification]) {
        self.notified = notified
        self.duplicate = duplicate
        self.created = created
    }
}

/// One page of a user's notifications.
public struct NotificationPage: Sendable, Equatable {
    /// Oldest first.
    public var items: [StoredNotification]
    /// The user's unread notifications in all.
    public var unread: Int

    /// A page.
    public init(items: [StoredNotification], unread: Int) {
        self.items = items
        self.unread = unread
    }
}

/// What marking notifications read did.
public struct ReadMarks: Sendable, Equatable {
    /// Notifications marked now.
    public var marked: Int
    /// The user's unread notifications left.
    public var unread: Int

    /// A result.
    public init(marked: Int, unread: Int) {
        self.marked = marked
        self.unread = unread
    }
}

/// Durable notifications. Every write commits before it answers; answers
/// come through a `Reply` (on the loop), refusals are `HubError`s.
public protocol NotificationStore: AnyObject {
    /// One notification per distinct recipient, one statement. A repeated
    /// idempotency key answers `duplicate` (same request) or
    /// `idempotencyMismatch` (another request).
    func notify(_ request: NotifyRequest, reply: Reply<NotifyOutcome>)
    /// A user's notifications with id > `after` (nil: the newest), ascending; and the unread count.
    func notifications(user: String, after: Int64?, unreadOnly: Bool, limit: Int, reply: Reply<NotificationPage>)
    /// Marks the user's notifications read: the listed ids, or all up to `upTo`.
    func markNotificationsRead(user: String, ids: [Int64]?, upTo: Int64?, reply: Reply<ReadMarks>)
    /// Notifications after `since` for a replay (at most `limit`), with the
    /// user's newest notification id.
    func notificationsSince(user: String, since: Int64, limit: Int, reply: Reply<MissedNotifications>)
    /// The user's newest notification id (0 when they have none).
    func newestNotificationID(user: String, reply: Reply<Int64>)
}

extension NotifyRequest {
    /// The refusal of an idempotency key already used with another request.
    public static let keyReused = HubError(.idempotencyMismatch, "this idempotency key was used with a different request")
}

/// What a reconnecting connection missed.
public struct MissedNotifications: Sendable, Equatable {
    /// Notifications after the cursor, oldest first.
    public var items: [StoredNotification]
    /// The user's newest notification id (0 when there is none): a cursor
    /// past it comes from the future.
    public var newestID: Int64

    /// A replay answer.
    public init(items: [StoredNotification], newestID: Int64) {
        self.items = items
        self.newestID = newestID
    }
}
