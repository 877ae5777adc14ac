// REST routes for projects, contracts and payments. Input is validated here;
// every rule about who may do what and in which state is decided in SQL by
// the store; each committed change's notifications are pushed live.
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
        var entity: Int64?
        if parts.count >= 3, parts[2] != "calculate-fee", parts[2] != "webhook" {
            guard let value = Int64(parts[2]), value > 0 else { return .some(.error(404, .notFound, "no such resource")) }
            entity = value
        }
        let reply: (Result<MarketOutcome, DomainFailure>) -> Void = { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let outcome):
                pushNotifications(outcome.notifications)
                for (message, members) in outcome.systemMessages { deliverSystemMessage(message, members: members) }
                transport?.respond(id, .json(outcome.status, outcome.body))
            case .failure(let failure):
                transport?.respond(id, failure.response)
            }
        }
        let body = Self.jsonBody(request)
        func needBody() -> HTTPResponse? { body == nil ? .error(400, .badJSON, "body must be a JSON object") : nil }
        let route = (request.method, parts[1], parts.count, parts.count >= 4 ? parts[3] : "")
        // Actions such as sign, release, complete and approve take no body.
        let bodyless = ["sign", "release", "complete", "approve"].contains(parts.last ?? "")
        if route.0 != "GET" && !bodyless && route != ("POST", "payments", 3, ""), let refusal = needBody() { return .some(refusal) }
        guard store.isAvailable || route == ("POST", "payments", 3, "") else { return .some(Self.unavailable) }
        switch route {
        case ("POST", "projects", 2, _):
            return .some(createProject(body!, actor: actor, reply: reply))
        case ("GET", "projects", 3, _):
            market.project(entity!, actor: actor, reply: reply)
        case ("POST", "projects", 4, "contracts"):
            guard let terms = body?["terms"], terms.isObject else { return .some(.error(400, .badRequest, "'terms' must be a JSON object")) }
            var milestones: [JSON] = []
            if let field = body?["milestones"], field != .null {
                guard case .array(let list) = field, list.count <= 50 else {
                    return .some(.error(400, .badRequest, "'milestones' must be an array of at most 50 milestones"))
                }
                for (i, item) in list.enumerated() {
                    switch MilestoneInput.decode(item) {
                    case .failure(let problem): return .some(.error(400, .badRequest, "milestones[\(i)]: " + problem.message))
                    case .success(let m): milestones.append(m.json)
                    }
                }
            }
            market.createContract(project: entity!, terms: terms.bytes, milestones: JSON.array(milestones).bytes, actor: actor, reply: reply)
        case ("POST", "projects", 4, "payments"):
            return .some(createPayment(request, body!, project: entity!, actor: actor, reply: reply))
        case ("GET", "contracts", 3, _):
            market.contract(entity!, actor: actor, reply: reply)
        case ("POST", "contracts", 4, "sign"):
            market.sign(contract: entity!, actor: actor, reply: reply)
        case ("POST", "contracts", 4, "amend"):
            guard let terms = body?["terms"], terms.isObject else { return .some(.error(400, .badRequest, "'terms' must be a JSON object")) }
            market.amend(contract: entity!, terms: terms.bytes, actor: actor, reply: reply)
        case ("POST", "payments", 3, _) where parts[2] == "calculate-fee":
            return .some(calculateFee(body))
        case ("POST", "payments", 4, "sandbox") where parts[2] == "webhook":
            guard actor.isBackend else { return .some(.error(403, .forbidden, "provider callbacks come with the provider's API key")) }
            guard let reference = body?["provider_reference"]?.stringValue, !reference.isEmpty, reference.utf8.count <= 128,
                  let event = body?["event"]?.stringValue, event == "payment.succeeded" || event == "payment.failed" else {
                return .some(.error(400, .badRequest, "needs 'provider_reference' and 'event' (payment.succeeded or payment.failed)"))
            }
            market.providerEvent(reference: reference, succeeded: event == "payment.succeeded", actor: actor, reply: reply)
        case ("POST", "projects", 4, "milestones"):
            return .some(createMilestone(body!, project: entity!, actor: actor, reply: reply))
        case ("POST", "projects", 6, "milestones") where parts[5] == "complete" || parts[5] == "approve":
            guard let milestone = Int64(parts[4]), milestone > 0 else { return .some(.error(404, .notFound, "no such milestone")) }
            if parts[5] == "complete" {
                market.completeMilestone(project: entity!, milestone: milestone, actor: actor, reply: reply)
            } else {
                market.approveMilestone(project: entity!, milestone: milestone, actor: actor, reply: reply)
            }
        case ("POST", "payments", 4, "release"):
            market.release(payment: entity!, actor: actor, reply: reply)
        case ("POST", "payments", 4, "refund"):
            var amount: Int64?
            if let field = body?["amount"], field != .null {
                guard let value = field.intValue, value > 0, value <= Fees.maxAmount else {
                    return .some(.error(400, .badRequest, "'amount' must be a positive integer in minor units"))
                }
                amount = value
            }
            guard let reason = body?["reason"]?.stringValue, !reason.isEmpty, reason.utf8.count <= 1000 else {
                return .some(.error(400, .badRequest, "'reason' must be a string of 1 to 1,000 bytes"))
            }
            market.refund(payment: entity!, amount: amount, reason: reason, actor: actor, reply: reply)
        case ("GET", "payments", 2, _):
            guard let project = request.query["project"].flatMap({ Int64($0) }), project > 0 else {
                return .some(.error(400, .badRequest, "'project' must be a project id"))
            }
            let page = request.query["page"].map { Int($0) ?? 0 } ?? 1
            guard (1...10_000).contains(page) else { return .some(.error(400, .badRequest, "'page' must be 1 or more")) }
            market.payments(project: project, page: page, actor: actor, reply: reply)
        case (_, "projects", 2, _), (_, "projects", 3, _), (_, "projects", 4, "contracts"), (_, "projects", 4, "payments"),
             (_, "projects", 4, "milestones"), (_, "projects", 6, "milestones"), (_, "payments", 4, "sandbox"),
             (_, "contracts", 3, _), (_, "contracts", 4, "sign"), (_, "contracts", 4, "amend"), (_, "payments", 2, _),
             (_, "payments", 4, "release"), (_, "payments", 4, "refund"):
            return .some(.error(405, .methodNotAllowed, "method not allowed"))
        default:
            return .some(.error(404, .notFound, "no such endpoint"))
        }
        return .some(nil)
    }

    private func createProject(_ body: JSON, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) -> HTTPResponse? {
        func text(_ name: String, max: Int) -> String? {
            guard let v = body[name]?.stringValue, !v.isEmpty, v.utf8.count <= max else { return nil }
            return v
        }
        guard let client = text("client", max: 256), let craftsman = text("craftsman", max: 256), client != craftsman,
              Identifier.isUserID(client), Identifier.isUserID(craftsman) else {
            return .error(400, .badRequest, "'client' and 'craftsman' must be two different user ids")
        }
        guard let title = text("title", max: 200) else { return .error(400, .badRequest, "'title' must be a string of 1 to 200 bytes") }
        guard actor.isBackend || actor.id == client else { return .error(403, .forbidden, "a project is opened by its client or a backend") }
        var budget: Int64?
        if let field = body["estimated_budget"], field != .null {
            guard let v = field.intValue, v >= 0, v <= Fees.maxAmount else {
                return .error(400, .badRequest, "'estimated_budget' must be a non-negative integer in minor units")
            }
            budget = v
        }
        let currency = body["currency"]?.stringValue ?? "RON"
        guard currency.utf8.count == 3, currency.utf8.allSatisfy({ (65...90).contains($0) }) else {
            return .error(400, .badRequest, "'currency' must be an ISO 4217 code such as RON")
        }
        var conversation: Int64?
        if let field = body["conversation_id"], field != .null {
            guard let v = field.intValue ?? field.stringValue.flatMap({ Int64($0) }), v > 0 else {
                return .error(400, .badRequest, "'conversation_id' must be a conversation id")
            }
            conversation = v
        }
        market.createProject(client: client, craftsman: craftsman, title: title, budget: budget, currency: currency,
                             conversation: conversation, actor: actor, reply: reply)
        return nil
    }

    private func createMilestone(_ body: JSON, project: Int64, actor: Actor,
                                 reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) -> HTTPResponse? {
        switch MilestoneInput.decode(body) {
        case .failure(let problem): return .error(400, .badRequest, problem.message)
        case .success(let m):
            market.createMilestone(project: project, title: m.title, dueOn: m.dueOn, amount: m.amount, percentage: m.percentage,
                                   requiresApproval: m.requiresApproval, actor: actor, reply: reply)
            return nil
        }
    }

    static func paymentFields(_ body: JSON?) -> Result<(amount: Int64, method: PaymentMethod), HTTPResponse> {
        guard let amount = body?["amount"]?.intValue, amount > 0, amount <= Fees.maxAmount else {
            return .failure(.error(400, .badRequest, "'amount' must be a positive integer in minor units (at most 10^12)"))
        }
        guard let text = body?["method"]?.stringValue, let method = PaymentMethod(rawValue: text) else {
            return .failure(.error(400, .badRequest, "'method' must be card, bank_transfer or klarna"))
        }
        return .success((amount, method))
    }

    private func calculateFee(_ body: JSON?) -> HTTPResponse {
        switch Self.paymentFields(body) {
        case .failure(let response): return response
        case .success(let (amount, method)):
            let f = Fees.calculate(amount: amount, method: method)
            return .json(200, .object(["amount": .int(f.amount), "method": .string(method.rawValue),
                                       "platform_fee": .int(f.platformFee), "provider_fee": .int(f.providerFee),
                                       "net_amount": .int(f.net), "rounding": .string("half up per fee, in minor units")]))
        }
    }

    private func createPayment(_ request: HTTPRequest, _ body: JSON, project: Int64, actor: Actor,
                               reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) -> HTTPResponse? {
        let amount: Int64, method: PaymentMethod
        switch Self.paymentFields(body) {
        case .failure(let response): return response
        case .success(let fields): (amount, method) = fields
        }
        var milestone: Int64?
        if let field = body["milestone_id"], field != .null {
            guard let v = field.intValue ?? field.stringValue.flatMap({ Int64($0) }), v > 0 else {
                return .error(400, .badRequest, "'milestone_id' must be a milestone id")
            }
            milestone = v
        }
        let type = body["type"]?.stringValue ?? (milestone == nil ? "deposit" : "milestone")
        guard ["milestone", "deposit", "final", "installment"].contains(type) else {
            return .error(400, .badRequest, "'type' must be milestone, deposit, final or installment")
        }
        let number = body["installment_number"]?.intValue.map { Int(clamping: $0) }
        let count = body["installment_count"]?.intValue.map { Int(clamping: $0) }
        if let n = number, !(1...36).contains(n) { return .error(400, .badRequest, "'installment_number' must be 1 to 36") }
        if let c = count, !(2...36).contains(c) { return .error(400, .badRequest, "'installment_count' must be 2 to 36") }
        if type == "installment" {
            guard let number, let count, count >= 2, count <= 36, (1...count).contains(number) else {
                return .error(400, .badRequest, "installments need 'installment_number' 1…'installment_count' (2 to 36)")
            }
        }
        if let key = request.idempotencyKey, key.isEmpty || key.utf8.count > 128 {
            return .error(400, .badRequest, "Idempotency-Key must be 1 to 128 bytes")
        }
        let payment = NewPayment(amount: amount, method: method, milestone: milestone, type: type,
                                 installmentNumber: number, installmentCount: count)
        // Stored first (pending, under the rules and the idempotency key),
        // charged only then, once, with the payment's own id as the
        // provider's idempotency key: a replay or a refused request (409)
        // never reaches the provider.
        let key = request.idempotencyKey
        market.createPayment(project: project, payment, fees: Fees.calculate(amount: amount, method: method), actor: actor,
                             idempotencyKey: key,
                             fingerprint: RequestFingerprint.of(.object(["project": .int(project), "body": body]))) { [weak self] start in
            guard let self else { return }
            switch start {
            case .failure(let failure): reply(.failure(failure))
            case .success(.replay(let outcome)): reply(.success(outcome))
            case .success(.created(let id, let currency)):
                let charge = paymentProvider.charge(amount: amount, currency: currency, method: method, idempotencyKey: "payment-\(id)")
                market.recordCharge(payment: id, charge: charge, actor: actor, idempotencyKey: key, reply: reply)
            }
        }
        return nil
    }
}

/// Why a body was refused (a message for the 400).
struct InputProblem: Error, ExpressibleByStringLiteral {
    var message: String
    init(stringLiteral value: String) { message = value }
}

/// A milestone in a request body (alone, or in a contract proposal).
struct MilestoneInput {
    var title: String
    var dueOn: String?
    var amount: Int64?
    var percentage: Double?
    var requiresApproval: Bool

    static func decode(_ body: JSON) -> Result<MilestoneInput, InputProblem> {
        guard body.isObject, let title = body["title"]?.stringValue, !title.isEmpty, title.utf8.count <= 200 else {
            return .failure("'title' must be a string of 1 to 200 bytes")
        }
        var due: String?
        if let field = body["due_on"], field != .null {
            guard let text = field.stringValue, text.utf8.count == 10, Timestamp.parseMillis(text + "T00:00:00Z") != nil else {
                return .failure("'due_on' must be a date YYYY-MM-DD")
            }
            due = text
        }
        let amount = body["amount"].flatMap { $0 == .null ? nil : $0 }
        let percentage = body["percentage"].flatMap { $0 == .null ? nil : $0 }
        var out = MilestoneInput(title: title, dueOn: due, amount: nil, percentage: nil,
                                 requiresApproval: body["requires_client_approval"]?.boolValue ?? body["requires_approval"]?.boolValue ?? true)
        switch (amount, percentage) {
        case (let a?, nil):
            guard let v = a.intValue, v > 0, v <= Fees.maxAmount else { return .failure("'amount' must be a positive integer in minor units") }
            out.amount = v
        case (nil, let p?):
            let v: Double? = p.intValue.map(Double.init) ?? { if case .double(let d) = p { return d } else { return nil } }()
            guard let v, v > 0, v <= 100, (v * 100).rounded() == v * 100 else {
                return .failure("'percentage' must be 0.01 to 100 with at most two decimals")
            }
            out.percentage = v
        default:
            return .failure("give exactly one of 'amount' (minor units) or 'percentage'")
        }
        return .success(out)
    }

    /// The store's form.
    var json: JSON {
        .object(["title": .string(title), "due_on": dueOn.map(JSON.string) ?? .null, "amount": amount.map(JSON.int) ?? .null,
                 "percentage": percentage.map(JSON.double) ?? .null, "requires_approval": .bool(requiresApproval)])
    }
}
