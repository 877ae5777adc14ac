// Notifications and the quote flow over real sockets and PostgreSQL: live
// delivery, replay with `since`, the requester hearing back, isolation
// between users, idempotency, and kill -9 between commit and push.
import Foundation
import Testing

extension HubProcess {
    func backend(_ method: String, _ path: String, _ body: String, key: String? = nil) throws -> HTTPResult {
        var headers = ["X-API-Key": Self.apiKey]
        if let key { headers["Idempotency-Key"] = key }
        return try httpRequest(port: port, method, path, headers: headers, body: body)
    }

    func user(_ user: String, _ method: String, _ path: String, _ body: String? = nil) throws -> HTTPResult {
        try httpRequest(port: port, method, path, headers: ["Authorization": "Bearer " + token(user)], body: body)
    }
}

func quoteRequestBody(_ requester: String) -> String {
    #"{"requester":"\#(requester)","event":"Bauma 2026","city":"Munich","starts_on":"2026-04-07","ends_on":"2026-04-13","stand_size_sqm":120,"budget_min":2000000,"budget_max":3500000,"currency":"EUR","services":["design","build"],"urgency":"high"}"#
}

func matchBody(_ builders: [(String, Int)]) -> String {
    let items = builders.map {
        #"{"builder":"\#($0.0)","score":\#($0.1),"breakdown":{"geographic":90,"experience":80,"capability":85,"availability":70}}"#
    }
    return #"{"matches":[\#(items.joined(separator: ","))]}"#
}

@Suite struct NotificationEndToEndTests {
    @Test func quoteFlowLiveReplayResponseAndNoDuplicates() throws {
        let hub = try HubProcess()
        let requester = uniqueUser("exhibitor"), online = uniqueUser("builder"), offline = uniqueUser("builder")
        let mallory = uniqueUser("mallory")
        let created = try hub.backend("POST", "/v1/quote-requests", quoteRequestBody(requester))
        #expect(created.status == 201)
        let quote = try #require(created.json?["id"] as? String)

        let b = try hub.connect(online)
        _ = try b.receive(type: "welcome")
        let r = try hub.connect(requester)
        _ = try r.receive(type: "welcome")
        let matched = try hub.backend("POST", "/v1/quote-requests/\(quote)/matches", matchBody([(online, 87), (offline, 64)]))
        #expect(matched.status == 201)
        #expect((matched.json?["created"] as? [Any])?.count == 2)
        let live = try b.receive(type: "notification")
        #expect(live["kind"] as? String == "quote_match")
        #expect((live["data"] as? [String: Any])?["score"] as? Int == 87)
        let matchID = try #require(live["entity_id"] as? String)

        // The same builders again: nothing new, nobody notified again.
        let again = try hub.backend("POST", "/v1/quote-requests/\(quote)/matches", matchBody([(online, 99), (offline, 64)]))
        #expect(again.status == 200)
        #expect((again.json?["created"] as? [Any])?.isEmpty == true)
        #expect((again.json?["existing"] as? [Any])?.count == 2)
        let count = try TestDatabase.query(
            "SELECT count(*) FROM notifications WHERE kind = 'quote_match' AND user_id IN ($1, $2)", [online, offline])
        #expect(count.first?[0] == "2")

        // The offline builder connects with since=0 and gets it, marked as replay.
        let o = try WebSocketTestClient(port: hub.port, path: "/?since=0&token=" + hub.token(offline))
        _ = try o.receive(type: "welcome")
        let replayed = try o.receive(type: "notification")
        #expect(replayed["kind"] as? String == "quote_match")
        #expect(replayed["replay"] as? Bool == true)
        let done = try o.receive(type: "subscribed")
        #expect(done["recovered"] as? Bool == true)
        #expect(done["last_id"] as? String == replayed["notification_id"] as? String)

        // Only the matched builder may answer; forward only.
        #expect(try hub.user(mallory, "POST", "/v1/quote-matches/\(matchID)/respond", #"{"status":"interested"}"#).status == 403)
        let answer = try hub.user(
            online, "POST", "/v1/quote-matches/\(matchID)/respond",
            #"{"status":"responded","estimate_min":2500000,"estimate_max":3000000,"proposal_summary":"Two-storey stand"}"#)
        #expect(answer.status == 200)
        #expect(answer.json?["status"] as? String == "responded")
        let heard = try r.receive(type: "notification")
        #expect(heard["kind"] as? String == "quote_response")
        #expect((heard["data"] as? [String: Any])?["estimate_max"] as? Int == 3_000_000)
        let back = try hub.user(online, "POST", "/v1/quote-matches/\(matchID)/respond", #"{"status":"interested"}"#)
        #expect(back.status == 409)
        #expect(back.errorCode == "conflict")

        // Reads: the requester sees scores and responses; others nothing.
        let seen = try hub.user(requester, "GET", "/v1/quote-requests/\(quote)/matches")
        let matches = seen.json?["matches"] as? [[String: Any]] ?? []
        #expect(matches.map { $0["score"] as? Int } == [87, 64])
        #expect(matches.first?["estimate_min"] as? Int == 2_500_000)
        #expect(try hub.user(mallory, "GET", "/v1/quote-requests/\(quote)/matches").status == 403)
        #expect((try hub.user(online, "GET", "/v1/quote-matches").json?["matches"] as? [Any])?.count == 1)

        // Nobody reads another user's notifications.
        let malloryList = try hub.user(mallory, "GET", "/v1/notifications")
        #expect((malloryList.json?["notifications"] as? [Any])?.isEmpty == true)
        let mine = try hub.user(online, "GET", "/v1/notifications?unread=true")
        let items = mine.json?["notifications"] as? [[String: Any]] ?? []
        #expect(items.count == 1)
        #expect(mine.json?["unread_count"] as? Int == 1)
        let idOfOther = replayed["notification_id"] as? String ?? "0"
        let markOther = try hub.user(online, "POST", "/v1/notifications/read", #"{"ids":[\#(idOfOther)]}"#)
        #expect(markOther.json?["marked"] as? Int == 0)  // the offline builder's: not mine
        let markMine = try hub.user(
            online, "POST", "/v1/notifications/read", #"{"up_to":\#(items.first?["notification_id"] as? String ?? "0")}"#)
        #expect(markMine.json?["marked"] as? Int == 1)
        #expect(markMine.json?["unread_count"] as? Int == 0)
    }

    @Test func retriedNotifyCreatesNothingTwice() throws {
        let hub = try HubProcess()
        let users = (0..<3).map { _ in uniqueUser("u") }
        let list = users.map { "\"\($0)\"" }.joined(separator: ",")
        let body = #"{"user_ids":[\#(list)],"kind":"project_update","title":"Stand approved","data":{"project":"p-1"}}"#
        let key = "notify-" + UUID().uuidString
        let first = try hub.backend("POST", "/v1/notify", body, key: key)
        #expect(first.status == 201)
        #expect(first.json?["notified"] as? Int == 3)
        let retry = try hub.backend("POST", "/v1/notify", body, key: key)
        #expect(retry.status == 200)
        #expect(retry.json?["duplicate"] as? Bool == true)
        let reused = try hub.backend("POST", "/v1/notify", body.replacingOccurrences(of: "approved", with: "rejected"), key: key)
        #expect(reused.status == 422)
        let rows = try TestDatabase.query("SELECT count(*) FROM notifications WHERE user_id IN ($1, $2, $3)", users)
        #expect(rows.first?[0] == "3")
    }

    @Test func killNineBetweenCommitAndPushLosesNothing() throws {
        var hub: HubProcess? = try HubProcess(environment: ["SWITCHBOARD_FAILPOINTS": "crash-after-notify-commit"])
        let user = uniqueUser("builder")
        let ws = try hub!.connect(user)
        _ = try ws.receive(type: "welcome")
        // The hub commits, then dies before pushing: no answer, no frame.
        let body = #"{"user_ids":["\#(user)"],"kind":"contract_ready","title":"Contract CTR-202611-000001 is ready"}"#
        _ = try? hub!.backend("POST", "/v1/notify", body)
        #expect(eventually { !hub!.process.isRunning })
        var pushed = false
        while let frame = try? ws.receiveJSON(timeout: 0.5) { if frame["type"] as? String == "notification" { pushed = true } }
        #expect(!pushed)
        let stored = try TestDatabase.query("SELECT id FROM notifications WHERE user_id = $1", [user])
        #expect(stored.count == 1)

        hub = try HubProcess()
        let again = try WebSocketTestClient(port: hub!.port, path: "/?since=0&token=" + hub!.token(user))
        _ = try again.receive(type: "welcome")
        let replayed = try again.receive(type: "notification")
        #expect(replayed["kind"] as? String == "contract_ready")
        #expect(replayed["notification_id"] as? String == stored.first?[0])
    }
}
