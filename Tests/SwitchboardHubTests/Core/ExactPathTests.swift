// A path names an endpoint exactly: a trailing or doubled slash names none
// (found in review: `/metrics/` slipped past the edge's metrics token). The
// families whose old routers split paths leniently answer 404 the same way.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct ExactPathTests {
    @Test func exactPathsWithExtraSlashesAreNotFound() {
        let f = HubFixture()
        let user = "Bearer " + f.token("alice")
        let cases: [(String, String, String?, String?)] = [
            ("GET", "/healthz/", nil, nil), ("GET", "//healthz", nil, nil), ("HEAD", "/readyz/", nil, nil),
            ("GET", "/metrics/", nil, nil), ("GET", "/v1/me/", user, nil), ("GET", "/v1//me", user, nil),
            ("GET", "/v1/presence/", user, nil), ("GET", "/v1/notifications/", user, nil),
            ("POST", "/v1/notifications/read/", user, nil), ("POST", "/v1/notify/", nil, HubFixture.apiKey),
            ("POST", "/v1/publish/", nil, HubFixture.apiKey),
        ]
        for (index, (method, path, authorization, apiKey)) in cases.enumerated() {
            let id = HTTPRequestID(index + 1)
            f.hub.handleHTTP(
                HTTPRequest(
                    method: method, path: path, query: ["users": "bob"], authorization: authorization, apiKey: apiKey,
                    body: Array(#"{"up_to":1}"#.utf8)), id: id)
            #expect(f.transport.responses[id]?.status == 404, "\(method) \(path)")
        }
        // The exact forms still answer.
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/healthz"), id: 100)
        #expect(f.transport.responses[100]?.status == 200)
    }

    @Test func everyFamilyRefusesExtraSlashes() {
        let f = HubFixture()
        let user = "Bearer " + f.token("alice")
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/v1/conversations/", authorization: user), id: 1)
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/v1/quote-matches/", authorization: user), id: 2)
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/v1//qr-codes", authorization: user), id: 3)
        for id in [HTTPRequestID(1), 2, 3] { #expect(f.transport.responses[id]?.status == 404, "request \(id)") }
    }
}
