// Market actions in memory: answers what the test scripts, keeps what it was
// asked. No rule of the market lives here — those are SQL, tested end to end.
import SwitchboardWire
import SwitchboardHub

/// A scripted `MarketStore`: every call is recorded, then answered with
/// `refusal` if set, else with the scripted entity (and `notifications` and
/// `systemMessages` for changes).
public final class FakeMarketStore: MarketStore {
    public init() {}

    /// Each call's name and actor, in order.
    public private(set) var calls: [(name: String, actor: Actor)] = []
    /// The names of the calls, in order.
    public var callNames: [String] { calls.map(\.name) }
    /// When set, every call is refused with it.
    public var refusal: HubError? = HubError(.notFound, "nothing here")

    // The scripted answers.
    public var project = Project(
        id: 7, client: "alice", craftsman: "bob", title: "Kitchen", status: "inquiry", estimatedBudget: nil,
        currency: "RON", paymentStatus: "unpaid", conversation: nil, createdAtMillis: 1_000)
    public var contract = Contract(
        id: 3, project: 7, number: "CTR-202601-000001", terms: Array(#"{"scope":"kitchen"}"#.utf8),
        parent: nil, supersededBy: nil, clientSignedAtMillis: nil, craftsmanSignedAtMillis: nil,
        signedAtMillis: nil, expiresAtMillis: 2_000, status: "pending")
    public var milestone = Milestone(
        id: 5, project: 7, title: "Tiles", dueOn: nil, amount: 1_000, percentage: nil,
        requiresApproval: true, completedAtMillis: nil, approvedAtMillis: nil)
    public var payment = Payment(
        id: 9, project: 7, milestone: nil, type: "deposit", amount: 100_000, currency: "RON", status: "completed",
        method: "card", escrow: true, releasedAtMillis: nil, refundedAmount: 0, platformFee: 5_000,
        providerFee: 2_900, netAmount: 92_100, installmentNumber: nil, installmentCount: nil,
        providerReference: "sbx_1", createdAtMillis: 1_000)
    /// What step one of a payment answers (unless `refusal` is set).
    public var paymentStart: PaymentStart = .created(id: 9, currency: "RON")
    /// Refuses step two only (the charge's record), when set.
    public var chargeRefusal: HubError?
    public var notifications: [StoredNotification] = []
    public var systemMessages: [MarketSystemMessage] = []

    // What the calls carried.
    public private(set) var newPayments: [(payment: NewPayment, idempotencyKey: String?, fingerprint: String)] = []
    public private(set) var recordedCharges: [(payment: Int64, charge: ProviderCharge)] = []
    public private(set) var proposedMilestones: [[MilestoneInput]] = []
    public private(set) var refunds: [(payment: Int64, amount: Int64?, reason: String)] = []

    private func answer<T>(_ name: String, _ actor: Actor, _ value: T, _ reply: Reply<T>) {
        calls.append((name, actor))
        if let refusal { reply.fail(refusal) } else { reply.succeed(value) }
    }

    private func change<T>(_ value: T) -> MarketChange<T> {
        MarketChange(value, notifications: notifications, systemMessages: systemMessages)
    }

    public func createProject(
        client: String, craftsman: String, title: String, budget: Int64?, currency: String,
        conversation: Int64?, actor: Actor, reply: Reply<MarketChange<Project>>
    ) {
        answer("createProject", actor, change(project), reply)
    }
    public func project(_ id: Int64, actor: Actor, reply: Reply<ProjectDetail>) {
        answer("project", actor, ProjectDetail(project: project, contracts: [contract], milestones: [milestone]), reply)
    }
    public func createContract(
        project: Int64, terms: [UInt8], milestones: [MilestoneInput], actor: Actor,
        reply: Reply<MarketChange<Contract>>
    ) {
        proposedMilestones.append(milestones)
        answer("createContract", actor, change(contract), reply)
    }
    public func contract(_ id: Int64, actor: Actor, reply: Reply<Contract>) { answer("contract", actor, contract, reply) }
    public func sign(contract: Int64, actor: Actor, reply: Reply<MarketChange<Contract>>) {
        answer("sign", actor, change(self.contract), reply)
    }
    public func amend(contract: Int64, terms: [UInt8], actor: Actor, reply: Reply<MarketChange<Contract>>) {
        answer("amend", actor, change(self.contract), reply)
    }
    public func createPayment(
        project: Int64, _ payment: NewPayment, fees: FeeBreakdown, actor: Actor,
        idempotencyKey: String?, fingerprint: String, reply: Reply<PaymentStart>
    ) {
        newPayments.append((payment, idempotencyKey, fingerprint))
        answer("createPayment", actor, paymentStart, reply)
    }
    public func recordCharge(
        payment: Int64, charge: ProviderCharge, actor: Actor, idempotencyKey: String?,
        reply: Reply<MarketChange<Payment>>
    ) {
        recordedCharges.append((payment, charge))
        calls.append(("recordCharge", actor))
        if let chargeRefusal { reply.fail(chargeRefusal) } else { reply.succeed(change(self.payment)) }
    }
    public func release(payment: Int64, actor: Actor, reply: Reply<MarketChange<Payment>>) {
        answer("release", actor, change(self.payment), reply)
    }
    public func refund(payment: Int64, amount: Int64?, reason: String, actor: Actor, reply: Reply<MarketChange<Refund>>) {
        refunds.append((payment, amount, reason))
        answer("refund", actor, change(Refund(payment: self.payment, refundedNow: amount ?? self.payment.amount)), reply)
    }
    public func payments(project: Int64, page: Int, actor: Actor, reply: Reply<PaymentPage>) {
        answer(
            "payments", actor,
            PaymentPage(
                page: page, payments: [payment], paid: payment.amount, refunded: 0,
                platformFees: payment.platformFee, providerFees: payment.providerFee,
                net: payment.netAmount), reply)
    }
    public func createMilestone(project: Int64, _ milestone: MilestoneInput, actor: Actor, reply: Reply<MarketChange<Milestone>>)
    {
        answer("createMilestone", actor, change(self.milestone), reply)
    }
    public func completeMilestone(project: Int64, milestone: Int64, actor: Actor, reply: Reply<MarketChange<Milestone>>) {
        answer("completeMilestone", actor, change(self.milestone), reply)
    }
    public func approveMilestone(project: Int64, milestone: Int64, actor: Actor, reply: Reply<MarketChange<Milestone>>) {
        answer("approveMilestone", actor, change(self.milestone), reply)
    }
    public func providerEvent(reference: String, succeeded: Bool, actor: Actor, reply: Reply<MarketChange<Payment>>) {
        answer("providerEvent", actor, change(payment), reply)
    }
}
