// Notifications on the hub: pushed only to their user, replay on connect
// with a seam (no gap, no duplicate, in order), the notify API's checks and
// idempotency, and the quote flow's rules (fakes, no sockets).
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
        f.hub.pushNotifications([third])
        #expect(notes(f, 1).isEmpty)  // held back until the replay is out
        f.notes.flush()
        #expect(ids(notes(f, 1)) == ["1", "2", "4"])
        #expect(notes(f, 1).prefix(2).allSatisfy { $0["replay"] == .bool(true) })
        #expect(notes(f, 1).last?["replay"] == nil)
        let done = f.transport.frames(to: 1).first { $0["type"] == .string("subscribed") }
        #expect(done?["last_id"] == .int(2))
        #expect(done?["recovered"] == .bool(true))
        let order = f.transport.types(to: 1).filter { $0 == "notification" || $0 == "subscribed" }
        #expect(order == ["notification", "notification", "subscribed", "notification"])
    }

    @Test func aPushThatRacedTheReplayReadIsNotSentTwice() {
        let f = HubFixture()
        let first = f.notes.commit("bob")
        f.hub.connectionOpened(1, token: f.token("bob"), since: 0)
        f.notes.flush()  // the replay already holds notification 1…
        f.hub.pushNotifications([first])  // …whose push comes late
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
        f.hub.pushNotifications([f.notes.commit("bob")])
        #expect(ids(notes(f, 1)) == ["1", "2"])
        #expect(notes(f, 2).isEmpty)
    }

    @Test func pastTheCapTheClientIsToldToPage() {
        let f = HubFixture()
        for _ in 0...Hub.notificationReplayCap { f.notes.commit("bob") }
        f.hub.connectionOpened(1, token: f.token("bob"), since: 0)
        f.notes.flush()
        #expect(notes(f, 1).isEmpty)
        let done = f.transport.frames(to: 1).first { $0["type"] == .string("subscribed") }
        #expect(done?["recovered"] == .bool(false))
        #expect(done?["last_id"] == .int(0))
    }

    func notify(_ f: HubFixture, _ body: String, key: String? = nil, auth: String? = nil, id: HTTPRequestID) -> HTTPResponse? {
        f.hub.handleHTTP(HTTPRequest(method: "POST", path: "/v1/notify", authorization: auth,
                                     apiKey: auth == nil ? HubFixture.apiKey : nil, idempotencyKey: key, body: Array(body.utf8)), id: id)
        f.notes.flush()
        return f.transport.responses[id]
    }

    @Test func notifyChecksItsInputAndIsIdempotentByKey() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("bob"))
        let body = #"{"user_ids":["bob","carla","bob"],"kind":"quote_match","title":"Matched","data":{"q":1}}"#
        #expect(notify(f, body, auth: "Bearer " + f.token("bob"), id: 1)?.status == 403)
        #expect(notify(f, #"{"user_ids":["bob"],"kind":"spam","title":"x"}"#, id: 2)?.status == 400)
        #expect(notify(f, #"{"user_ids":[],"kind":"quote_match","title":"x"}"#, id: 3)?.status == 400)
        #expect(notify(f, #"{"user_ids":["bob"],"kind":"quote_match","title":"x","data":[1]}"#, id: 4)?.status == 400)
        let first = notify(f, body, key: "k-1", id: 5)
        #expect(first?.status == 201)
        #expect(f.notes.stored.count == 2)  // bob listed twice is notified once
        #expect(ids(notes(f, 1)) == ["1"])
        let retry = notify(f, body, key: "k-1", id: 6)
        #expect(retry?.status == 200)
        #expect((try? JSON.parse(retry!.body))?["duplicate"] == .bool(true))
        #expect(f.notes.stored.count == 2)
        #expect(ids(notes(f, 1)) == ["1"])
        let other = notify(f, #"{"user_ids":["bob"],"kind":"quote_match","title":"Different"}"#, key: "k-1", id: 7)
        #expect(other?.status == 422)
    }

    @Test func listAndReadAreTheCallersOwn() {
        let f = HubFixture()
        f.notes.commit("bob"); f.notes.commit("alice"); f.notes.commit("bob")
        f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/v1/notifications", authorization: "Bearer " + f.token("bob")), id: 1)
        f.notes.flush()
        let list = try? JSON.parse(f.transport.responses[1]?.body ?? [])
        if case .array(let items)? = list?["notifications"] {
            #expect(items.compactMap { $0["notification_id"]?.stringValue } == ["1", "3"])
        } else { Issue.record("no list") }
        #expect(list?["unread_count"] == .int(2))
        f.hub.handleHTTP(HTTPRequest(method: "POST", path: "/v1/notifications/read", authorization: "Bearer " + f.token("bob"),
                                     body: Array(#"{"ids":[2,3]}"#.utf8)), id: 2)
        f.notes.flush()
        let read = try? JSON.parse(f.transport.responses[2]?.body ?? [])
        #expect(read?["marked"] == .int(1))  // 2 is alice's: untouched
        #expect(read?["unread_count"] == .int(1))
        #expect(f.notes.stored[1].readAtMillis == nil)
    }
}

@Suite struct QuoteRuleTests {
    @Test func matchesOnlyMoveForward() {
        #expect(MatchStatus.matched.mayBecome(.interested))
        #expect(MatchStatus.matched.mayBecome(.responded))
        #expect(MatchStatus.interested.mayBecome(.declined))
        #expect(!MatchStatus.responded.mayBecome(.interested))
        #expect(!MatchStatus.declined.mayBecome(.responded))
        #expect(!MatchStatus.interested.mayBecome(.interested))
        #expect(!MatchStatus.interested.mayBecome(.matched))
    }

    @Test func requestAndMatchBodiesAreValidated() throws {
        let good = try JSON.parse(Array(#"""
            {"requester":"ex-1","event":"Bauma 2026","city":"Munich","starts_on":"2026-04-07","ends_on":"2026-04-13",
             "stand_size_sqm":120.5,"budget_min":2000000,"budget_max":3500000,"currency":"EUR","services":["design","build"],
             "urgency":"high"}
            """#.utf8))
        let request = try QuoteRequestDecoder.decode(good)
        #expect(request.budgetMax == 3_500_000)
        #expect(request.standSizeSqm == 120.5)
        var bad = good
        if case .object(var m) = bad { m["ends_on"] = .string("2026-04-01"); bad = .object(m) }
        #expect(throws: QuoteRequestDecoder.Failure.self) { try QuoteRequestDecoder.decode(bad) }
        let matches = try JSON.parse(Array(#"""
            {"matches":[{"builder":"b1","score":87,"breakdown":{"geographic":90,"experience":80,"capability":95,"availability":70}},
                        {"builder":"b1","score":50,"breakdown":{"geographic":1,"experience":1,"capability":1,"availability":1}}]}
            """#.utf8))
        #expect(try QuoteRequestDecoder.matches(matches).count == 1)
        let noBreakdown = try JSON.parse(Array(#"{"matches":[{"builder":"b1","score":101}]}"#.utf8))
        #expect(throws: QuoteRequestDecoder.Failure.self) { try QuoteRequestDecoder.matches(noBreakdown) }
        let respondedWithoutEstimate = try JSON.parse(Array(#"{"status":"responded"}"#.utf8))
        #expect(throws: QuoteRequestDecoder.Failure.self) { try QuoteRequestDecoder.response(respondedWithoutEstimate) }
    }
}
