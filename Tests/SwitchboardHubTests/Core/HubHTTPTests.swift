// REST routes over fakes.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct HubHTTPTests {
    func body(_ r: HTTPResponse?) -> JSON? { r.flatMap { try? JSON.parse($0.body) } }

    @Test func publishNeedsABackendKey() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        let payload = Array(#"{"channel":"user:alice","data":{"k":"v"}}"#.utf8)
        f.hub.handleHTTP(HTTPRequest(method: "POST", path: "/v1/publish", body: payload), id: 1)
        #expect(f.transport.responses[1]?.status == 401)
        f.hub.handleHTTP(
            HTTPRequest(method: "POST", path: "/v1/publish", authorization: "Bearer " + f.token("alice"), body: payload), id: 2)
        #expect(f.transport.responses[2]?.status == 403)
        f.hub.handleHTTP(HTTPRequest(method: "POST", path: "/v1/publish", apiKey: "wrong-key-0123456789", body: payload), id: 3)
        #expect(f.transport.responses[3]?.status == 401)
        f.hub.handleHTTP(HTTPRequest(method: "POST", path: "/v1/publish", apiKey: HubFixture.apiKey, body: payload), id: 4)
        #expect(f.transport.responses[4]?.status == 200)
        #expect(body(f.transport.responses[4])?["subscribers"] == .int(1))
        f.hub.handleHTTP(
            HTTPRequest(method: "POST", path: "/v1/publish", authorization: "Bearer " + HubFixture.apiKey, body: payload), id: 5)
        #expect(f.transport.responses[5]?.status == 200)
        #expect(f.transport.types(to: 1).filter { $0 == "publication" }.count == 2)
    }

    @Test func publishValidatesTheBody() {
        let f = HubFixture()
        func post(_ text: String, _ id: HTTPRequestID) -> JSON? {
            f.hub.handleHTTP(
                HTTPRequest(method: "POST", path: "/v1/publish", apiKey: HubFixture.apiKey, body: Array(text.utf8)), id: id)
            #expect(f.transport.responses[id]?.status == 400)
            return body(f.transport.responses[id])?["error"]?["code"]
        }
        #expect(post("nope", 1) == .string("bad_json"))
        #expect(post(#"{"data":1}"#, 2) == .string("missing_field"))
        #expect(post(#"{"channel":"nope","data":1}"#, 3) == .string("bad_channel"))
        #expect(post(#"{"channel":"user:a"}"#, 4) == .string("missing_field"))
    }

    @Test func healthReadinessAndUnknownRoutes() {
        let f = HubFixture()
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/healthz"), id: 1)
        #expect(f.transport.responses[1]?.status == 200)
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/readyz"), id: 2)
        #expect(f.transport.responses[2]?.status == 200)
        f.store.isAvailable = false
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/readyz"), id: 3)
        #expect(f.transport.responses[3]?.status == 503)
        #expect(body(f.transport.responses[3])?["database"] == .string("down"))
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/nope"), id: 4)
        #expect(f.transport.responses[4]?.status == 404)
        f.hub.handleHTTP(HTTPRequest(method: "DELETE", path: "/v1/publish", apiKey: HubFixture.apiKey), id: 5)
        #expect(f.transport.responses[5]?.status == 405)
        // Under /v1 a stranger learns nothing about routes: 401 first.
        f.hub.handleHTTP(HTTPRequest(method: "DELETE", path: "/v1/publish"), id: 6)
        #expect(f.transport.responses[6]?.status == 401)
    }

    @Test func meIsDeferredToTheStoreAndSays503WhenItIsDown() {
        let f = HubFixture()
        f.store.users["alice"] = UserRecord(id: "alice", role: "user", createdAtMillis: 5, lastSeenAtMillis: nil)
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/v1/me", authorization: "Bearer " + f.token("alice")), id: 1)
        #expect(f.transport.responses[1] == nil)
        f.store.flush()
        #expect(f.transport.responses[1]?.status == 200)
        #expect(body(f.transport.responses[1])?["id"] == .string("alice"))
        f.store.isAvailable = false
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/v1/me", authorization: "Bearer " + f.token("alice")), id: 2)
        #expect(f.transport.responses[2]?.status == 503)
        #expect(f.transport.responses[2]?.headers["Retry-After"] == "1")
    }
    // A path with an empty segment names no route: `/v1//me`, `/v1/me/` and
    // `/v1/projects//milestones` are not `/v1/me` or `/v1/projects/{id}`.
    @Test func emptyPathSegmentsMatchNoRoute() {
        let f = HubFixture()
        let user = "Bearer " + f.token("alice")
        let paths = ["/v1//me", "/v1/me/", "//v1/me", "/healthz/", "//healthz", "/v1/notifications/read/"]
        for (n, path) in paths.enumerated() {
            let id = HTTPRequestID(n + 1)
            f.hub.handleHTTP(HTTPRequest(method: "GET", path: path, authorization: user), id: id)
            #expect(f.transport.responses[id]?.status == 404, "\(path)")
        }
        f.hub.handleHTTP(HTTPRequest(method: "POST", path: "/v1/projects//milestones", authorization: user), id: 10)
        #expect(f.transport.responses[10]?.status == 404)
        // Under /v1 a stranger still gets 401 first.
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/v1//me"), id: 11)
        #expect(f.transport.responses[11]?.status == 401)
    }
    /// RFC 9110 §15.5.6: a 405 names the methods the path has, also when
    /// the preflight answers it from the headers.
    @Test func methodNotAllowedListsTheAllowedMethods() {
        let f = HubFixture()
        f.hub.handleHTTP(HTTPRequest(method: "DELETE", path: "/v1/publish", apiKey: HubFixture.apiKey), id: 1)
        #expect(f.transport.responses[1]?.status == 405)
        #expect(f.transport.responses[1]?.headers["Allow"] == "POST")
        f.hub.handleHTTP(HTTPRequest(method: "POST", path: "/healthz"), id: 2)
        #expect(f.transport.responses[2]?.headers["Allow"] == "GET, HEAD")
        let early = f.hub.preflightHTTP(HTTPRequest(method: "PUT", path: "/v1/publish", apiKey: HubFixture.apiKey))
        #expect(early?.status == 405)
        #expect(early?.headers["Allow"] == "POST")
    }
}
