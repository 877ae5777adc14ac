// Bad input never crashes the hub and always gets an answer.
import Foundation
import Testing

@Suite struct BadInputEndToEndTests {
    @Test func eachKindOfBadFrameGetsAnErrorFrame() throws {
        let hub = try HubProcess()
        let c = try hub.connect(uniqueUser("fuzz"))
        _ = try c.receive(type: "welcome")
        let cases: [(String, String)] = [
            ("this is not json", "bad_json"),
            (#"{"type":"teleport"}"#, "unknown_type"),
            (#"{"id":"x"}"#, "missing_field"),
            (#"{"type":"subscribe","id":"y"}"#, "missing_field"),
            (#"[1,2,3]"#, "bad_frame"),
        ]
        for (text, code) in cases {
            try c.sendText(text)
            #expect(try c.receiveJSON()["code"] as? String == code, "for \(text)")
        }
        try c.sendBinary([0, 1, 2, 3])
        #expect(try c.receiveJSON()["code"] as? String == "binary_not_supported")
        // A fragmented message is reassembled, then handled.
        try c.sendFrame(opcode: 1, payload: Array(#"{"type":"pi"#.utf8), fin: false)
        try c.sendFrame(opcode: 0, payload: Array(#"ng","id":"frag"}"#.utf8), fin: true)
        #expect(try c.receiveJSON()["id"] as? String == "frag")
    }

    @Test func oversizeFrameClosesWith1009() throws {
        let hub = try HubProcess(extra: ["--max-frame-bytes", "4096"])
        let c = try hub.connect(uniqueUser("big"))
        _ = try c.receive(type: "welcome")
        try c.sendText(String(repeating: "x", count: 5000))
        #expect(try c.receiveClose() == 1009)
        // The hub is still there.
        #expect(try httpRequest(port: hub.port, "GET", "/healthz").status == 200)
    }

    /// A fragmented message past the bound, with more fragments already on
    /// the way: the close frame must not be lost to the unread data (the
    /// socket closed at once lost it on every try here).
    @Test func fragmentsPastTheBoundStillGetClose1009() throws {
        let hub = try HubProcess()  // 64 KiB
        for _ in 0..<3 {
            let c = try hub.connect(uniqueUser("frags"))
            _ = try c.receive(type: "welcome")
            try c.sendFrame(opcode: 1, payload: Array("[".utf8), fin: false)
            for _ in 0..<40 { try? c.sendFrame(opcode: 0, payload: Array(String(repeating: "1,", count: 1000).utf8), fin: false) }
            #expect(try c.receiveClose() == 1009)
        }
    }

    @Test func floodIsRateLimitedThenClosedWith4008() throws {
        // Issue 10 #16: a hub that drops TCP right after its close frame, with
        // flood still arriving, lost that frame for about one flooder in six
        // here (the client saw the connection end without a close code). Ten
        // flooders in a row make that loss visible; every one must get 4008.
        let hub = try HubProcess(extra: ["--frames-per-second", "20", "--frame-burst", "20"])
        var outcomes: [String] = []
        for _ in 0..<10 {
            let c = try hub.connect(uniqueUser("flood"))
            _ = try c.receive(type: "welcome")
            for i in 0..<400 { try? c.sendText(#"{"type":"ping","id":"\#(i)"}"#) }
            var sawRateLimited = false
            var outcome = "no close frame"
            reading: while let message = try? c.receive() {
                switch message {
                case .text(let t) where t.contains("rate_limited"): sawRateLimited = true
                case .close(let code, _): outcome = "close \(code)"; break reading
                default: break
                }
            }
            outcomes.append(sawRateLimited ? outcome : outcome + " (no rate_limited error)")
        }
        #expect(outcomes == Array(repeating: "close 4008", count: 10))
        #expect(try httpRequest(port: hub.port, "GET", "/healthz").status == 200)
    }

    @Test func aClientThatNeverAnswersTheCloseIsDroppedAnyway() throws {
        let hub = try HubProcess()
        let c = try hub.connect(path: "/?token=not.a.token")
        c.answersClose = false
        #expect(try c.receiveClose() == 4001)
        // The hub waits for our close at most 5 s, then ends the connection
        // (the 30 s bound only stops a hub that never would).
        do {
            let message = try c.receive(timeout: 30)
            Issue.record("expected the connection to end, got \(message)")
        } catch TestClientError.closed {
        } catch {
            Issue.record("expected the connection to end, got \(error)")
        }
    }

    // Issue 10 #10. RFC 6455 §5.1: a server MUST close the connection on an
    // unmasked client frame (1002). libwebsockets 4.1.6 accepts such frames and
    // gives the hub no way to tell: in lib/roles/ws/ops-ws.c, lws_ws_rx_sm()
    // records the MASK bit (line 244, `this_frame_masked = !!(c & 0x80)`) only
    // to decide whether to collect a 4-byte key (lines 265, 287, 348); it never
    // compares it with the connection's role. Without a key, `all_zero_nonce`
    // (set to 1 for every new frame, line 76) stays 1 and the payload is copied
    // as is (line 397), then delivered as LWS_CALLBACK_RECEIVE like any frame.
    // No public API exposes the bit (lws-ws-state.h has lws_frame_is_binary,
    // lws_is_final_fragment, lws_is_first_fragment, lws_get_reserved_bits) and
    // no callback sees the frame header, so refusing needs a patched lws.
    // Upstream added the check after v4.5.0 (commit cae06c63a "Audit fixes":
    // server role + unmasked → close 1002 "client unmasked"). This test pins
    // what 4.1.6 does; with such an lws it fails and must become
    // `receiveClose() == 1002`.
    @Test func unmaskedClientFramesAreAcceptedByLibwebsockets416() throws {
        let hub = try HubProcess()
        let c = try hub.connect(uniqueUser("unmasked"))
        _ = try c.receive(type: "welcome")
        try c.sendFrame(opcode: 1, payload: Array(#"{"type":"ping","id":"bare"}"#.utf8), masked: false)
        #expect(try c.receive(type: "pong")["id"] as? String == "bare")
        // Masked and unmasked frames interleave on one connection.
        try c.sendText(#"{"type":"ping","id":"masked"}"#)
        #expect(try c.receive(type: "pong")["id"] as? String == "masked")
    }

    @Test func oversizeHTTPBodyGets413() throws {
        let hub = try HubProcess(extra: ["--max-body-bytes", "1024"])
        let big = #"{"channel":"topic:x","data":""# + String(repeating: "y", count: 2000) + #""}"#
        let r = try httpRequest(port: hub.port, "POST", "/v1/publish", headers: ["X-API-Key": HubProcess.apiKey], body: big)
        #expect(r.status == 413)
    }
}
