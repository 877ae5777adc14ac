// Hub.preflightHTTP (credentials decided from the headers, before the body)
// must never disagree with the route that would answer after the body.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct PreflightTests {
    static let posts = [
        "/v1/publish", "/v1/notify", "/v1/scans", "/v1/quote-requests", "/v1/quote-requests/1/matches",
        "/v1/conversations", "/v1/conversations/1/messages", "/v1/conversations/1/read", "/v1/messages/1",
        "/v1/notifications/read", "/v1/quote-matches/1/respond", "/v1/projects", "/v1/projects/1/contracts",
        "/v1/contracts/1/sign", "/v1/qr-codes", "/v1/payments/calculate-fee", "/v1/payments/webhook/sandbox",
        "/v1/me", "/v1/presence", "/v1/nope",
    ]

    @Test func aRefusalFromTheHeadersIsWhatTheRouteWouldAnswer() {
        let f = HubFixture()
        let userToken = "Bearer " + f.token("alice")
        let callers: [(name: String, authorization: String?, apiKey: String?)] = [
            ("none", nil, nil), ("bad token", "Bearer nope", nil), ("bad key", nil, "wrong-key-0123456789"),
            ("user", userToken, nil), ("backend", nil, HubFixture.apiKey),
        ]
        var id: HTTPRequestID = 0
        var refusals = 0
        for path in Self.posts {
            for (name, authorization, apiKey) in callers {
                let headersOnly = HTTPRequest(method: "POST", path: path, authorization: authorization, apiKey: apiKey)
                guard let early = f.hub.preflightHTTP(headersOnly) else { continue }
                refusals += 1
                #expect([401, 403, 404, 405].contains(early.status), "\(path) as \(name)")
                var whole = headersOnly
                whole.body = Array("{}".utf8)
                id += 1
                f.hub.handleHTTP(whole, id: id)
                let routed = f.transport.responses[id]?.status ?? 0
                #expect(routed == early.status, "\(path) as \(name): preflight \(early.status), route \(routed)")
                // A stranger learns nothing about routes: 401 before 404/405.
                if name == "none" || name.hasPrefix("bad") { #expect(early.status == 401, "\(path) as \(name)") }
            }
        }
        #expect(refusals > 3 * Self.posts.count)  // every unauthenticated caller at least
    }
}

@Suite struct PreflightOutsideV1Tests {
    /// Found in review: a body sent to a path outside /v1 was buffered whole,
    /// unauthenticated, before its 404/405.
    @Test func aBodyForAPathOutsideV1IsAnsweredFromTheHeaders() {
        let f = HubFixture()
        #expect(f.hub.preflightHTTP(HTTPRequest(method: "POST", path: "/healthz"))?.status == 405)
        #expect(f.hub.preflightHTTP(HTTPRequest(method: "POST", path: "/metrics"))?.status == 405)
        #expect(f.hub.preflightHTTP(HTTPRequest(method: "PUT", path: "/nope"))?.status == 404)
        #expect(f.hub.preflightHTTP(HTTPRequest(method: "POST", path: "/V1/publish"))?.status == 404)
    }
}
