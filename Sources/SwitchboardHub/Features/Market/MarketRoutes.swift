// The market routes whose input takes more than an id to check: projects,
// contract proposals, payments (stored, then charged once), refunds, the
// payment list, fee quotes and the provider's callbacks.
import SwitchboardWire

extension MarketFeature {
    func createProject(_ call: RouteCall, _ actor: Actor) throws(HubError) -> HTTPResponse? {
        let body = try call.jsonObject()
        try storeUp()  // after the body, before its fields (as before the route table)
        func text(_ name: String, max: Int) -> String? {
            guard let v = body[name]?.stringValue, !v.isEmpty, v.utf8.count <= max else { return nil }
            return v
        }
        guard let client = text("client", max: 256), let craftsman = text("craftsman", max: 256), client != craftsman,
            Identifier.isUserID(client), Identifier.isUserID(craftsman)
        else {
            throw HubError(.badRequest, "'client' and 'craftsman' must be two different user ids")
        }
        guard let title = text("title", max: 200) else {
            throw HubError(.badRequest, "'title' must be a string of 1 to 200 bytes")
        }
        guard actor.isBackend || actor.id == client else {
            throw HubError(.forbidden, "a project is opened by its client or a backend")
        }
        var budget: Int64?
        if let field = body["estimated_budget"], field != .null {
            guard let v = field.intValue, v >= 0, v <= Fees.maxAmount else {
                throw HubError(.badRequest, "'estimated_budget' must be a non-negative integer in minor units")
            }
            budget = v
        }
        let currency = body["currency"]?.stringValue ?? "RON"
        guard currency.utf8.count == 3, currency.utf8.allSatisfy({ (65...90).contains($0) }) else {
            throw HubError(.badRequest, "'currency' must be an ISO 4217 code such as RON")
        }
        var conversation: Int64?
        if let field = body["conversation_id"], field != .null {
            guard let v = field.intValue ?? field.stringValue.flatMap({ Int64($0) }), v > 0 else {
                throw HubError(.badRequest, "'conversation_id' must be a conversation id")
            }
            conversation = v
        }
        store.createProject(
            client: client, craftsman: craftsman, title: title, budget: budget, currency: currency,
            conversation: conversation, actor: actor, reply: answer(call, 201, \.json))
        return nil
    }

    func createContract(_ call: RouteCall, _ actor: Actor) throws(HubError) -> HTTPResponse? {
        let project = try Self.entity(call, "project")
        let body = try call.jsonObject()
        try storeUp()
        let terms = try Self.terms(body)
        var milestones: [MilestoneInput] = []
        if let field = body["milestones"], field != .null {
            guard case .array(let list) = field, list.count <= 50 else {
                throw HubError(.badRequest, "'milestones' must be an array of at most 50 milestones")
            }
            for (i, item) in list.enumerated() {
                do {
                    milestones.append(try MilestoneInput(item))
                } catch {
                    throw HubError(.badRequest, "milestones[\(i)]: " + error.message)
                }
            }
        }
        store.createContract(
            project: project, terms: terms, milestones: milestones, actor: actor, reply: answer(call, 201, \.json))
        return nil
    }

    static func paymentFields(_ body: JSON) throws(HubError) -> (amount: Int64, method: PaymentMethod) {
        guard let amount = body["amount"]?.intValue, amount > 0, amount <= Fees.maxAmount else {
            throw HubError(.badRequest, "'amount' must be a positive integer in minor units (at most 10^12)")
        }
        guard let text = body["method"]?.stringValue, let method = PaymentMethod(rawValue: text) else {
            throw HubError(.badRequest, "'method' must be card, bank_transfer or klarna")
        }
        return (amount, method)
    }

    static func calculateFee(_ body: JSON) throws(HubError) -> HTTPResponse {
        let (amount, method) = try paymentFields(body)
        let f = Fees.calculate(amount: amount, method: method)
        return .json(
            200,
            .object([
                "amount": .int(f.amount), "method": .string(method.rawValue),
                "platform_fee": .int(f.platformFee), "provider_fee": .int(f.providerFee),
                "net_amount": .int(f.net), "rounding": .string("half up per fee, in minor units"),
            ]))
    }

    func createPayment(_ call: RouteCall, _ actor: Actor) throws(HubError) -> HTTPResponse? {
        let project = try Self.entity(call, "project")
        let body = try call.jsonObject()
        try storeUp()
        let (amount, method) = try Self.paymentFields(body)
        var milestone: Int64?
        if let field = body["milestone_id"], field != .null {
            guard let v = field.intValue ?? field.stringValue.flatMap({ Int64($0) }), v > 0 else {
                throw HubError(.badRequest, "'milestone_id' must be a milestone id")
            }
            milestone = v
        }
        let type = body["type"]?.stringValue ?? (milestone == nil ? "deposit" : "milestone")
        guard ["milestone", "deposit", "final", "installment"].contains(type) else {
            throw HubError(.badRequest, "'type' must be milestone, deposit, final or installment")
        }
        let number = body["installment_number"]?.intValue.map { Int(clamping: $0) }
        let count = body["installment_count"]?.intValue.map { Int(clamping: $0) }
        if let n = number, !(1...36).contains(n) { throw HubError(.badRequest, "'installment_number' must be 1 to 36") }
        if let c = count, !(2...36).contains(c) { throw HubError(.badRequest, "'installment_count' must be 2 to 36") }
        if type == "installment" {
            guard let number, let count, count >= 2, count <= 36, (1...count).contains(number) else {
                throw HubError(.badRequest, "installments need 'installment_number' 1…'installment_count' (2 to 36)")
            }
        }
        let key = call.request.idempotencyKey
        if let key, key.isEmpty || key.utf8.count > 128 { throw HubError(.badRequest, "Idempotency-Key must be 1 to 128 bytes") }
        let payment = NewPayment(
            amount: amount, method: method, milestone: milestone, type: type,
            installmentNumber: number, installmentCount: count)
        // Stored first (pending, under the rules and the idempotency key),
        // charged only then, once, with the payment's own id as the
        // provider's idempotency key: a replay or a refused request (409)
        // never reaches the provider. A replay answers as the first request did.
        let charged: Reply<MarketChange<Payment>> = answer(call, 201, \.json)
        let id = call.id
        store.createPayment(
            project: project, payment, fees: Fees.calculate(amount: amount, method: method), actor: actor,
            idempotencyKey: key, fingerprint: RequestFingerprint.of(.object(["project": .int(project), "body": body])),
            reply: Reply(on: hub.loop, to: self) { market, start in
                switch start {
                case .failure(let error): market.hub.respond(id, .error(error))
                case .success(.replay(let stored)): market.hub.respond(id, .json(201, stored.json))
                case .success(.created(let paymentID, let currency)):
                    let charge = market.paymentProvider.charge(
                        amount: amount, currency: currency, method: method,
                        idempotencyKey: "payment-\(paymentID)")
                    market.store.recordCharge(
                        payment: paymentID, charge: charge, actor: actor, idempotencyKey: key, reply: charged)
                }
            })
        return nil
    }

    func refund(_ call: RouteCall, _ actor: Actor) throws(HubError) -> HTTPResponse? {
        let payment = try Self.entity(call, "payment")
        let body = try call.jsonObject()
        try storeUp()
        var amount: Int64?
        if let field = body["amount"], field != .null {
            guard let value = field.intValue, value > 0, value <= Fees.maxAmount else {
                throw HubError(.badRequest, "'amount' must be a positive integer in minor units")
            }
            amount = value
        }
        guard let reason = body["reason"]?.stringValue, !reason.isEmpty, reason.utf8.count <= 1000 else {
            throw HubError(.badRequest, "'reason' must be a string of 1 to 1,000 bytes")
        }
        store.refund(payment: payment, amount: amount, reason: reason, actor: actor, reply: answer(call, 200, \.json))
        return nil
    }

    func listPayments(_ call: RouteCall, _ actor: Actor) throws(HubError) -> HTTPResponse? {
        try storeUp()
        guard let project = call.request.query["project"].flatMap({ Int64($0) }), project > 0 else {
            throw HubError(.badRequest, "'project' must be a project id")
        }
        let page = call.request.query["page"].map { Int($0) ?? 0 } ?? 1
        guard (1...10_000).contains(page) else { throw HubError(.badRequest, "'page' must be 1 or more") }
        store.payments(project: project, page: page, actor: actor, reply: answer(call, 200, \.json))
        return nil
    }

    func providerEvent(_ call: RouteCall, _ actor: Actor) throws(HubError) -> HTTPResponse? {
        let body = try call.jsonObject()
        try storeUp()
        guard actor.isBackend else { throw HubError(.forbidden, "provider callbacks come with the provider's API key") }
        guard let reference = body["provider_reference"]?.stringValue, !reference.isEmpty, reference.utf8.count <= 128,
            let event = body["event"]?.stringValue, event == "payment.succeeded" || event == "payment.failed"
        else {
            throw HubError(.badRequest, "needs 'provider_reference' and 'event' (payment.succeeded or payment.failed)")
        }
        store.providerEvent(
            reference: reference, succeeded: event == "payment.succeeded", actor: actor, reply: answer(call, 200, \.json))
        return nil
    }
}
