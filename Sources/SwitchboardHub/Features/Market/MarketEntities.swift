// The market's entities as the store reads them, and their JSON — rendered
// here, once per type, for every route that answers with them. Ids are
// rendered as strings and times as epoch milliseconds (Protocol/openapi.yaml);
// a field without a value is rendered as null, never left out.
import SwitchboardWire

/// A project between a client and a craftsman.
public struct Project: Sendable, Equatable {
    public var id: Int64
    public var client: String
    public var craftsman: String
    public var title: String
    public var status: String
    public var estimatedBudget: Int64?
    public var currency: String
    public var paymentStatus: String
    public var conversation: Int64?
    public var createdAtMillis: Int64

    /// A project.
    public init(
        id: Int64, client: String, craftsman: String, title: String, status: String, estimatedBudget: Int64?,
        currency: String, paymentStatus: String, conversation: Int64?, createdAtMillis: Int64
    ) {
        self.id = id
        self.client = client
        self.craftsman = craftsman
        self.title = title
        self.status = status
        self.estimatedBudget = estimatedBudget
        self.currency = currency
        self.paymentStatus = paymentStatus
        self.conversation = conversation
        self.createdAtMillis = createdAtMillis
    }

    /// The REST rendering.
    public var json: JSON {
        .object([
            "id": .id(id), "client": .string(client), "craftsman": .string(craftsman), "title": .string(title),
            "status": .string(status), "estimated_budget": .number(estimatedBudget), "currency": .string(currency),
            "payment_status": .string(paymentStatus), "conversation": .id(conversation), "created_at": .int(createdAtMillis),
        ])
    }
}

/// A project with its contracts and milestones (oldest first).
public struct ProjectDetail: Sendable, Equatable {
    public var project: Project
    public var contracts: [Contract]
    public var milestones: [Milestone]

    /// A project's detail.
    public init(project: Project, contracts: [Contract], milestones: [Milestone]) {
        self.project = project
        self.contracts = contracts
        self.milestones = milestones
    }

    /// The REST rendering: the project's fields plus `contracts` and
    /// `milestones` (whose project is implied, so they leave it out).
    public var json: JSON {
        guard case .object(var fields) = project.json else { return .null }
        fields["contracts"] = .array(contracts.map(\.json))
        fields["milestones"] = .array(milestones.map { $0.json(withProject: false) })
        return .object(fields)
    }
}

/// A contract (or an amendment of one).
public struct Contract: Sendable, Equatable {
    public var id: Int64
    public var project: Int64
    public var number: String
    /// The terms, JSON as proposed.
    public var terms: [UInt8]
    public var parent: Int64?
    public var supersededBy: Int64?
    public var clientSignedAtMillis: Int64?
    public var craftsmanSignedAtMillis: Int64?
    public var signedAtMillis: Int64?
    public var expiresAtMillis: Int64
    /// pending, signed, expired or superseded (decided by the store).
    public var status: String

    /// A contract.
    public init(
        id: Int64, project: Int64, number: String, terms: [UInt8], parent: Int64?, supersededBy: Int64?,
        clientSignedAtMillis: Int64?, craftsmanSignedAtMillis: Int64?, signedAtMillis: Int64?,
        expiresAtMillis: Int64, status: String
    ) {
        self.id = id
        self.project = project
        self.number = number
        self.terms = terms
        self.parent = parent
        self.supersededBy = supersededBy
        self.clientSignedAtMillis = clientSignedAtMillis
        self.craftsmanSignedAtMillis = craftsmanSignedAtMillis
        self.signedAtMillis = signedAtMillis
        self.expiresAtMillis = expiresAtMillis
        self.status = status
    }

    /// The REST rendering.
    public var json: JSON {
        .object([
            "id": .id(id), "project": .id(project), "number": .string(number),
            "terms": (try? JSON.parse(terms)) ?? .object([:]), "parent": .id(parent), "superseded_by": .id(supersededBy),
            "client_signed_at": .number(clientSignedAtMillis), "craftsman_signed_at": .number(craftsmanSignedAtMillis),
            "signed_at": .number(signedAtMillis), "expires_at": .int(expiresAtMillis), "status": .string(status),
        ])
    }
}

/// A milestone of a project.
public struct Milestone: Sendable, Equatable {
    public var id: Int64
    public var project: Int64
    public var title: String
    /// YYYY-MM-DD.
    public var dueOn: String?
    public var amount: Int64?
    public var percentage: Double?
    public var requiresApproval: Bool
    public var completedAtMillis: Int64?
    public var approvedAtMillis: Int64?

    /// A milestone.
    public init(
        id: Int64, project: Int64, title: String, dueOn: String?, amount: Int64?, percentage: Double?,
        requiresApproval: Bool, completedAtMillis: Int64?, approvedAtMillis: Int64?
    ) {
        self.id = id
        self.project = project
        self.title = title
        self.dueOn = dueOn
        self.amount = amount
        self.percentage = percentage
        self.requiresApproval = requiresApproval
        self.completedAtMillis = completedAtMillis
        self.approvedAtMillis = approvedAtMillis
    }

    /// The REST rendering (inside a project's detail without `project`).
    public func json(withProject: Bool = true) -> JSON {
        var fields: [String: JSON] = [
            "id": .id(id), "title": .string(title), "due_on": dueOn.map(JSON.string) ?? .null, "amount": .number(amount),
            "percentage": percentage.map(JSON.double) ?? .null, "requires_approval": .bool(requiresApproval),
            "completed_at": .number(completedAtMillis), "approved_at": .number(approvedAtMillis),
        ]
        if withProject { fields["project"] = .id(project) }
        return .object(fields)
    }
}

/// A payment into escrow.
public struct Payment: Sendable, Equatable {
    public var id: Int64
    public var project: Int64
    public var milestone: Int64?
    public var type: String
    public var amount: Int64
    public var currency: String
    public var status: String
    public var method: String
    public var escrow: Bool
    public var releasedAtMillis: Int64?
    public var refundedAmount: Int64
    public var platformFee: Int64
    public var providerFee: Int64
    public var netAmount: Int64
    public var installmentNumber: Int64?
    public var installmentCount: Int64?
    public var providerReference: String
    public var createdAtMillis: Int64

    /// A payment.
    public init(
        id: Int64, project: Int64, milestone: Int64?, type: String, amount: Int64, currency: String, status: String,
        method: String, escrow: Bool, releasedAtMillis: Int64?, refundedAmount: Int64, platformFee: Int64,
        providerFee: Int64, netAmount: Int64, installmentNumber: Int64?, installmentCount: Int64?,
        providerReference: String, createdAtMillis: Int64
    ) {
        self.id = id
        self.project = project
        self.milestone = milestone
        self.type = type
        self.amount = amount
        self.currency = currency
        self.status = status
        self.method = method
        self.escrow = escrow
        self.releasedAtMillis = releasedAtMillis
        self.refundedAmount = refundedAmount
        self.platformFee = platformFee
        self.providerFee = providerFee
        self.netAmount = netAmount
        self.installmentNumber = installmentNumber
        self.installmentCount = installmentCount
        self.providerReference = providerReference
        self.createdAtMillis = createdAtMillis
    }

    /// The REST rendering.
    public var json: JSON {
        .object([
            "id": .id(id), "project": .id(project), "milestone": .id(milestone), "type": .string(type),
            "amount": .number(amount), "currency": .string(currency), "status": .string(status), "method": .string(method),
            "escrow": .bool(escrow), "released_at": .number(releasedAtMillis), "refunded_amount": .int(refundedAmount),
            "platform_fee": .int(platformFee), "provider_fee": .int(providerFee), "net_amount": .int(netAmount),
            "installment_number": .number(installmentNumber), "installment_count": .number(installmentCount),
            "provider_reference": .string(providerReference), "created_at": .int(createdAtMillis),
        ])
    }
}

/// A payment after a refund, with the amount this refund gave back.
public struct Refund: Sendable, Equatable {
    public var payment: Payment
    public var refundedNow: Int64

    /// A refund.
    public init(payment: Payment, refundedNow: Int64) {
        self.payment = payment
        self.refundedNow = refundedNow
    }

    /// The REST rendering: the payment plus `refunded_now`.
    public var json: JSON {
        guard case .object(var fields) = payment.json else { return .null }
        fields["refunded_now"] = .int(refundedNow)
        return .object(fields)
    }
}

/// One page (50) of a project's payments and the project's totals over
/// completed and refunded payments.
public struct PaymentPage: Sendable, Equatable {
    public var page: Int
    public var payments: [Payment]
    public var paid: Int64
    public var refunded: Int64
    public var platformFees: Int64
    public var providerFees: Int64
    public var net: Int64

    /// A page.
    public init(
        page: Int, payments: [Payment], paid: Int64, refunded: Int64, platformFees: Int64, providerFees: Int64, net: Int64
    ) {
        self.page = page
        self.payments = payments
        self.paid = paid
        self.refunded = refunded
        self.platformFees = platformFees
        self.providerFees = providerFees
        self.net = net
    }

    /// The REST rendering.
    public var json: JSON {
        .object([
            "page": .int(Int64(page)), "payments": .array(payments.map(\.json)),
            "totals": .object([
                "paid": .int(paid), "refunded": .int(refunded), "platform_fees": .int(platformFees),
                "provider_fees": .int(providerFees), "net": .int(net),
            ]),
        ])
    }
}

extension JSON {
    /// An id as the API shows it: a string, or null.
    static func id(_ value: Int64?) -> JSON { value.map { .string(String($0)) } ?? .null }
    /// An integer, or null.
    static func number(_ value: Int64?) -> JSON { value.map(JSON.int) ?? .null }
}
