// The bodies of the quote flow's requests, checked field by field; every
// refusal is a 400 naming the field.
import SwitchboardWire

/// Decodes the quote flow's bodies.
enum QuoteRequestDecoder {
    static let breakdownKeys = ["geographic", "experience", "capability", "availability"]
    static let urgencies = ["low", "normal", "high", "urgent"]

    static func decode(_ body: JSON) throws(HubError) -> QuoteRequest {
        func text(_ name: String, max: Int = 200) throws(HubError) -> String {
            guard let value = body[name]?.stringValue, !value.isEmpty, value.utf8.count <= max else {
                throw HubError(.badRequest, "'\(name)' must be a string of 1 to \(max) bytes")
            }
            return value
        }
        func date(_ name: String) throws(HubError) -> String {
            let value = try text(name, max: 10)
            let b = Array(value.utf8)
            guard b.count == 10, b[4] == 45, b[7] == 45, Timestamp.parseMillis(value + "T00:00:00Z") != nil else {
                throw HubError(.badRequest, "'\(name)' must be a date YYYY-MM-DD")
            }
            return value
        }
        let starts = try date("starts_on"), ends = try date("ends_on")
        guard starts <= ends else { throw HubError(.badRequest, "'starts_on' must not be after 'ends_on'") }
        guard
            let size = body["stand_size_sqm"].flatMap({
                $0.intValue.map(Double.init) ?? { if case .double(let d) = $0 { d } else { nil } }($0)
            }),
            size > 0, size <= 100_000
        else { throw HubError(.badRequest, "'stand_size_sqm' must be a positive number") }
        guard let min = body["budget_min"]?.intValue, let max = body["budget_max"]?.intValue, min >= 0, max >= min else {
            throw HubError(.badRequest, "'budget_min' and 'budget_max' must be integers in minor units, min ≤ max")
        }
        let currency = try text("currency", max: 3)
        guard currency.utf8.count == 3, currency.utf8.allSatisfy({ (65...90).contains($0) }) else {
            throw HubError(.badRequest, "'currency' must be an ISO 4217 code such as RON or EUR")
        }
        var services: [String] = []
        if let field = body["services"] {
            guard case .array(let list) = field else { throw HubError(.badRequest, "'services' must be an array of strings") }
            services = list.compactMap(\.stringValue)
            guard services.count == list.count, services.count <= 50, services.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 100 })
            else {
                throw HubError(.badRequest, "'services' must be at most 50 strings of 1 to 100 bytes")
            }
        }
        let urgency = body["urgency"]?.stringValue ?? "normal"
        guard urgencies.contains(urgency) else { throw HubError(.badRequest, "'urgency' must be low, normal, high or urgent") }
        return QuoteRequest(
            requester: try text("requester", max: 256), event: try text("event"), city: try text("city", max: 100),
            startsOn: starts, endsOn: ends, standSizeSqm: size, budgetMin: min, budgetMax: max,
            currency: currency, services: services, urgency: urgency)
    }

    static func matches(_ body: JSON) throws(HubError) -> [QuoteMatchInput] {
        guard case .array(let list)? = body["matches"], !list.isEmpty, list.count <= QuotesFeature.matchBatchCap else {
            throw HubError(.badRequest, "'matches' must be an array of 1 to \(QuotesFeature.matchBatchCap) matches")
        }
        var out: [QuoteMatchInput] = []
        var seen = Set<String>()
        for (i, item) in list.enumerated() {
            guard let builder = item["builder"]?.stringValue, Identifier.isUserID(builder) else {
                throw HubError(.badRequest, "matches[\(i)]: 'builder' must be a user id")
            }
            guard let score = item["score"]?.intValue, (0...100).contains(score) else {
                throw HubError(.badRequest, "matches[\(i)]: 'score' must be an integer 0 to 100")
            }
            var breakdown: [String: Int] = [:]
            for key in breakdownKeys {
                guard let v = item["breakdown"]?[key]?.intValue, (0...100).contains(v) else {
                    throw HubError(.badRequest, "matches[\(i)]: 'breakdown.\(key)' must be an integer 0 to 100")
                }
                breakdown[key] = Int(v)
            }
            // The same builder twice in one call counts once.
            if seen.insert(builder).inserted {
                out.append(QuoteMatchInput(builder: builder, score: Int(score), breakdown: breakdown))
            }
        }
        return out
    }

    static func response(_ body: JSON) throws(HubError) -> MatchResponse {
        guard let text = body["status"]?.stringValue, let status = MatchStatus(rawValue: text), status != .matched else {
            throw HubError(.badRequest, "'status' must be interested, declined or responded")
        }
        func amount(_ name: String) throws(HubError) -> Int64? {
            guard let field = body[name], field != .null else { return nil }
            guard let v = field.intValue, v >= 0 else {
                throw HubError(.badRequest, "'\(name)' must be a non-negative integer (minor units)")
            }
            return v
        }
        let min = try amount("estimate_min"), max = try amount("estimate_max")
        if let min, let max, min > max { throw HubError(.badRequest, "'estimate_min' must not exceed 'estimate_max'") }
        var summary: String?
        if let field = body["proposal_summary"], field != .null {
            guard let s = field.stringValue, s.utf8.count <= 4000 else {
                throw HubError(.badRequest, "'proposal_summary' must be at most 4,000 bytes")
            }
            summary = s
        }
        if status == .responded && (min == nil || max == nil) {
            throw HubError(.badRequest, "a response needs 'estimate_min' and 'estimate_max'")
        }
        return MatchResponse(status: status, estimateMin: min, estimateMax: max, proposalSummary: summary)
    }
}
