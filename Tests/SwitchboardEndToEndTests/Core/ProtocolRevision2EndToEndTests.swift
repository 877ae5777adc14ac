// Protocol revision 2 over real sockets and PostgreSQL: ids echoed in their
// JSON type, notification ids as strings, ms everywhere, the welcome's newest
// notification id, the batch subscribe with cursors (and `since` on the
// user channel), errors naming their channel, notices per connection, the
// history's 404 and `after`+`before`, and the signature error's advice.
import Foundation
import SwitchboardAuth
import Testing

extension HubProcess {
    fileprivate func notify(_ user: String, _ title: String) throws -> String {
        let r = try httpRequest(
            port: port, "POST", "/v1/notify", headers: ["X-API-Key": Self.apiKey],
            body: #"{"user_ids":["\#(user)"],"kind":"project_update","title":"\#(title)","data":{}}"#)
        guard r.status == 201 else { throw TestClientError.handshake("notify: \(r.status)") }
        let list = try httpRequest(
            port: port, "GET", "/v1/notifications?limit=200", headers: ["Authorization": "Bearer " + token(user)])
        return list.json?["last_id"] as? String ?? "?"
    }
}

/// Frames up to and including the first of `type`.
private func frames(until type: String, on client: WebSocketTestClient) throws -> [[String: Any]] {
    var seen: [[String: Any]] = []
    while true {
        let frame = try client.receiveJSON()
        seen.append(frame)
        if frame["type"] as? String == type { return seen }
    }
}

@Suite struct ProtocolRevision2EndToEndTests {
    @Test func idsTimesAndTheWelcomesNotificationCursor() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice")
        let fresh = try WebSocketTestClient(port: hub.port, path: "/")
        try fresh.sendText(#"{"type":"auth","id":7,"token":"\#(hub.token(alice, ttl: 600))"}"#)
        let welcome = try fresh.receive(type: "welcome")
        #expect(welcome["id"] as? Int == 7)
        #expect(welcome["revision"] as? Int == 2)
        #expect(welcome.keys.contains("last_notification_id") && welcome["last_notification_id"] is NSNull)
        let expires = try #require(welcome["expires_at"] as? Int64)
        #expect(expires % 1000 == 0 && expires > 1_000_000_000_000)  // ms, from a token's whole seconds
        try fresh.sendText(#"{"type":"ping","id":-5}"#)
        #expect(try fresh.receive(type: "pong")["id"] as? Int == -5)
        try fresh.sendText(#"{"type":"ping","id":"-5"}"#)
        #expect(try fresh.receive(type: "pong")["id"] as? String == "-5")
        try fresh.sendText(#"{"type":"refresh","id":8,"token":"\#(hub.token(alice, ttl: 900))"}"#)
        let refreshed = try fresh.receive(type: "refreshed")
        #expect(refreshed["id"] as? Int == 8)
        #expect((refreshed["expires_at"] as? Int64 ?? 0) > expires)
        #expect(try hub.publish("user:" + alice, "{}").status == 200)
        let ts = try #require(try fresh.receive(type: "publication")["ts"] as? Int64)
        #expect(ts > 1_000_000_000_000 && ts < 100_000_000_000_000)  // ms, not µs

        let second = try hub.notify(alice, "two")
        let live = try fresh.receive(type: "notification")
        #expect(live["notification_id"] as? String == second)
        let again = try hub.connect(alice)
        #expect(try again.receive(type: "welcome")["last_notification_id"] as? String == second)
        // A cursor as a string, in the handshake and in REST.
        let list = try httpRequest(
            port: hub.port, "GET", "/v1/notifications?after=0", headers: ["Authorization": "Bearer " + hub.token(alice)])
        #expect(list.json?["last_id"] as? String == second)
    }

    @Test func oneFrameResumesEveryChannelWithItsCursor() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try hub.conversation(alice, with: [bob])
        let a = try hub.connect(alice)
        _ = try a.receive(type: "welcome")
        for i in 1...3 {
            try a.sendText(sendFrame(conv, "m\(i)", "n\(i)"))
            _ = try a.receive(type: "ack")
        }
        let first = try hub.notify(alice, "one")
        let second = try hub.notify(alice, "two")
        let b = try hub.connect(alice)
        #expect(try b.receive(type: "welcome")["last_notification_id"] as? String == second)
        try b.sendText(
            #"{"type":"subscribe","id":"r1","channels":[{"channel":"conversation:\#(conv)","since":1},{"channel":"user:\#(alice)","since":"\#(first)"},{"channel":"topic:news"},{"channel":"user:\#(bob)"}]}"#
        )
        var answers: [[String: Any]] = []
        var replayed: [String] = []
        while answers.count < 4 {
            let frame = try b.receiveJSON()
            switch frame["type"] as? String {
            case "subscribed", "error": answers.append(frame)
            case "message": replayed.append("seq \(frame["seq"] as? Int ?? -1)")
            case "notification": replayed.append("notification \(frame["notification_id"] as? String ?? "?")")
            default: break
            }
        }
        #expect(answers.allSatisfy { $0["id"] as? String == "r1" })
        let byChannel = Dictionary(answers.map { ($0["channel"] as? String ?? "?", $0) }, uniquingKeysWith: { x, _ in x })
        #expect(byChannel["conversation:\(conv)"]?["last_seq"] as? Int == 3)
        #expect(byChannel["conversation:\(conv)"]?["recovered"] as? Bool == true)
        #expect(byChannel["user:\(alice)"]?["last_id"] as? String == second)
        #expect(byChannel["user:\(alice)"]?["recovered"] as? Bool == true)
        #expect(byChannel["topic:news"]?["type"] as? String == "subscribed")
        #expect(byChannel["user:\(bob)"]?["code"] as? String == "forbidden")
        #expect(Set(replayed) == ["seq 2", "seq 3", "notification \(second)"])
        #expect(replayed.count == 3)
        // And live on all of them.
        try a.sendText(sendFrame(conv, "m4", "n4"))
        #expect(try b.receive(type: "message")["seq"] as? Int == 4)
        let third = try hub.notify(alice, "three")
        #expect(try b.receive(type: "notification")["notification_id"] as? String == third)
        try b.sendText(#"{"type":"subscribe","id":"bad","channels":[]}"#)
        #expect(try b.receive(type: "error")["code"] as? String == "bad_frame")
    }

    @Test func aMembersOtherConnectionGetsTheNoticeWhileOneWatches() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try hub.conversation(alice, with: [bob])
        let a = try hub.connect(alice), watching = try hub.connect(bob), other = try hub.connect(bob)
        for c in [a, watching, other] { _ = try c.receive(type: "welcome") }
        try watching.sendText(#"{"type":"subscribe","id":"s","channel":"conversation:\#(conv)"}"#)
        _ = try watching.receive(type: "subscribed")
        try a.sendText(sendFrame(conv, "m1", "hi"))
        let notice = try other.receive(type: "notice")
        #expect(notice["conversation"] as? String == conv)
        #expect(notice["seq"] as? Int == 1)
        _ = try watching.receive(type: "message")
        try watching.sendText(#"{"type":"ping","id":"p"}"#)
        #expect(try frames(until: "pong", on: watching).allSatisfy { $0["type"] as? String != "notice" })
    }

    @Test func historyIs404ForNoConversationAndHonoursAfterWithBefore() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob"), mallory = uniqueUser("mallory")
        let conv = try hub.conversation(alice, with: [bob])
        let a = try hub.connect(alice)
        _ = try a.receive(type: "welcome")
        for i in 1...6 {
            try a.sendText(sendFrame(conv, "m\(i)", "n\(i)"))
            _ = try a.receive(type: "ack")
        }
        func get(_ path: String, as user: String) throws -> HTTPResult {
            try httpRequest(port: hub.port, "GET", path, headers: ["Authorization": "Bearer " + hub.token(user)])
        }
        let missing = try get("/v1/conversations/999999999/messages", as: alice)
        #expect(missing.status == 404)
        #expect((missing.json?["error"] as? [String: Any])?["code"] as? String == "not_found")
        #expect(try get("/v1/conversations/\(conv)/messages", as: mallory).status == 403)
        func seqs(_ r: HTTPResult) -> [Int] { (r.json?["messages"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } ?? [] }
        #expect(seqs(try get("/v1/conversations/\(conv)/messages?after=1&before=5", as: alice)) == [2, 3, 4])
        #expect(seqs(try get("/v1/conversations/\(conv)/messages?after=1&before=5&limit=2", as: alice)) == [2, 3])
        #expect(seqs(try get("/v1/conversations/\(conv)/messages?after=4", as: alice)) == [5, 6])
    }

    @Test func aTokenSignedWithAnotherSecretIsToldWhatToCheck() throws {
        let hub = try HubProcess()
        let now = Int64(Date().timeIntervalSince1970)
        let foreign = JWTSigner.hs256(
            Claims(subject: uniqueUser("alice"), expiresAt: now + 600), secret: Array("another-secret-another-secret-xx".utf8))
        let c = try WebSocketTestClient(port: hub.port, path: "/")
        try c.sendText(#"{"type":"auth","id":"a","token":"\#(foreign)"}"#)
        let error = try c.receive(type: "error")
        #expect(error["code"] as? String == "unauthorized")
        #expect((error["message"] as? String ?? "").contains("another secret"))
        #expect((error["message"] as? String ?? "").contains("--data-dir"))
    }

    @Test func switchboardTokenSignsWithServesDevelopmentSecretOrRefuses() throws {
        let hub = try HubProcess()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("token-" + UUID().uuidString)
        let deeper = root.appendingPathComponent("sub/deeper")
        try FileManager.default.createDirectory(at: deeper, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".data"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        // The folder `serve` ran in holds its development secret (line 1).
        try (HubProcess.secret + "\ne2e:" + HubProcess.apiKey + "\n").write(
            to: root.appendingPathComponent(".data/dev-secrets"), atomically: true, encoding: .utf8)
        func mint(in folder: URL) throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: HubProcess.binary)
            process.arguments = ["token", "--user", uniqueUser("alice")]
            process.currentDirectoryURL = folder
            var environment = ProcessInfo.processInfo.environment
            environment["SWITCHBOARD_DATA_DIR"] = nil
            environment["SWITCHBOARD_JWT_SECRET"] = nil
            process.environment = environment
            let out = Pipe()
            process.standardOutput = out
            process.standardError = Pipe()
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (
                process.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            )
        }
        let minted = try mint(in: deeper)
        #expect(minted.status == 0)
        let c = try WebSocketTestClient(port: hub.port, path: "/?token=" + minted.output)
        #expect(try c.receive(type: "welcome")["type"] as? String == "welcome")
        // Where there is none (here or above), it refuses rather than mint
        // with a new secret that no running hub knows.
        let lonely = FileManager.default.temporaryDirectory.appendingPathComponent("lonely-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: lonely, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: lonely) }
        #expect(try mint(in: lonely).status != 0)
        #expect(!FileManager.default.fileExists(atPath: lonely.appendingPathComponent(".data").path))
    }
}
