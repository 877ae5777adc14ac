// Issue 10 over a real hub process and PostgreSQL: requests that used to
// kill the process, reach another user's conversation, or act as another
// user through a NUL are refused, and the hub stays up.
import Foundation
import SwitchboardPostgres
import Testing

@Suite struct HostileInputEndToEndTests {
    /// Defect 1: one GET from any signed-in user trapped on overflow.
    @Test func statsAtTheInt64ExtremesAre400AndTheHubStaysUp() throws {
        let hub = try HubProcess()
        let user = uniqueUser("mallory")
        for query in [
            "to=9223372036854775807", "from=-9223372036854775808", "to=-9223372036854775808",
            "from=-9223372036854775807&to=1000000000000",
        ] {
            let r = try httpRequest(
                port: hub.port, "GET", "/v1/qr-codes/999999/stats?" + query,
                headers: ["Authorization": "Bearer " + hub.token(user)])
            #expect(r.status == 400, "\(query)")
        }
        #expect(try httpRequest(port: hub.port, "GET", "/healthz").status == 200)
    }

    /// Defect 3: a project may name only a conversation both parties are members of.
    @Test func aProjectCannotAttachAConversationItsPartiesAreNotIn() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob"), mallory = uniqueUser("mallory"), crafty = uniqueUser("crafty")
        let victims = try hub.conversation(alice, with: [bob])
        let own = try hub.conversation(mallory, with: [crafty])
        func project(_ conversation: String) throws -> HTTPResult {
            try httpRequest(
                port: hub.port, "POST", "/v1/projects", headers: ["Authorization": "Bearer " + hub.token(mallory)],
                body: #"{"client":"\#(mallory)","craftsman":"\#(crafty)","title":"Stand","conversation_id":"\#(conversation)"}"#)
        }
        let refused = try project(victims)
        #expect(refused.status == 403)
        #expect(refused.errorCode == "forbidden")
        #expect(try project(own).status == 201)
        // A backend may not attach it either.
        let viaBackend = try httpRequest(
            port: hub.port, "POST", "/v1/projects", headers: ["X-API-Key": HubProcess.apiKey],
            body: #"{"client":"\#(mallory)","craftsman":"\#(crafty)","title":"S","conversation_id":"\#(victims)"}"#)
        #expect(viaBackend.status == 403)
        let rows = try TestDatabase.query("SELECT count(*) FROM projects WHERE conversation_id = $1", [victims])
        #expect(rows.first?[0] == "0")
    }

    /// Defect 4: libpq cuts text at NUL; nothing with a NUL reaches it.
    @Test func nulInIdsLabelsAndQueriesIsRefused() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let auth = ["Authorization": "Bearer " + hub.token(alice)]
        let label = try httpRequest(
            port: hub.port, "POST", "/v1/qr-codes", headers: auth,
            body: #"{"label":"Front\u0000door","target":"https://example.com"}"#)
        #expect(label.status == 400)
        // lws itself drops a request whose URL decodes to NUL (no answer);
        // either way the NUL never reaches the hub or PostgreSQL.
        let owner = try? httpRequest(
            port: hub.port, "GET", "/v1/qr-codes?owner=\(alice)%00x", headers: ["X-API-Key": HubProcess.apiKey])
        #expect(owner == nil || owner?.status == 400)
        let conv = try hub.conversation(alice, with: [bob])
        let ws = try hub.connect(alice)
        _ = try ws.receive(type: "welcome")
        try ws.sendText(sendFrame(conv, "X\\u0000a", "first"))
        let error = try ws.receive(type: "error")
        #expect(error["code"] as? String == "bad_json")
        try ws.sendText(sendFrame(conv, "X", "second"))
        let ack = try ws.receive(type: "ack")
        #expect(ack["duplicate"] as? Bool != true)
        let stored = try TestDatabase.query("SELECT count(*) FROM messages WHERE sender_id = $1", [alice])
        #expect(stored.first?[0] == "1")
    }
}

@Suite struct HeaderBytesEndToEndTests {
    func answer(_ hub: HubProcess, _ head: [UInt8], body: String = "") throws -> Int? {
        let c = try RawHTTPConnection(port: hub.port)
        _ = c.send(bytes: head + Array("Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8))
        return c.readResponse()?.status
    }

    /// Found by the attack: `Bearer <jwt>\0junk` was accepted (the value was
    /// read up to the NUL), and Idempotency-Keys differing only in invalid
    /// UTF-8 bytes became one key.
    @Test func aNULOrInvalidUTF8InAHeaderIsNeverReadAsSomethingElse() throws {
        let hub = try HubProcess()
        let user = uniqueUser("hdr")
        let nul =
            Array("GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(hub.token(user))".utf8) + [0]
            + Array("junk\r\n".utf8)
        #expect(try answer(hub, nul) == 401)
        let clean = Array("GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(hub.token(user))\r\n".utf8)
        #expect(try answer(hub, clean) != 401)
        let body = #"{"user_ids":["\#(user)"],"kind":"project_update","title":"t"}"#
        let key =
            Array("POST /v1/notify HTTP/1.1\r\nHost: x\r\nX-API-Key: \(HubProcess.apiKey)\r\nIdempotency-Key: k".utf8) + [0xFF]
            + Array("\r\n".utf8)
        #expect(try answer(hub, key, body: body) == 400)
    }
}

@Suite struct EmbeddedClusterAfterCrashTests {
    /// Issue 10: after a crash the embedded PostgreSQL is left running; the
    /// next start must reuse it, not fail.
    @Test func aHubKilledWithItsEmbeddedClusterRunningStartsAgainOnIt() throws {
        let dir = NSTemporaryDirectory() + "sb-embedded-\(UUID().uuidString.prefix(8))"
        defer {
            if let cluster = try? EmbeddedPostgres(directory: dir + "/postgres") { cluster.stop() }
            try? FileManager.default.removeItem(atPath: dir)
        }
        let first = try HubProcess(embeddedIn: dir)
        #expect(eventually(timeout: 30) { (try? httpRequest(port: first.port, "GET", "/readyz"))?.status == 200 })
        kill(first.process.processIdentifier, SIGKILL)
        #expect(eventually(timeout: 10) { !first.process.isRunning })
        let second = try HubProcess(embeddedIn: dir)
        #expect(eventually(timeout: 30) { (try? httpRequest(port: second.port, "GET", "/readyz"))?.status == 200 })
        let user = uniqueUser("after-crash")
        let created = try httpRequest(
            port: second.port, "POST", "/v1/qr-codes", headers: ["Authorization": "Bearer " + second.token(user)],
            body: #"{"label":"door","target":"https://example.com"}"#)
        #expect(created.status == 201)
        #expect(second.terminate().status == 0)
    }
    /// libwebsockets hands the query already percent-decoded: decoding it a
    /// second time read `%2B` as a space (another user's codes for
    /// `owner=p%2Bq`, an RFC 3339 offset refused) and `%2541` as `A`.
    @Test func queryValuesArePercentDecodedOnce() throws {
        let hub = try HubProcess()
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let plus = "p+q-" + suffix, space = "p q-" + suffix
        for user in [plus, space] {
            let made = try httpRequest(
                port: hub.port, "POST", "/v1/qr-codes", headers: ["Authorization": "Bearer " + hub.token(user)],
                body: #"{"label":"L","target":"https://example.com"}"#)
            #expect(made.status == 201)
        }
        let listed = try httpRequest(
            port: hub.port, "GET", "/v1/qr-codes?owner=p%2Bq-" + suffix, headers: ["X-API-Key": HubProcess.apiKey])
        #expect(listed.status == 200)
        let owners = (listed.json?["codes"] as? [[String: Any]])?.compactMap { $0["owner"] as? String }
        #expect(owners == [plus])
        let stats = try httpRequest(
            port: hub.port, "GET", "/v1/qr-codes/999999/stats?bucket=ho%2575r",
            headers: ["Authorization": "Bearer " + hub.token(plus)])
        #expect(stats.status == 400)
    }
}
