// The quote-matching flow as the hub sees it: requests from exhibitors,
// builders matched to them by the matching engine, the builders' answers,
// and the store port that keeps them.
import SwitchboardWire

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
    public init(
        requester: String, event: String, city: String, startsOn: String, endsOn: String, standSizeSqm: Double,
        budgetMin: Int64, budgetMax: Int64, currency: String, services: [String], urgency: String
    ) {
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

/// Where a match stands. It moves forward only; the store holds that rule
/// (the one place it is written).
public enum MatchStatus: String, Sendable, CaseIterable {
    case matched, interested, responded, declined
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
    public init(
        id: Int64, request: Int64, builder: String, score: Int, breakdown: [UInt8], status: MatchStatus,
        estimateMin: Int64?, estimateMax: Int64?, proposalSummary: String?, createdAtMillis: Int64, respondedAtMillis: Int64?
    ) {
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

/// What adding matches did.
public struct AddedMatches: Sendable, Equatable {
    /// Matches created now.
    public var created: [QuoteMatch]
    /// Matches the request already had for builders in the call.
    public var existing: [QuoteMatch]
    /// The `quote_match` notifications of the new matches, to publish.
    public var notifications: [StoredNotification]

    /// An outcome.
    public init(created: [QuoteMatch], existing: [QuoteMatch], notifications: [StoredNotification]) {
        self.created = created
        self.existing = existing
        self.notifications = notifications
    }
}

/// A builder's answer as stored, and the notice to the requester.
public struct AnsweredMatch: Sendable, Equatable {
    /// The match after the answer.
    public var match: QuoteMatch
    /// The `quote_response` notification, to publish.
    public var notification: StoredNotification

    /// An outcome.
    public init(match: QuoteMatch, notification: StoredNotification) {
        self.match = match
        self.notification = notification
    }
}

/// Durable quote requests and matches. Every write that creates
/// notifications commits them in the same transaction and returns them for
/// publication. Answers come through a `Reply`; refusals are `HubError`s.
public protocol QuoteStore: AnyObject {
    /// Creates a quote request.
    func createQuoteRequest(_ request: QuoteRequest, reply: Reply<QuoteRequest>)
    /// Adds matches (a builder already matched to the request is not added
    /// again) and a `quote_match` notification for each new one; `notFound`
    /// for an unknown request.
    func addMatches(request: Int64, _ matches: [QuoteMatchInput], reply: Reply<AddedMatches>)
    /// The builder of the match answers (forward moves only, else
    /// `conflict`); notifies the requester. `notFound`, `forbidden` (not the
    /// match's builder).
    func respond(match: Int64, builder: String, _ response: MatchResponse, reply: Reply<AnsweredMatch>)
    /// The matches of a request, for its requester (`notFound`, `forbidden`).
    func matches(request: Int64, requester: String, reply: Reply<[QuoteMatch]>)
    /// A builder's matches, newest first.
    func matches(builder: String, limit: Int, reply: Reply<[QuoteMatch]>)
}
