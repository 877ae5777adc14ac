// Notifications on the hub: pushed only to their user, replay on connect
// with a seam (no gap, no duplicate, in order), the notify API's checks and
// idempotency, the list and read routes, and the quote flow's body checks
// (fakes, no sockets).
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct NotificationHubTests {
    func notes(_ f: HubFixture, _ id: ConnectionID) -> [JSON] {
        f.transport.frames(to: id).filter { $0["type"] == .string("notification") }
    }
    func ids(_ frames: [JSON]) -> [String] { frames.compactMap { $0["notification_id"]?.stringValue } }

    @Test func replayThenLiveWithNoGapAndNoDuplicateAtTheSeam() {
        let f = HubFixture()
        f.notes.commit("bob"); f.notes.commit("bob"); f.notes.commit("alice")
        f.hub.connectionOpened(1, token: f.token("bob"), since: 0)  // replay read is taken now: 1, 2
        // Committed after the read; its push arrives while the replay is pending.
        let third = f.notes.commit("bob")
        f.hub.feature(NotificationsFeature.self)!.publish([third])
        #expect(notes(f, 1).isEmpty)  // held back until the replay is out
        f.notes.flush()
        #expect(ids(notes(f, 1)) == ["1", "2", "4"])
        #expect(notes(f, 1).prefix(2).allSatisfy { $0["replay"] == .bool(true) })
        #expect(notes(f, 1).last?["replay"] == nil)
        let done = f.transport.frames(to: 1).first { $0["type"] == .string("subscribed") }
        #expect(done?["last_id"] == .string("2"))
        #expect(done?["recovered"] == .bool(true))
        let order = f.transport.types(to: 1).filter { $0 == "notification" || $0 == "subscribed" }
        #expect(order == ["notification", "notification", "subscribed", "notification"])
    }

    @Test func aPushThatRacedTheReplayReadIsNotSentTwice() {
        let f = HubFixture()
        let first = f.notes.commit("bob")
        f.hub.connectionOpened(1, token: f.token("bob"), since: 0)
        f.notes.flush()  // the replay already holds notification 1…
        f.hub.feature(NotificationsFeature.self)!.publish([first])  // …whose push comes late
        #expect(ids(notes(f, 1)) == ["1"])
    }

    @Test func sinceInTheAuthFrameWorksTooAndOthersGetNothing() {
        let f = HubFixture()
        f.notes.commit("bob")
        f.hub.connectionOpened(1, token: nil)
        f.send(1, #"{"type":"auth","id":"a","token":"\#(f.token("bob"))","since":0}"#)
        f.hub.connectionOpened(2, token: f.token("mallory"))
        f.notes.flush()
        #expect(ids(notes(f, 1)) == ["1"])
        f.hub.feature(NotificationsFeature.self)!.publish([f.notes.commit("bob")])
        #expect(ids(notes(f, 1)) == ["1", "2"])
        #expect(notes(f, 2).isEmpty)
    }

    @Test func pastTheCapTheClientIsToldToPage() {
        let f = HubFixture()
        for _ in 0...NotificationsFeature.replayCap { f.notes.commit("bob") }
        f.hub.connectionOpened(1, token: f.token("bob"), since: 0)
        f.notes.flush()
        #expect(notes(f, 1).isEmpty)
        let done = f.transport.frames(to: 1).first { $0["type"] == .string("subscribed") }
        #expect(done?["recovered"] == .bool(false))
        #expect(done?["last_id"] == .string("0"))
    }

    func notify(_ f: HubFixture, _ body: String, key: String? = nil, auth: String? = nil, id: HTTPRequestID) -> HTTPResponse? {
        f.hub.handleHTTP(
            HTTPRequest(
                method: "POST", path: "/v1/notify", authorization: auth,
                apiKey: auth == nil ? HubFixture.apiKey : nil, idempotencyKey: key, body: Array(body.utf8)), id: id)
        f.notes.flush()
        return f.transport.responses[id]
    }

    @Test func notifyChecksItsInputAndPublishesOnlyWhatWasCreated() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("bob"))
        let body = #"{"user_ids":["bob","carla","bob"],"kind":"quote_match","title":"Matched","data":{"q":1}}"#
        #expect(notify(f, body, auth: "Bearer " + f.token("bob"), id: 1)?.status == 403)
        #expect(notify(f, #"{"user_ids":["bob"],"kind":"spam","title":"x"}"#, id: 2)?.status == 400)
        #expect(notify(f, #"{"user_ids":[],"kind":"quote_match","title":"x"}"#, id: 3)?.status == 400)
        #expect(notify(f, #"{"user_ids":["bob"],"kind":"quote_match","title":"x","data":[1]}"#, id: 4)?.status == 400)
        #expect(notify(f, #"{"kind":"quote_match","title":"x"}"#, id: 5).map(errorCode) == "missing_field")
        #expect(f.notes.notifyRequests.isEmpty)  // nothing refused reached the store
        let first = notify(f, body, key: "k-1", id: 6)
        #expect(first?.status == 201)
        #expect(first.flatMap { try? JSON.parse($0.body) } == .object(["notified": .int(2), "duplicate": .bool(false)]))
        #expect(f.notes.notifyRequests.first?.recipients == ["bob", "carla"])  // bob listed twice is notified once
        #expect(f.notes.notifyRequests.first?.idempotencyKey == "k-1")
        #expect(ids(notes(f, 1)) == ["1"])
        // The store says it saw the key with this request: 200, nothing published.
        f.notes.notifyAnswer = .success(NotifyOutcome(notified: 2, duplicate: true, created: []))
        let retry = notify(
            f,
            #"{"idempotency_key":"k-1","user_ids":["bob","carla","bob"],"kind":"quote_match","title":"Matched","data":{"q":1}}"#,
            id: 7)
        #expect(retry?.status == 200)
        #expect(retry.flatMap { try? JSON.parse($0.body) }?["duplicate"] == .bool(true))
        #expect(ids(notes(f, 1)) == ["1"])
        // A retry's fingerprint is the first call's (the key in the body is not part of it); another body's is not.
        f.notes.notifyAnswer = .failure(NotifyRequest.keyReused)
        let other = notify(f, #"{"user_ids":["bob"],"kind":"quote_match","title":"Different"}"#, key: "k-1", id: 8)
        let prints = f.notes.notifyRequests.map(\.fingerprint)
        #expect(prints.count == 3 && prints[0] == prints[1] && prints[0] != prints[2])
        #expect(other?.status == 422)
        #expect(other.map(errorCode) == "idempotency_mismatch")
    }

    func errorCode(_ response: HTTPResponse) -> String? {
        (try? JSON.parse(response.body))?["error"]?["code"]?.stringValue
    }

    func get(_ f: HubFixture, _ path: String, query: [String: String] = [:], as user: String, id: HTTPRequestID) -> HTTPResponse?
    {
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: path, query: query, authorization: "Bearer " + f.token(user)), id: id)
        f.notes.flush()
        return f.transport.responses[id]
    }

    @Test func listShowsTheCallersOwnWithTheUnreadCount() {
        let f = HubFixture()
        f.notes.commit("bob"); f.notes.commit("alice"); f.notes.commit("bob")
        let list = get(f, "/v1/notifications", as: "bob", id: 1).flatMap { try? JSON.parse($0.body) }
        if case .array(let items)? = list?["notifications"] {
            #expect(items.compactMap { $0["notification_id"]?.stringValue } == ["1", "3"])
            #expect(items.allSatisfy { $0["user"] == .string("bob") })
        } else {
            Issue.record("no list")
        }
        #expect(list?["unread_count"] == .int(2))
        #expect(list?["last_id"] == .string("3"))
        let empty = get(f, "/v1/notifications", query: ["after": "3"], as: "bob", id: 2).flatMap { try? JSON.parse($0.body) }
        #expect(empty?["last_id"] == .null)
        for (n, query) in [["after": "-1"], ["limit": "0"], ["limit": "201"], ["limit": "x"], ["unread": "yes"]].enumerated() {
            #expect(get(f, "/v1/notifications", query: query, as: "bob", id: HTTPRequestID(10 + n))?.status == 400)
        }
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/v1/notifications", apiKey: HubFixture.apiKey), id: 20)
        #expect(f.transport.responses[20]?.status == 403)  // a backend has no notifications
        f.notes.failure = .unavailable
        let down = get(f, "/v1/notifications", as: "bob", id: 21)
        #expect(down?.status == 503)
        #expect(down?.headers["Retry-After"] == "1")
    }

    @Test func readMarksTheCallersOwnAndAnswersTheStoresCounts() {
        let f = HubFixture()
        func read(_ body: String, id: HTTPRequestID) -> HTTPResponse? {
            f.hub.handleHTTP(
                HTTPRequest(
                    method: "POST", path: "/v1/notifications/read", authorization: "Bearer " + f.token("bob"),
                    body: Array(body.utf8)), id: id)
            f.notes.flush()
            return f.transport.responses[id]
        }
        f.notes.readAnswer = .success(ReadMarks(marked: 1, unread: 4))
        let marked = read(#"{"ids":[2,"3"]}"#, id: 1)
        #expect(marked?.status == 200)
        #expect(marked.flatMap { try? JSON.parse($0.body) } == .object(["marked": .int(1), "unread_count": .int(4)]))
        #expect(f.notes.readCalls.last?.user == "bob")
        #expect(f.notes.readCalls.last?.ids == [2, 3])
        #expect(read(#"{"up_to":7}"#, id: 2)?.status == 200)
        #expect(f.notes.readCalls.last?.upTo == 7 && f.notes.readCalls.last?.ids == nil)
        #expect(read(#"{}"#, id: 3).map(errorCode) == "missing_field")
        #expect(read(#"{"ids":[]}"#, id: 4)?.status == 400)
        #expect(read(#"{"ids":["x"]}"#, id: 5)?.status == 400)
        #expect(read(#"{"up_to":0}"#, id: 6)?.status == 400)
        #expect(read(#"[1]"#, id: 7).map(errorCode) == "bad_json")
        #expect(f.notes.readCalls.count == 2)
        f.notes.readAnswer = .failure(.overloaded)
        #expect(read(#"{"up_to":7}"#, id: 8)?.status == 503)
    }

    @Test func aReplayTheStoreCannotReadSaysSoAndIsNotRecovered() {
        let f = HubFixture()
        f.notes.commit("bob")
        f.notes.failure = .unavailable
        f.hub.connectionOpened(1, token: f.token("bob"), since: 0)
        f.notes.flush()
        #expect(f.transport.lastError(to: 1) == "unavailable")
        let done = f.transport.frames(to: 1).first { $0["type"] == .string("subscribed") }
        #expect(done?["recovered"] == .bool(false))
        #expect(notes(f, 1).isEmpty)
    }
}

@Suite struct QuoteBodyTests {
    @Test func requestAndMatchBodiesAreValidated() throws {
        let good = try JSON.parse(
            Array(
                #"""
                {"requester":"ex-1","event":"Bauma 2026","city":"Munich","starts_on":"2026-04-07","ends_on":"2026-04-13",
                 "stand_size_sqm":120.5,"budget_min":2000000,"budget_max":3500000,"currency":"EUR","services":["design","build"],
                 "urgency":"high"}
                """#.utf8))
        let request = try QuoteRequestDecoder.decode(good)
        #expect(request.budgetMax == 3_500_000)
        #expect(request.standSizeSqm == 120.5)
        var bad = good
        if case .object(var m) = bad { m["ends_on"] = .string("2026-04-01"); bad = .object(m) }
        #expect(throws: HubError.self) { try QuoteRequestDecoder.decode(bad) }
        let matches = try JSON.parse(
            Array(
                #"""
                {"matches":[{"builder":"b1","score":87,"breakdown":{"geographic":90,"experience":80,"capability":95,"availability":70}},
                            {"builder":"b1","score":50,"breakdown":{"geographic":1,"experience":1,"capability":1,"availability":1}}]}
                """#.utf8))
        #expect(try QuoteRequestDecoder.matches(matches).count == 1)
        let noBreakdown = try JSON.parse(Array(#"{"matches":[{"builder":"b1","score":101}]}"#.utf8))
        #expect(throws: HubError.self) { try QuoteRequestDecoder.matches(noBreakdown) }
        let respondedWithoutEstimate = try JSON.parse(Array(#"{"status":"responded"}"#.utf8))
        #expect(throws: HubError.self) { try QuoteRequestDecoder.response(respondedWithoutEstimate) }
    }
}
