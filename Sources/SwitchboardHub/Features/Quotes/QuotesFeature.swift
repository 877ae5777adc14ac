// The quote-matching flow over REST: the matching engine (a backend) posts
// requests and the builders matched to them; builders answer; requesters
// and builders read their side. Every step that concerns the other side
// commits a notification with it, published through the notifications
// feature.
import SwitchboardWire

/// The quotes feature.
public final class QuotesFeature: HubFeature {
    /// Most matches in one `POST .../matches`.
    public static let matchBatchCap = 200
    /// Most matches a builder's list shows.
    static let builderListLimit = 200

    private let store: QuoteStore
    private let notifications: NotificationsFeature
    private unowned var hub: Hub!

    /// Quotes kept by `store`; their notifications go out through `notifications`.
    public init(store: QuoteStore, notifications: NotificationsFeature) {
        self.store = store
        self.notifications = notifications
    }

    public func install(on hub: Hub) {
        self.hub = hub
        hub.route("POST", "/v1/quote-requests", caller: .backend) { [unowned self] call throws(HubError) in try createRoute(call)
        }
        hub.route("POST", "/v1/quote-requests/{request}/matches", caller: .backend) { [unowned self] call throws(HubError) in
            try addMatchesRoute(call)
        }
        hub.route("GET", "/v1/quote-requests/{request}/matches", caller: .user) { [unowned self] call throws(HubError) in
            try requestMatchesRoute(call)
        }
        hub.route("GET", "/v1/quote-matches", caller: .user) { [unowned self] call throws(HubError) in
            try builderMatchesRoute(call)
        }
        hub.route("POST", "/v1/quote-matches/{match}/respond", caller: .user) { [unowned self] call throws(HubError) in
            try respondRoute(call)
        }
    }

    /// POST /v1/quote-requests (the matching engine).
    private func createRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let quote = try QuoteRequestDecoder.decode(try call.jsonObject())
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.createQuoteRequest(
            quote,
            reply: Reply(on: hub.loop, to: self) { me, result in
                me.hub.respond(id, result.map { .json(201, Self.quoteRequestJSON($0)) }.get(or: { .error($0) }))
            })
        return nil
    }

    /// POST /v1/quote-requests/{request}/matches (the matching engine).
    private func addMatchesRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let quote = try call.id("request", notFound: "no such resource")
        let matches = try QuoteRequestDecoder.matches(try call.jsonObject())
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.addMatches(
            request: quote, matches,
            reply: Reply(on: hub.loop, to: self) { me, result in
                switch result {
                case .success(let outcome):
                    me.notifications.publish(outcome.notifications)
                    me.hub.respond(
                        id,
                        .json(
                            outcome.created.isEmpty ? 200 : 201,
                            .object([
                                "created": .array(outcome.created.map(Self.matchJSON)),
                                "existing": .array(outcome.existing.map(Self.matchJSON)),
                            ])))
                case .failure(let error):
                    me.hub.respond(id, .error(error))
                }
            })
        return nil
    }

    /// POST /v1/quote-matches/{match}/respond (the matched builder).
    private func respondRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let match = try call.id("match", notFound: "no such resource")
        let response = try QuoteRequestDecoder.response(try call.jsonObject())
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.respond(
            match: match, builder: call.user, response,
            reply: Reply(on: hub.loop, to: self) { me, result in
                switch result {
                case .success(let answered):
                    me.notifications.publish([answered.notification])
                    me.hub.respond(id, .json(200, Self.matchJSON(answered.match)))
                case .failure(let error):
                    me.hub.respond(id, .error(error))
                }
            })
        return nil
    }

    /// GET /v1/quote-requests/{request}/matches (its requester).
    private func requestMatchesRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let quote = try call.id("request", notFound: "no such resource")
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.matches(
            request: quote, requester: call.user,
            reply: Reply(on: hub.loop, to: self) { me, result in
                me.hub.respond(id, result.map(Self.matchList).get(or: { .error($0) }))
            })
        return nil
    }

    /// GET /v1/quote-matches (the calling builder's, newest first).
    private func builderMatchesRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.matches(
            builder: call.user, limit: Self.builderListLimit,
            reply: Reply(on: hub.loop, to: self) { me, result in
                me.hub.respond(id, result.map(Self.matchList).get(or: { .error($0) }))
            })
        return nil
    }

    // MARK: Rendering

    private static func matchList(_ matches: [QuoteMatch]) -> HTTPResponse {
        .json(200, .object(["matches": .array(matches.map(matchJSON))]))
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
