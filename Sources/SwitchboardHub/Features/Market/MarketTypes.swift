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

/// A `system` message a market change committed in the project's
/// conversation, with the conversation's members (its recipients).
public struct MarketSystemMessage: Sendable {
    /// The stored message.
    public var message: StoredMessage
    /// The conversation's members.
    public var members: [String]

    /// A system message.
    public init(message: StoredMessage, members: [String]) {
        self.message = message
        self.members = members
    }
}

/// What a market change committed: the changed entity, and the
/// notifications and system messages written in the same transaction.
public struct MarketChange<Value: Sendable>: Sendable {
    /// The entity as it is after the change.
    public var value: Value
    /// Notifications committed with the change, to push.
    public var notifications: [StoredNotification]
    /// `system` messages committed in the project's conversation.
    public var systemMessages: [MarketSystemMessage]

    /// A change.
    public init(_ value: Value, notifications: [StoredNotification] = [], systemMessages: [MarketSystemMessage] = []) {
        self.value = value
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
    public init(
        amount: Int64, method: PaymentMethod, milestone: Int64?, type: String, installmentNumber: Int?, installmentCount: Int?
    ) {
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
    /// The key was used before with the same request: the payment as it was
    /// answered then.
    case replay(Payment)
    /// A new payment, not charged yet; `currency` is the project's.
    case created(id: Int64, currency: String)
}

/// Durable projects, contracts and payments. Every call answers through its
/// `Reply` (on the loop); a refusal is a `HubError` (not found, forbidden,
/// conflict, idempotency mismatch, or the store's own failure).
public protocol MarketStore: AnyObject {
    func createProject(
        client: String, craftsman: String, title: String, budget: Int64?, currency: String,
        conversation: Int64?, actor: Actor, reply: Reply<MarketChange<Project>>)
    /// A project with its contracts and milestones.
    func project(_ id: Int64, actor: Actor, reply: Reply<ProjectDetail>)
    /// Proposes a contract; `milestones` are created with it.
    func createContract(
        project: Int64, terms: [UInt8], milestones: [MilestoneInput], actor: Actor,
        reply: Reply<MarketChange<Contract>>)
    func contract(_ id: Int64, actor: Actor, reply: Reply<Contract>)
    func sign(contract: Int64, actor: Actor, reply: Reply<MarketChange<Contract>>)
    /// Proposes a new contract superseding `contract`; answers the new one.
    func amend(contract: Int64, terms: [UInt8], actor: Actor, reply: Reply<MarketChange<Contract>>)
    /// Creates the payment `pending` if the rules allow it, before anything
    /// is charged. With a key: a replay returns the stored answer (nothing
    /// created); the same key with another body is `idempotencyMismatch`.
    func createPayment(
        project: Int64, _ payment: NewPayment, fees: FeeBreakdown, actor: Actor,
        idempotencyKey: String?, fingerprint: String, reply: Reply<PaymentStart>)
    /// Records the provider's answer for a payment `createPayment` created
    /// (captured into escrow, pending, or failed); the idempotency key's
    /// stored answer becomes the final one.
    func recordCharge(
        payment: Int64, charge: ProviderCharge, actor: Actor, idempotencyKey: String?,
        reply: Reply<MarketChange<Payment>>)
    func release(payment: Int64, actor: Actor, reply: Reply<MarketChange<Payment>>)
    func refund(payment: Int64, amount: Int64?, reason: String, actor: Actor, reply: Reply<MarketChange<Refund>>)
    func payments(project: Int64, page: Int, actor: Actor, reply: Reply<PaymentPage>)
    /// Adds a milestone (an amount in minor units, or a percentage of the budget).
    func createMilestone(project: Int64, _ milestone: MilestoneInput, actor: Actor, reply: Reply<MarketChange<Milestone>>)
    /// The craftsman marks a milestone done (the client is notified).
    func completeMilestone(project: Int64, milestone: Int64, actor: Actor, reply: Reply<MarketChange<Milestone>>)
    /// The client approves a completed milestone (the craftsman is notified).
    func approveMilestone(project: Int64, milestone: Int64, actor: Actor, reply: Reply<MarketChange<Milestone>>)
    /// The sandbox provider's callback: a pending payment succeeded or failed.
    func providerEvent(reference: String, succeeded: Bool, actor: Actor, reply: Reply<MarketChange<Payment>>)
}
