// Projects, contracts and payments as the hub sees them: every rule is
// enforced by the store in SQL (conditional updates and row locks inside one
// statement); the hub validates input, authenticates, renders, and pushes
// the notifications each change committed.
import SwitchboardWire

/// Who acts, for the rules and the audit log.
public struct Actor: Sendable, Equatable {
    /// The user id, or `backend:<name>` for an API key.
    public var id: String
    /// True for a backend (API key).
    public var isBackend: Bool
    /// The client's address.
    public var ip: String?

    /// An actor.
    public init(id: String, isBackend: Bool, ip: String?) {
        self.id = id
        self.isBackend = isBackend
        self.ip = ip
    }
}

/// What a market action committed: the REST answer and its notifications.
public struct MarketOutcome: Sendable {
    /// HTTP status of the answer.
    public var status: Int
    /// The answer's body.
    public var body: JSON
    /// Notifications committed with the change, to push.
    public var notifications: [StoredNotification]
    /// `system` messages committed in the project's conversation, with its members.
    public var systemMessages: [(message: StoredMessage, members: [String])]

    /// An outcome.
    public init(status: Int, body: JSON, notifications: [StoredNotification] = [],
                systemMessages: [(message: StoredMessage, members: [String])] = []) {
        self.status = status
        self.body = body
        self.notifications = notifications
        self.systemMessages = systemMessages
    }
}

/// A new payment into escrow.
public struct NewPayment: Sendable, Equatable {
    public var amount: Int64
    public var method: PaymentMethod
    public var milestone: Int64?
    public var type: String
    public var installmentNumber: Int?
    public var installmentCount: Int?

    /// A payment.
    public init(amount: Int64, method: PaymentMethod, milestone: Int64?, type: String, installmentNumber: Int?, installmentCount: Int?) {
        self.amount = amount
        self.method = method
        self.milestone = milestone
        self.type = type
        self.installmentNumber = installmentNumber
        self.installmentCount = installmentCount
    }
}

/// The first step of a payment: a replay of its idempotency key, or the
/// payment created `pending` under the rules, for the provider to charge.
public enum PaymentStart: Sendable {
    /// The key was used before with the same request: the stored answer.
    case replay(MarketOutcome)
    /// A new payment, not charged yet; `currency` is the project's.
    case created(id: Int64, currency: String)
}

/// Durable projects, contracts and payments. Replies run on the loop thread.
public protocol MarketStore: AnyObject {
    func createProject(client: String, craftsman: String, title: String, budget: Int64?, currency: String,
                       conversation: Int64?, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    func project(_ id: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    /// Proposes a contract; `milestones` (JSON array text) are created with it.
    func createContract(project: Int64, terms: [UInt8], milestones: [UInt8], actor: Actor,
                        reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    func contract(_ id: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    func sign(contract: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    func amend(contract: Int64, terms: [UInt8], actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    /// Creates the payment `pending` if the rules allow it, before anything
    /// is charged. With a key: a replay returns the stored answer (nothing
    /// created); the same key with another body is `idempotencyMismatch`.
    func createPayment(project: Int64, _ payment: NewPayment, fees: FeeBreakdown, actor: Actor,
                       idempotencyKey: String?, fingerprint: String, reply: @escaping (Result<PaymentStart, DomainFailure>) -> Void)
    /// Records the provider's answer for a payment `createPayment` created
    /// (captured into escrow, pending, or failed); the idempotency key's
    /// stored answer becomes the final one.
    func recordCharge(payment: Int64, charge: ProviderCharge, actor: Actor, idempotencyKey: String?,
                      reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    func release(payment: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    func refund(payment: Int64, amount: Int64?, reason: String, actor: Actor,
                reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    func payments(project: Int64, page: Int, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    /// Adds a milestone (an amount in minor units, or a percentage of the budget).
    func createMilestone(project: Int64, title: String, dueOn: String?, amount: Int64?, percentage: Double?,
                         requiresApproval: Bool, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    /// The craftsman marks a milestone done (the client is notified).
    func completeMilestone(project: Int64, milestone: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    /// The client approves a completed milestone (the craftsman is notified).
    func approveMilestone(project: Int64, milestone: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
    /// The sandbox provider's callback: a pending payment succeeded or failed.
    func providerEvent(reference: String, succeeded: Bool, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void)
}
