// REST routes for projects, contracts and payments. Input is validated here;
// every rule about who may do what and in which state is decided in SQL by
// the store; each committed change's notifications are pushed live. The
// store answers with entities; the status (201 for what a route creates,
// 200 otherwise) and the JSON are chosen here.
import SwitchboardWire

extension Hub {
    /// Routes under /v1/projects, /v1/contracts and /v1/payments; nil otherwise.
    func marketRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse?? {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count >= 2, parts[0] == "v1", ["projects", "contracts", "payments"].contains(parts[1]) else { return nil }
        let actor: Actor
        switch caller(of: request) {
        case .failure(let response): return .some(response)
        case .success(.user(let p)): actor = Actor(id: p.user, isBackend: false, ip: request.clientAddress)
        case .success(.backend(let name)): actor = Actor(id: ReservedUser.backendPrefix + name, isBackend: true, ip: request.clientAddress)
        }
        do {
            return .some(try marketAction(request, parts, actor: actor, id: id))
        } catch {
            return .some(.error(error))
        }
    }

    /// Validates and starts one market action; nil when the answer comes
    /// later (from the store), a response when it is known now.
    private func marketAction(_ request: HTTPRequest, _ parts: [String], actor: Actor,
                              id: HTTPRequestID) throws(HubError) -> HTTPResponse? {
        var entity: Int64 = 0
        // /v1/payments/calculate-fee and /v1/payments/webhook/… name no payment.
        if parts.count >= 3, !(parts[1] == "payments" && ["calculate-fee", "webhook"].contains(parts[2])) {
            guard let value = Int64(parts[2]), value > 0 else { throw HubError(.notFound, "no such resource") }
            entity = value
        }
        let maybeBody = Self.jsonBody(request)
        let route = (request.method, parts[1], parts.count, parts.count >= 4 ? parts[3] : "")
        // Actions such as sign, release, complete and approve take no body.
        let bodyless = ["sign", "release", "complete", "approve"].contains(parts.last ?? "")
        if route.0 != "GET" && !bodyless && route != ("POST", "payments", 3, ""), maybeBody == nil {
            throw HubError(.badJSON, "body must be a JSON object")
        }
        guard store.isAvailable || route == ("POST", "payments", 3, "") else { return Self.unavailable }
        let body = maybeBody ?? .object([:])
        switch route {
        case ("POST", "projects", 2, _):
            try createProject(body, actor: actor, reply: answer(id, 201, \.json))
        case ("GET", "projects", 3, _):
            market.project(entity, actor: actor, reply: answer(id, 200, \.json))
        case ("POST", "projects", 4, "contracts"):
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
            market.createContract(project: entity, terms: terms, milestones: milestones, actor: actor, reply: answer(id, 201, \.json))
        case ("POST", "projects", 4, "payments"):
            try createPayment(request, body, project: entity, actor: actor, id: id)
        case ("GET", "contracts", 3, _):
            market.contract(entity, actor: actor, reply: answer(id, 200, \.json))
        case ("POST", "contracts", 4, "sign"):
            market.sign(contract: entity, actor: actor, reply: answer(id, 200, \.json))
        case ("POST", "contracts", 4, "amend"):
            market.amend(contract: entity, terms: try Self.terms(body), actor: actor, reply: answer(id, 201, \.json))
        case ("POST", "payments", 3, _) where parts[2] == "calculate-fee":
            return try calculateFee(body)
        case ("POST", "payments", 4, "sandbox") where parts[2] == "webhook":
            guard actor.isBackend else { throw HubError(.forbidden, "provider callbacks come with the provider's API key") }
            guard let reference = body["provider_reference"]?.stringValue, !reference.isEmpty, reference.utf8.count <= 128,
                  let event = body["event"]?.stringValue, event == "payment.succeeded" || event == "payment.failed" else {
                throw HubError(.badRequest, "needs 'provider_reference' and 'event' (payment.succeeded or payment.failed)")
            }
            market.providerEvent(reference: reference, succeeded: event == "payment.succeeded", actor: actor,
                                 reply: answer(id, 200, \.json))
        case ("POST", "projects", 4, "milestones"):
            let milestone: MilestoneInput
            do { milestone = try MilestoneInput(body) } catch { throw HubError(.badRequest, error.message) }
            market.createMilestone(project: entity, milestone, actor: actor, reply: answer(id, 201) { $0.json() })
        case ("POST", "projects", 6, "milestones") where parts[5] == "complete" || parts[5] == "approve":
            guard let milestone = Int64(parts[4]), milestone > 0 else { throw HubError(.notFound, "no such milestone") }
            if parts[5] == "complete" {
                market.completeMilestone(project: entity, milestone: milestone, actor: actor, reply: answer(id, 200) { $0.json() })
            } else {
                market.approveMilestone(project: entity, milestone: milestone, actor: actor, reply: answer(id, 200) { $0.json() })
            }
        case ("POST", "payments", 4, "release"):
            market.release(payment: entity, actor: actor, reply: answer(id, 200, \.json))
        case ("POST", "payments", 4, "refund"):
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
            market.refund(payment: entity, amount: amount, reason: reason, actor: actor, reply: answer(id, 200, \.json))
        case ("GET", "payments", 2, _):
            guard let project = request.query["project"].flatMap({ Int64($0) }), project > 0 else {
                throw HubError(.badRequest, "'project' must be a project id")
            }
            let page = request.query["page"].map { Int($0) ?? 0 } ?? 1
            guard (1...10_000).contains(page) else { throw HubError(.badRequest, "'page' must be 1 or more") }
            market.payments(project: project, page: page, actor: actor, reply: answer(id, 200, \.json))
        case (_, "projects", 2, _), (_, "projects", 3, _), (_, "projects", 4, "contracts"), (_, "projects", 4, "payments"),
             (_, "projects", 4, "milestones"), (_, "projects", 6, "milestones"), (_, "payments", 4, "sandbox"),
             (_, "contracts", 3, _), (_, "contracts", 4, "sign"), (_, "contracts", 4, "amend"), (_, "payments", 2, _),
             (_, "payments", 4, "release"), (_, "payments", 4, "refund"):
            throw HubError(.methodNotAllowed, "method not allowed")
        default:
            throw HubError(.notFound, "no such endpoint")
        }
        return nil
    }

    /// The reply to a read: `status` with the entity rendered, or the error.
    private func answer<T: Sendable>(_ id: HTTPRequestID, _ status: Int, _ render: @escaping @Sendable (T) -> JSON) -> Reply<T> {
        Reply(on: loop) { [weak self] result in
            switch result {
            case .success(let value): self?.transport?.respond(id, .json(status, render(value)))
            case .failure(let error): self?.transport?.respond(id, .error(error))
            }
        }
    }

    /// The reply to a change: its notifications and system messages go out
    /// live, then `status` with the changed entity rendered, or the error.
    private func answer<T: Sendable>(_ id: HTTPRequestID, _ status: Int,
                                     _ render: @escaping @Sendable (T) -> JSON) -> Reply<MarketChange<T>> {
        Reply(on: loop) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let change):
                publish(change)
                transport?.respond(id, .json(status, render(change.value)))
            case .failure(let error):
                transport?.respond(id, .error(error))
            }
        }
    }

    private func publish<T>(_ change: MarketChange<T>) {
        pushNotifications(change.notifications)
        for system in change.systemMessages { deliverSystemMessage(system.message, members: system.members) }
    }

    private static func terms(_ body: JSON) throws(HubError) -> [UInt8] {
        guard let terms = body["terms"], terms.isObject else { throw HubError(.badRequest, "'terms' must be a JSON object") }
        return terms.bytes
    }

    private func createProject(_ body: JSON, actor: Actor, reply: Reply<MarketChange<Project>>) throws(HubError) {
        func text(_ name: String, max: Int) -> String? {
            guard let v = body[name]?.stringValue, !v.isEmpty, v.utf8.count <= max else { return nil }
            return v
        }
        guard let client = text("client", max: 256), let craftsman = text("craftsman", max: 256), client != craftsman,
              Identifier.isUserID(client), Identifier.isUserID(craftsman) else {
            throw HubError(.badRequest, "'client' and 'craftsman' must be two different user ids")
        }
        guard let title = text("title", max: 200) else { throw HubError(.badRequest, "'title' must be a string of 1 to 200 bytes") }
        guard actor.isBackend || actor.id == client else { throw HubError(.forbidden, "a project is opened by its client or a backend") }
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
        market.createProject(client: client, craftsman: craftsman, title: title, budget: budget, currency: currency,
                             conversation: conversation, actor: actor, reply: reply)
    }

    static func paymentFields(_ body: JSON?) throws(HubError) -> (amount: Int64, method: PaymentMethod) {
        guard let amount = body?["amount"]?.intValue, amount > 0, amount <= Fees.maxAmount else {
            throw HubError(.badRequest, "'amount' must be a positive integer in minor units (at most 10^12)")
        }
        guard let text = body?["method"]?.stringValue, let method = PaymentMethod(rawValue: text) else {
            throw HubError(.badRequest, "'method' must be card, bank_transfer or klarna")
        }
        return (amount, method)
    }

    private func calculateFee(_ body: JSON) throws(HubError) -> HTTPResponse {
        let (amount, method) = try Self.paymentFields(body)
        let f = Fees.calculate(amount: amount, method: method)
        return .json(200, .object(["amount": .int(f.amount), "method": .string(method.rawValue),
                                   "platform_fee": .int(f.platformFee), "provider_fee": .int(f.providerFee),
                                   "net_amount": .int(f.net), "rounding": .string("half up per fee, in minor units")]))
    }

    private func createPayment(_ request: HTTPRequest, _ body: JSON, project: Int64, actor: Actor,
                               id: HTTPRequestID) throws(HubError) {
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
        if let key = request.idempotencyKey, key.isEmpty || key.utf8.count > 128 {
            throw HubError(.badRequest, "Idempotency-Key must be 1 to 128 bytes")
        }
        let payment = NewPayment(amount: amount, method: method, milestone: milestone, type: type,
                                 installmentNumber: number, installmentCount: count)
        // Stored first (pending, under the rules and the idempotency key),
        // charged only then, once, with the payment's own id as the
        // provider's idempotency key: a replay or a refused request (409)
        // never reaches the provider. A replay answers as the first request did.
        let key = request.idempotencyKey
        let charged: Reply<MarketChange<Payment>> = answer(id, 201, \.json)
        market.createPayment(project: project, payment, fees: Fees.calculate(amount: amount, method: method), actor: actor,
                             idempotencyKey: key, fingerprint: RequestFingerprint.of(.object(["project": .int(project), "body": body])),
                             reply: Reply(on: loop) { [weak self] start in
            guard let self else { return }
            switch start {
            case .failure(let error): transport?.respond(id, .error(error))
            case .success(.replay(let stored)): transport?.respond(id, .json(201, stored.json))
            case .success(.created(let paymentID, let currency)):
                let charge = paymentProvider.charge(amount: amount, currency: currency, method: method, idempotencyKey: "payment-\(paymentID)")
                market.recordCharge(payment: paymentID, charge: charge, actor: actor, idempotencyKey: key, reply: charged)
            }
        })
    }
}
