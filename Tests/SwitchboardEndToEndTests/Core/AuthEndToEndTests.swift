// Every auth path over real sockets, a real hub process and PostgreSQL.
import Foundation
import Testing

@Suite struct AuthEndToEndTests {
    @Test func bearerHeaderQueryAndAuthFrameAllAdmit() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice")
        let viaHeader = try hub.connect(headers: ["Authorization": "Bearer " + hub.token(alice)])
        #expect(try viaHeader.receiveJSON()["user"] as? String == alice)
        let viaQuery = try hub.connect(alice)
        #expect(try viaQuery.receiveJSON()["type"] as? String == "welcome")
        let viaFrame = try hub.connect()
        try viaFrame.sendText(#"{"type":"auth","id":"a1","token":"\#(hub.token(alice))"}"#)
        let welcome = try viaFrame.receiveJSON()
        #expect(welcome["type"] as? String == "welcome")
        #expect(welcome["id"] as? String == "a1")
        // The users row was upserted through the group-commit writer.
        #expect(try eventually { try TestDatabase.query("SELECT 1 FROM users WHERE id = $1", [alice]).count == 1 })
    }

    @Test func invalidTokensAreRejectedWith4001() throws {
        let hub = try HubProcess()
        let badQuery = try hub.connect(path: "/?token=not.a.token")
        #expect(try badQuery.receiveJSON()["code"] as? String == "unauthorized")
        #expect(try badQuery.receiveClose() == 4001)
        let badFrame = try hub.connect()
        try badFrame.sendText(#"{"type":"auth","token":"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}"#)
        #expect(try badFrame.receiveJSON()["code"] as? String == "unauthorized")
        #expect(try badFrame.receiveClose() == 4001)
    }

    @Test func silentConnectionIsClosedAfterTheAuthWindow() throws {
        let hub = try HubProcess(extra: ["--auth-timeout", "1"])
        let silent = try hub.connect()
        let start = Date()
        #expect(try silent.receiveClose(timeout: 15) == 4001)
        #expect(Date().timeIntervalSince(start) >= 0.9)
    }

    @Test func expiryClosesWith4002UnlessRefreshed() throws {
        let hub = try HubProcess()
        let user = uniqueUser("exp")
        // 5 s (4 to 5, exp has whole seconds) for connecting and refreshing,
        // even on a loaded machine; the refreshed token expires first.
        let refreshed = try hub.connect(path: "/?token=" + hub.token(user, ttl: 5))
        let lapsing = try hub.connect(path: "/?token=" + hub.token(user, ttl: 5))
        _ = try lapsing.receive(type: "welcome")
        _ = try refreshed.receive(type: "welcome")
        try refreshed.sendText(#"{"type":"refresh","id":"r","token":"\#(hub.token(user, ttl: 600))"}"#)
        #expect(try refreshed.receive(type: "refreshed")["id"] as? String == "r")
        #expect(try lapsing.receiveClose(timeout: 20) == 4002)
        try refreshed.sendText(#"{"type":"ping","id":"still-here"}"#)
        #expect(try refreshed.receive(type: "pong")["id"] as? String == "still-here")
    }
}

@Suite struct SubprotocolEndToEndTests {
    @Test func aClientThatNamesNoSubprotocolStillGetsSwitchboardV1() throws {
        let hub = try HubProcess()
        let c = try WebSocketTestClient(port: hub.port, path: "/?token=" + hub.token(uniqueUser("plain")), subprotocol: nil)
        #expect(try c.receiveJSON()["type"] as? String == "welcome")
    }

    @Test func echoIsOffByDefault() throws {
        let hub = try HubProcess()
        // lws refuses an upgrade that names only protocols it does not serve.
        #expect(throws: TestClientError.self) { try WebSocketTestClient(port: hub.port, subprotocol: "echo") }
    }

    @Test func echoReturnsTextAndBinaryWhenEnabled() throws {
        let hub = try HubProcess(extra: ["--enable-echo"])
        let c = try WebSocketTestClient(port: hub.port, subprotocol: "echo")
        try c.sendText("héllo")
        #expect(try c.receive() == .text("héllo"))
        try c.sendBinary([0, 255, 7])
        #expect(try c.receive() == .binary([0, 255, 7]))
    }
}
