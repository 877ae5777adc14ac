// Market actions in memory.
import Logging
import SwitchboardAuth
import SwitchboardWire
import SwitchboardHub

/// Records market calls; answers with a fixed outcome. The rules themselves
/// live in SQL and are tested end to end against PostgreSQL.
public final class FakeMarketStore: MarketStore {
    public init() {}
    public var calls: [String] = []
    public var answer: Result<MarketOutcome, DomainFailure> = .failure(.notFound("nothing here"))
    private func record(_ name: String, _ reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        calls.append(name)
        reply(answer)
    }
    public func createProject(client: String, craftsman: String, title: String, budget: Int64?, currency: String, conversation: Int64?,
                       actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("createProject", reply) }
    public func project(_ id: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("project", reply) }
    public func createContract(project: Int64, terms: [UInt8], milestones: [UInt8], actor: Actor,
                        reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("createContract", reply)
    }
    public func contract(_ id: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("contract", reply) }
    public func sign(contract: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("sign", reply) }
    public func amend(contract: Int64, terms: [UInt8], actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("amend", reply)
    }
    /// What step one of a payment answers (created, a replay, or a refusal).
    public var paymentStart: Result<PaymentStart, DomainFailure> = .failure(.notFound("nothing here"))
    /// The provider answers recorded by step two.
    public var recordedCharges: [(payment: Int64, charge: ProviderCharge)] = []
    public func createPayment(project: Int64, _ payment: NewPayment, fees: FeeBreakdown, actor: Actor,
                       idempotencyKey: String?, fingerprint: String,
                       reply: @escaping (Result<PaymentStart, DomainFailure>) -> Void) {
        calls.append("createPayment")
        reply(paymentStart)
    }
    public func recordCharge(payment: Int64, charge: ProviderCharge, actor: Actor, idempotencyKey: String?,
                      reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        recordedCharges.append((payment, charge))
        record("recordCharge", reply)
    }
    public func release(payment: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("release", reply) }
    public func refund(payment: Int64, amount: Int64?, reason: String, actor: Actor,
                reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("refund", reply) }
    public func payments(project: Int64, page: Int, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("payments", reply)
    }
    public func createMilestone(project: Int64, title: String, dueOn: String?, amount: Int64?, percentage: Double?,
                         requiresApproval: Bool, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("createMilestone", reply)
    }
    public func completeMilestone(project: Int64, milestone: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("completeMilestone", reply)
    }
    public func approveMilestone(project: Int64, milestone: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("approveMilestone", reply)
    }
    public func providerEvent(reference: String, succeeded: Bool, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("providerEvent", reply)
    }
}
