// The quote flow's REST routes in process (HubFixture over FakeQuoteStore):
// who may call which route, what reaches the store, how its answers and
// refusals are rendered, and that the notifications it commits are
// published to their users.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct QuoteRouteTests {
    static let requestBody = #"""
        {"requester":"ex-1","event":"Bauma 2026","city":"Munich","starts_on":"2026-04-07","ends_on":"2026-04-13",
         "stand_size_sqm":120.5,"budget_min":2000000,"budget_max":3500000,"currency":"EUR","services":["design","build"],
         "urgency":"high"}
        """#
    static let matchesBody = #"""
        {"matches":[{"builder":"b1","score":87,"breakdown":{"geographic":90,"experience":80,"capability":95,"availability":70}},
                    {"builder":"b2","score":60,"breakdown":{"geographic":1,"experience":2,"capability":3,"availability":4}},
                    {"builder":"b1","score":50,"breakdown":{"geographic":1,"experience":1,"capability":1,"availability":1}}]}
        """#

    enum Who { case backend, user(String) }

    func call(_ f: HubFixture, _ method: String, _ path: String, _ body: String = "", as who: Who, id: HTTPRequestID)
        -> HTTPResponse?
    {
        var request = HTTPRequest(method: method, path: path, body: Array(body.utf8))
        switch who {
        case .backend: request.apiKey = HubFixture.apiKey
        case .user(let user): request.authorization = "Bearer " + f.token(user)
        }
        f.hub.handleHTTP(request, id: id)
        f.quotes.flush()
        return f.transport.responses[id]
    }

    func json(_ response: HTTPResponse?) -> JSON? { response.flatMap { try? JSON.parse($0.body) } }
    func code(_ response: HTTPResponse?) -> String? { json(response)?["error"]?["code"]?.stringValue }

    static func match(_ id: Int64, builder: String, status: MatchStatus = .matched) -> QuoteMatch {
        QuoteMatch(
            id: id, request: 7, builder: builder, score: 87, breakdown: Array(#"{"geographic": 90}"#.utf8), status: status,
            estimateMin: status == .responded ? 100 : nil, estimateMax: status == .responded ? 200 : nil,
            proposalSummary: nil, createdAtMillis: 5, respondedAtMillis: status == .matched ? nil : 6)
    }

    static func notice(_ id: Int64, to user: String, kind: String) -> StoredNotification {
        StoredNotification(
            id: id, user: user, kind: kind, title: "t", body: "", data: Array("{}".utf8),
            entityType: "quote_match", entityID: "1", createdAtMillis: 5)
    }

    @Test func aBackendCreatesARequestAndGetsItBack() {
        let f = HubFixture()
        let created = call(f, "POST", "/v1/quote-requests", Self.requestBody, as: .backend, id: 1)
        #expect(created?.status == 201)
        #expect(f.quotes.createdRequests.first?.budgetMax == 3_500_000)
        #expect(f.quotes.createdRequests.first?.services == ["design", "build"])
        let body = json(created)
        #expect(body?["id"] == .string("1"))
        #expect(body?["requester"] == .string("ex-1"))
        #expect(body?["stand_size_sqm"] == .double(120.5))
        #expect(body?["created_at"] == .int(f.quotes.clock))
        // The store's refusal is rendered as is, with its retry hint.
        f.quotes.createAnswer = .failure(.overloaded)
        let busy = call(f, "POST", "/v1/quote-requests", Self.requestBody, as: .backend, id: 2)
        #expect(busy?.status == 503)
        #expect(busy?.headers["Retry-After"] == "1")
    }

    @Test func callerKindsAreChecked() {
        let f = HubFixture()
        #expect(call(f, "POST", "/v1/quote-requests", Self.requestBody, as: .user("ex-1"), id: 1)?.status == 403)
        #expect(call(f, "POST", "/v1/quote-requests/7/matches", Self.matchesBody, as: .user("ex-1"), id: 2)?.status == 403)
        #expect(call(f, "GET", "/v1/quote-requests/7/matches", as: .backend, id: 3)?.status == 403)
        #expect(call(f, "GET", "/v1/quote-matches", as: .backend, id: 4)?.status == 403)
        #expect(call(f, "POST", "/v1/quote-matches/3/respond", #"{"status":"interested"}"#, as: .backend, id: 5)?.status == 403)
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/v1/quote-matches"), id: 6)
        #expect(f.transport.responses[6]?.status == 401)
        #expect(f.quotes.createdRequests.isEmpty && f.quotes.addedMatches.isEmpty && f.quotes.responses.isEmpty)
        #expect(f.quotes.listings.isEmpty)
    }

    @Test func badBodiesAndPathsNeverReachTheStore() {
        let f = HubFixture()
        func replacing(_ old: String, _ new: String) -> String {
            guard case .object(var fields)? = try? JSON.parse(Array(Self.requestBody.utf8)) else { return "" }
            fields[old] = .string(new)
            return String(decoding: JSON.object(fields).bytes, as: UTF8.self)
        }
        #expect(
            code(call(f, "POST", "/v1/quote-requests", replacing("ends_on", "2026-04-01"), as: .backend, id: 1)) == "bad_request")
        #expect(code(call(f, "POST", "/v1/quote-requests", replacing("currency", "eur"), as: .backend, id: 2)) == "bad_request")
        #expect(code(call(f, "POST", "/v1/quote-requests", "[]", as: .backend, id: 3)) == "bad_json")
        #expect(code(call(f, "POST", "/v1/quote-requests/7/matches", #"{"matches":[]}"#, as: .backend, id: 4)) == "bad_request")
        #expect(call(f, "POST", "/v1/quote-requests/0/matches", Self.matchesBody, as: .backend, id: 5)?.status == 404)
        #expect(call(f, "POST", "/v1/quote-requests/x/matches", Self.matchesBody, as: .backend, id: 6)?.status == 404)
        #expect(
            code(call(f, "POST", "/v1/quote-matches/3/respond", #"{"status":"matched"}"#, as: .user("b1"), id: 7))
                == "bad_request")
        #expect(
            code(call(f, "POST", "/v1/quote-matches/3/respond", #"{"status":"responded"}"#, as: .user("b1"), id: 8))
                == "bad_request")
        #expect(call(f, "PUT", "/v1/quote-matches/3/respond", as: .user("b1"), id: 9)?.status == 405)
        #expect(f.quotes.createdRequests.isEmpty && f.quotes.addedMatches.isEmpty && f.quotes.responses.isEmpty)
    }

    @Test func matchesAreAddedOncePerBuilderAndTheNewOnesNotified() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("b1"))
        f.hub.connectionOpened(2, token: f.token("b2"))
        f.quotes.addAnswer = .success(
            AddedMatches(
                created: [Self.match(11, builder: "b1")], existing: [Self.match(9, builder: "b2")],
                notifications: [Self.notice(40, to: "b1", kind: "quote_match")]))
        let added = call(f, "POST", "/v1/quote-requests/7/matches", Self.matchesBody, as: .backend, id: 1)
        #expect(added?.status == 201)
        #expect(f.quotes.addedMatches.first?.request == 7)
        #expect(f.quotes.addedMatches.first?.matches.map(\.builder) == ["b1", "b2"])  // b1 twice counts once
        #expect(f.quotes.addedMatches.first?.matches.first?.breakdown["capability"] == 95)
        if case .array(let created)? = json(added)?["created"], case .array(let existing)? = json(added)?["existing"] {
            #expect(created.map { $0["id"] } == [.string("11")])
            #expect(created.first?["breakdown"] == .object(["geographic": .int(90)]))
            #expect(created.first?["estimate_min"] == .null)
            #expect(existing.map { $0["builder"] } == [.string("b2")])
        } else {
            Issue.record("no lists")
        }
        // The new match's builder hears of it, live; the other does not.
        #expect(f.transport.frames(to: 1).filter { $0["type"] == .string("notification") }.count == 1)
        #expect(f.transport.frames(to: 2).filter { $0["type"] == .string("notification") }.isEmpty)
        // Nothing new: 200.
        f.quotes.addAnswer = .success(AddedMatches(created: [], existing: [Self.match(11, builder: "b1")], notifications: []))
        #expect(call(f, "POST", "/v1/quote-requests/7/matches", Self.matchesBody, as: .backend, id: 2)?.status == 200)
        f.quotes.addAnswer = .failure(HubError(.notFound, "no such quote request"))
        let missing = call(f, "POST", "/v1/quote-requests/8/matches", Self.matchesBody, as: .backend, id: 3)
        #expect(missing?.status == 404)
        #expect(json(missing)?["error"]?["message"] == .string("no such quote request"))
    }

    @Test func aBuilderAnswersAndTheRequesterIsNotified() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("ex-1"))
        f.quotes.respondAnswer = .success(
            AnsweredMatch(
                match: Self.match(3, builder: "b1", status: .responded),
                notification: Self.notice(41, to: "ex-1", kind: "quote_response")))
        let body = #"{"status":"responded","estimate_min":100,"estimate_max":200,"proposal_summary":"We build it"}"#
        let answered = call(f, "POST", "/v1/quote-matches/3/respond", body, as: .user("b1"), id: 1)
        #expect(answered?.status == 200)
        #expect(json(answered)?["status"] == .string("responded"))
        #expect(json(answered)?["estimate_max"] == .int(200))
        #expect(f.quotes.responses.first?.match == 3)
        #expect(f.quotes.responses.first?.builder == "b1")  // the caller, never a body field
        #expect(
            f.quotes.responses.first?.response
                == MatchResponse(
                    status: .responded, estimateMin: 100, estimateMax: 200,
                    proposalSummary: "We build it"))
        #expect(
            f.transport.frames(to: 1).contains { $0["type"] == .string("notification") && $0["notification_id"] == .string("41") }
        )
        // The store's refusals keep their status, code and message.
        for (n, refusal) in [
            HubError(.forbidden, "only the matched builder may answer"),
            HubError(.conflict, "a match that is declined cannot become interested"),
            HubError(.notFound, "no such quote match"),
        ].enumerated() {
            f.quotes.respondAnswer = .failure(refusal)
            let refused = call(
                f, "POST", "/v1/quote-matches/3/respond", #"{"status":"interested"}"#, as: .user("b1"),
                id: HTTPRequestID(10 + n))
            #expect(refused?.status == refusal.httpStatus)
            #expect(json(refused)?["error"]?["message"] == .string(refusal.message))
        }
        #expect(f.transport.frames(to: 1).filter { $0["type"] == .string("notification") }.count == 1)
    }

    @Test func requestersAndBuildersReadTheirSide() {
        let f = HubFixture()
        f.quotes.matchesAnswer = .success([Self.match(3, builder: "b1"), Self.match(4, builder: "b2")])
        let mine = call(f, "GET", "/v1/quote-requests/7/matches", as: .user("ex-1"), id: 1)
        #expect(mine?.status == 200)
        if case .array(let list)? = json(mine)?["matches"] {
            #expect(list.map { $0["id"] } == [.string("3"), .string("4")])
            #expect(list.first?["quote_request"] == .string("7"))
        } else {
            Issue.record("no list")
        }
        #expect(call(f, "GET", "/v1/quote-matches", as: .user("b1"), id: 2)?.status == 200)
        #expect(f.quotes.listings == ["request:7:ex-1", "builder:b1:200"])
        f.quotes.matchesAnswer = .failure(HubError(.forbidden, "only the requester sees the matches"))
        let other = call(f, "GET", "/v1/quote-requests/7/matches", as: .user("mallory"), id: 3)
        #expect(other?.status == 403)
        #expect(json(other)?["error"]?["message"] == .string("only the requester sees the matches"))
    }

    @Test func aStoreThatIsDownIsNotAsked() {
        let f = HubFixture()
        f.store.isAvailable = false
        let down = call(f, "GET", "/v1/quote-matches", as: .user("b1"), id: 1)
        #expect(down?.status == 503)
        #expect(down?.headers["Retry-After"] == "1")
        #expect(f.quotes.listings.isEmpty)
    }
}
