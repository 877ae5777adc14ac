// A milestone as a request proposes it (alone, or in a contract proposal),
// validated before it reaches the store.
import SwitchboardWire

/// A milestone in a request body.
public struct MilestoneInput: Sendable, Equatable {
    public var title: String
    /// YYYY-MM-DD.
    public var dueOn: String?
    /// Exactly one of `amount` (minor units) and `percentage` is set.
    public var amount: Int64?
    public var percentage: Double?
    public var requiresApproval: Bool

    /// A milestone.
    public init(title: String, dueOn: String?, amount: Int64?, percentage: Double?, requiresApproval: Bool) {
        self.title = title
        self.dueOn = dueOn
        self.amount = amount
        self.percentage = percentage
        self.requiresApproval = requiresApproval
    }

    /// Reads and checks a body; the error says which field is wrong (400).
    public init(_ body: JSON) throws(HubError) {
        func refuse(_ message: String) -> HubError { HubError(.badRequest, message) }
        guard body.isObject, let title = body["title"]?.stringValue, !title.isEmpty, title.utf8.count <= 200 else {
            throw refuse("'title' must be a string of 1 to 200 bytes")
        }
        var due: String?
        if let field = body["due_on"], field != .null {
            guard let text = field.stringValue, text.utf8.count == 10, Timestamp.parseMillis(text + "T00:00:00Z") != nil else {
                throw refuse("'due_on' must be a date YYYY-MM-DD")
            }
            due = text
        }
        self.init(
            title: title, dueOn: due, amount: nil, percentage: nil,
            requiresApproval: body["requires_client_approval"]?.boolValue ?? body["requires_approval"]?.boolValue ?? true)
        let amount = body["amount"].flatMap { $0 == .null ? nil : $0 }
        let percentage = body["percentage"].flatMap { $0 == .null ? nil : $0 }
        switch (amount, percentage) {
        case (let a?, nil):
            guard let v = a.intValue, v > 0, v <= Fees.maxAmount else {
                throw refuse("'amount' must be a positive integer in minor units")
            }
            self.amount = v
        case (nil, let p?):
            let v: Double? = p.intValue.map(Double.init) ?? { if case .double(let d) = p { return d } else { return nil } }()
            guard let v, v > 0, v <= 100, (v * 100).rounded() == v * 100 else {
                throw refuse("'percentage' must be 0.01 to 100 with at most two decimals")
            }
            self.percentage = v
        default:
            throw refuse("give exactly one of 'amount' (minor units) or 'percentage'")
        }
    }
}
