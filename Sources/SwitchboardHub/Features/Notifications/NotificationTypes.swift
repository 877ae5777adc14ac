// Durable notifications and the quote-matching flow as the hub sees them,
// and the store port that keeps them.
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
    public init(recipients: [String], kind: NotificationKind, title: String, body: String, data: [UInt8],
                entityType: String? = nil, entityID: String? = nil, idempotencyKey: String? = nil, fingerprint: String = "") {
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

/// Why a domain operation was refused, safe to show.
public enum DomainFailure: Error, Sendable, Equatable {
    case notFound(String)
    case forbidden(String)
    /// The state does not allow it (409).
    case conflict(String)
    /// The same idempotency key with a different request (422).
    case idempotencyMismatch
    case store(StoreError)

    /// The REST answer.
    public var response: HTTPResponse {
        switch self {
        case .notFound(let m): return .error(404, .notFound, m)
        case .forbidden(let m): return .error(403, .forbidden, m)
        case .conflict(let m): return .error(409, .conflict, m)
        case .idempotencyMismatch:
            return .error(422, .idempotencyMismatch, "this idempotency key was used with a different request")
        case .store(let e): return Hub.storeFailure(e)
        }
    }
}

/// A quote request from an exhibitor (requester).
public struct QuoteRequest: Sendable, Equatable {
    public var id: Int64 = 0
    public var requester: String
    public var event: String
    public var city: String
    public var startsOn: String
    public var endsOn: String
    public var standSizeSqm: Double
    public var budgetMin: Int64
    public var budgetMax: Int64
    public var currency: String
    public var services: [String]
    public var urgency: String
    public var createdAtMillis: Int64 = 0

    /// A request.
    public init(requester: String, event: String, city: String, startsOn: String, endsOn: String, standSizeSqm: Double,
                budgetMin: Int64, budgetMax: Int64, currency: String, services: [String], urgency: String) {
        self.requester = requester
        self.event = event
        self.city = city
        self.startsOn = startsOn
        self.endsOn = endsOn
        self.standSizeSqm = standSizeSqm
        self.budgetMin = budgetMin
        self.budgetMax = budgetMax
        self.currency = currency
        self.services = services
        self.urgency = urgency
    }
}

/// A builder matched to a quote request.
public struct QuoteMatchInput: Sendable, Equatable {
    public var builder: String
    public var score: Int
    /// geographic, experience, capability, availability (0–100 each).
    public var breakdown: [String: Int]

    /// A match.
    public init(builder: String, score: Int, breakdown: [String: Int]) {
        self.builder = builder
        self.score = score
        self.breakdown = breakdown
    }
}

/// Where a match stands. Moves forward only.
public enum MatchStatus: String, Sendable, CaseIterable {
    case matched, interested, responded, declined

    /// Whether a builder may move from `self` to `next`.
    public func mayBecome(_ next: MatchStatus) -> Bool {
        switch (self, next) {
        case (.matched, .interested), (.matched, .responded), (.matched, .declined),
             (.interested, .responded), (.interested, .declined):
            return true
        default:
            return false
        }
    }
}

/// A builder's answer to a match.
public struct MatchResponse: Sendable, Equatable {
    public var status: MatchStatus
    public var estimateMin: Int64?
    public var estimateMax: Int64?
    public var proposalSummary: String?

    /// A response.
    public init(status: MatchStatus, estimateMin: Int64?, estimateMax: Int64?, proposalSummary: String?) {
        self.status = status
        self.estimateMin = estimateMin
        self.estimateMax = estimateMax
        self.proposalSummary = proposalSummary
    }
}

/// A stored match.
public struct QuoteMatch: Sendable, Equatable {
    public var id: Int64
    public var request: Int64
    public var builder: String
    public var score: Int
    /// JSON object text.
    public var breakdown: [UInt8]
    public var status: MatchStatus
    public var estimateMin: Int64?
    public var estimateMax: Int64?
    public var proposalSummary: String?
    public var createdAtMillis: Int64
    public var respondedAtMillis: Int64?

    /// A match.
    public init(id: Int64, request: Int64, builder: String, score: Int, breakdown: [UInt8], status: MatchStatus,
                estimateMin: Int64?, estimateMax: Int64?, proposalSummary: String?, createdAtMillis: Int64, respondedAtMillis: Int64?) {
        self.id = id
        self.request = request
        self.builder = builder
        self.score = score
        self.breakdown = breakdown
        self.status = status
        self.estimateMin = estimateMin
        self.estimateMax = estimateMax
        self.proposalSummary = proposalSummary
        self.createdAtMillis = createdAtMillis
        self.respondedAtMillis = respondedAtMillis
    }
}

/// Durable notifications and quotes. Every write that creates notifications
/// commits them in the same transaction and returns them for the push.
/// Replies run on the loop thread.
public protocol NotificationStore: AnyObject {
    /// One notification per distinct recipient, one statement. A repeated
    /// idempotency key returns `(notified, duplicate: true, [])`.
    func notify(_ request: NotifyRequest,
                reply: @escaping (Result<(notified: Int, duplicate: Bool, created: [StoredNotification]), DomainFailure>) -> Void)
    /// A user's notifications with id > `after` (nil: the newest), ascending; and the unread count.
    func notifications(user: String, after: Int64?, unreadOnly: Bool, limit: Int,
                       reply: @escaping (Result<(items: [StoredNotification], unread: Int), StoreError>) -> Void)
    /// Marks the user's notifications read: the listed ids, or all up to `upTo`.
    func markNotificationsRead(user: String, ids: [Int64]?, upTo: Int64?,
                               reply: @escaping (Result<(marked: Int, unread: Int), StoreError>) -> Void)
    /// Creates a quote request.
    func createQuoteRequest(_ request: QuoteRequest, reply: @escaping (Result<QuoteRequest, DomainFailure>) -> Void)
    /// Adds matches (a builder already matched to the request is not added
    /// again) and a `quote_match` notification for each new one.
    func addMatches(request: Int64, _ matches: [QuoteMatchInput],
                    reply: @escaping (Result<(created: [QuoteMatch], existing: [QuoteMatch], notifications: [StoredNotification]), DomainFailure>) -> Void)
    /// The builder of the match answers (forward moves only); notifies the requester.
    func respond(match: Int64, builder: String, _ response: MatchResponse,
                 reply: @escaping (Result<(QuoteMatch, StoredNotification), DomainFailure>) -> Void)
    /// The matches of a request, for its requester.
    func matches(request: Int64, requester: String, reply: @escaping (Result<[QuoteMatch], DomainFailure>) -> Void)
    /// A builder's matches, newest first.
    func matches(builder: String, limit: Int, reply: @escaping (Result<[QuoteMatch], DomainFailure>) -> Void)
    /// Notifications after `since` for a replay (at most `limit`), with the
    /// user's newest notification id.
    func notificationsSince(user: String, since: Int64, limit: Int, reply: @escaping (Result<MissedNotifications, StoreError>) -> Void)
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
