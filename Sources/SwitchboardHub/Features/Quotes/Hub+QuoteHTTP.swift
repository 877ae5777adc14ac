// REST routes of the quote-matching flow: the matching engine (a backend)
// posts requests and matched builders; builders answer; requesters and
// builders read their side. Every step notifies the other side, live.
import SwitchboardWire

extension Hub {
    /// Most matches in one `POST .../matches`.
    static let matchBatchCap = 200

    /// Routes under /v1/quote-requests and /v1/quote-matches; nil otherwise.
    func quoteRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse?? {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0] == "v1", parts[1] == "quote-requests" || parts[1] == "quote-matches" else { return nil }
        var entity: Int64?
        if parts.count >= 3 {
            guard let value = Int64(parts[2]), value > 0 else { return .some(.error(404, .notFound, "no such resource")) }
            entity = value
        }
        switch (request.method, parts[1], parts.count, entity) {
        case ("POST", "quote-requests", 2, nil): return .some(createQuoteRequestRoute(request, id: id))
        case ("POST", "quote-requests", 4, let r?) where parts[3] == "matches": return .some(addMatchesRoute(request, r, id: id))
        case ("GET", "quote-requests", 4, let r?) where parts[3] == "matches": return .some(requestMatchesRoute(request, r, id: id))
        case ("GET", "quote-matches", 2, nil): return .some(builderMatchesRoute(request, id: id))
        case ("POST", "quote-matches", 4, let m?) where parts[3] == "respond": return .some(respondRoute(request, m, id: id))
        case (_, _, 2, nil), (_, _, 4, _): return .some(.error(405, .methodNotAllowed, "method not allowed"))
        default: return .some(.error(404, .notFound, "no such endpoint"))
        }
    }

    private func createQuoteRequestRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse? {
        if let refusal = requireBackend(request) { return refusal }
        guard let body = Self.jsonBody(request) else { return .error(400, .badJSON, "body must be a JSON object") }
        let quote: QuoteRequest
        do { quote = try QuoteRequestDecoder.decode(body) } catch { return .error(400, .badRequest, error.message) }
        guard store.isAvailable else { return Self.unavailable }
        notifications.createQuoteRequest(quote) { [weak self] result in
            self?.transport?.respond(id, result.map { .json(201, Self.quoteRequestJSON($0)) }.get(or: \.response))
        }
        return nil
    }

    private func addMatchesRoute(_ request: HTTPRequest, _ quote: Int64, id: HTTPRequestID) -> HTTPResponse? {
        if let refusal = requireBackend(request) { return refusal }
        guard let body = Self.jsonBody(request) else { return .error(400, .badJSON, "body must be a JSON object") }
        let matches: [QuoteMatchInput]
        do { matches = try QuoteRequestDecoder.matches(body) } catch { return .error(400, .badRequest, error.message) }
        guard store.isAvailable else { return Self.unavailable }
        notifications.addMatches(request: quote, matches) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let outcome):
                pushNotifications(outcome.notifications)
                transport?.respond(id, .json(outcome.created.isEmpty ? 200 : 201, .object([
                    "created": .array(outcome.created.map(Self.matchJSON)),
                    "existing": .array(outcome.existing.map(Self.matchJSON)),
                ])))
            case .failure(let failure):
                transport?.respond(id, failure.response)
            }
        }
        return nil
    }

    private func respondRoute(_ request: HTTPRequest, _ match: Int64, id: HTTPRequestID) -> HTTPResponse? {
        let principal: Principal
        switch requireUser(request) {
        case .failure(let response): return response
        case .success(let p): principal = p
        }
        guard let body = Self.jsonBody(request) else { return .error(400, .badJSON, "body must be a JSON object") }
        let response: MatchResponse
        do { response = try QuoteRequestDecoder.response(body) } catch { return .error(400, .badRequest, error.message) }
        guard store.isAvailable else { return Self.unavailable }
        notifications.respond(match: match, builder: principal.user, response) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let (updated, notification)):
                pushNotifications([notification])
                transport?.respond(id, .json(200, Self.matchJSON(updated)))
            case .failure(let failure):
                transport?.respond(id, failure.response)
            }
        }
        return nil
    }

    private func requestMatchesRoute(_ request: HTTPRequest, _ quote: Int64, id: HTTPRequestID) -> HTTPResponse? {
        let principal: Principal
        switch requireUser(request) {
        case .failure(let response): return response
        case .success(let p): principal = p
        }
        guard store.isAvailable else { return Self.unavailable }
        notifications.matches(request: quote, requester: principal.user) { [weak self] result in
            self?.transport?.respond(id, result.map { .json(200, .object(["matches": .array($0.map(Self.matchJSON))])) }
                .get(or: \.response))
        }
        return nil
    }

    private func builderMatchesRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse? {
        let principal: Principal
        switch requireUser(request) {
        case .failure(let response): return response
        case .success(let p): principal = p
        }
        guard store.isAvailable else { return Self.unavailable }
        notifications.matches(builder: principal.user, limit: 200) { [weak self] result in
            self?.transport?.respond(id, result.map { .json(200, .object(["matches": .array($0.map(Self.matchJSON))])) }
                .get(or: \.response))
        }
        return nil
    }

    static func quoteRequestJSON(_ q: QuoteRequest) -> JSON {
        .object([
            "id": .string(String(q.id)), "requester": .string(q.requester), "event": .string(q.event), "city": .string(q.city),
            "starts_on": .string(q.startsOn), "ends_on": .string(q.endsOn), "stand_size_sqm": .double(q.standSizeSqm),
            "budget_min": .int(q.budgetMin), "budget_max": .int(q.budgetMax), "currency": .string(q.currency),
            "services": .array(q.services.map(JSON.string)), "urgency": .string(q.urgency), "created_at": .int(q.createdAtMillis),
        ])
    }

    static func matchJSON(_ m: QuoteMatch) -> JSON {
        .object([
            "id": .string(String(m.id)), "quote_request": .string(String(m.request)), "builder": .string(m.builder),
            "score": .int(Int64(m.score)), "breakdown": (try? JSON.parse(m.breakdown)) ?? .object([:]),
            "status": .string(m.status.rawValue),
            "estimate_min": m.estimateMin.map(JSON.int) ?? .null, "estimate_max": m.estimateMax.map(JSON.int) ?? .null,
            "proposal_summary": m.proposalSummary.map(JSON.string) ?? .null,
            "created_at": .int(m.createdAtMillis), "responded_at": m.respondedAtMillis.map(JSON.int) ?? .null,
        ])
    }
}

/// Decodes the quote flow's bodies.
enum QuoteRequestDecoder {
    struct Failure: Error { var message: String }
    static let breakdownKeys = ["geographic", "experience", "capability", "availability"]
    static let urgencies = ["low", "normal", "high", "urgent"]

    static func decode(_ body: JSON) throws(Failure) -> QuoteRequest {
        func text(_ name: String, max: Int = 200) throws(Failure) -> String {
            guard let value = body[name]?.stringValue, !value.isEmpty, value.utf8.count <= max else {
                throw Failure(message: "'\(name)' must be a string of 1 to \(max) bytes")
            }
            return value
        }
        func date(_ name: String) throws(Failure) -> String {
            let value = try text(name, max: 10)
            let b = Array(value.utf8)
            guard b.count == 10, b[4] == 45, b[7] == 45, Timestamp.parseMillis(value + "T00:00:00Z") != nil else {
                throw Failure(message: "'\(name)' must be a date YYYY-MM-DD")
            }
            return value
        }
        let starts = try date("starts_on"), ends = try date("ends_on")
        guard starts <= ends else { throw Failure(message: "'starts_on' must not be after 'ends_on'") }
        guard let size = body["stand_size_sqm"].flatMap({ $0.intValue.map(Double.init) ?? { if case .double(let d) = $0 { d } else { nil } }($0) }),
              size > 0, size <= 100_000 else { throw Failure(message: "'stand_size_sqm' must be a positive number") }
        guard let min = body["budget_min"]?.intValue, let max = body["budget_max"]?.intValue, min >= 0, max >= min else {
            throw Failure(message: "'budget_min' and 'budget_max' must be integers in minor units, min ≤ max")
        }
        let currency = try text("currency", max: 3)
        guard currency.utf8.count == 3, currency.utf8.allSatisfy({ (65...90).contains($0) }) else {
            throw Failure(message: "'currency' must be an ISO 4217 code such as RON or EUR")
        }
        var services: [String] = []
        if let field = body["services"] {
            guard case .array(let list) = field else { throw Failure(message: "'services' must be an array of strings") }
            services = list.compactMap(\.stringValue)
            guard services.count == list.count, services.count <= 50, services.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 100 }) else {
                throw Failure(message: "'services' must be at most 50 strings of 1 to 100 bytes")
            }
        }
        let urgency = body["urgency"]?.stringValue ?? "normal"
        guard urgencies.contains(urgency) else { throw Failure(message: "'urgency' must be low, normal, high or urgent") }
        return QuoteRequest(requester: try text("requester", max: 256), event: try text("event"), city: try text("city", max: 100),
                            startsOn: starts, endsOn: ends, standSizeSqm: size, budgetMin: min, budgetMax: max,
                            currency: currency, services: services, urgency: urgency)
    }

    static func matches(_ body: JSON) throws(Failure) -> [QuoteMatchInput] {
        guard case .array(let list)? = body["matches"], !list.isEmpty, list.count <= Hub.matchBatchCap else {
            throw Failure(message: "'matches' must be an array of 1 to \(Hub.matchBatchCap) matches")
        }
        var out: [QuoteMatchInput] = []
        var seen = Set<String>()
        for (i, item) in list.enumerated() {
            guard let builder = item["builder"]?.stringValue, Identifier.isUserID(builder) else {
                throw Failure(message: "matches[\(i)]: 'builder' must be a user id")
            }
            guard let score = item["score"]?.intValue, (0...100).contains(score) else {
                throw Failure(message: "matches[\(i)]: 'score' must be an integer 0 to 100")
            }
            var breakdown: [String: Int] = [:]
            for key in breakdownKeys {
                guard let v = item["breakdown"]?[key]?.intValue, (0...100).contains(v) else {
                    throw Failure(message: "matches[\(i)]: 'breakdown.\(key)' must be an integer 0 to 100")
                }
                breakdown[key] = Int(v)
            }
            // The same builder twice in one call counts once.
            if seen.insert(builder).inserted { out.append(QuoteMatchInput(builder: builder, score: Int(score), breakdown: breakdown)) }
        }
        return out
    }

    static func response(_ body: JSON) throws(Failure) -> MatchResponse {
        guard let text = body["status"]?.stringValue, let status = MatchStatus(rawValue: text), status != .matched else {
            throw Failure(message: "'status' must be interested, declined or responded")
        }
        func amount(_ name: String) throws(Failure) -> Int64? {
            guard let field = body[name], field != .null else { return nil }
            guard let v = field.intValue, v >= 0 else { throw Failure(message: "'\(name)' must be a non-negative integer (minor units)") }
            return v
        }
        let min = try amount("estimate_min"), max = try amount("estimate_max")
        if let min, let max, min > max { throw Failure(message: "'estimate_min' must not exceed 'estimate_max'") }
        var summary: String?
        if let field = body["proposal_summary"], field != .null {
            guard let s = field.stringValue, s.utf8.count <= 4000 else { throw Failure(message: "'proposal_summary' must be at most 4,000 bytes") }
            summary = s
        }
        if status == .responded && (min == nil || max == nil) {
            throw Failure(message: "a response needs 'estimate_min' and 'estimate_max'")
        }
        return MatchResponse(status: status, estimateMin: min, estimateMax: max, proposalSummary: summary)
    }
}
