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

    @Test func floodIsRateLimitedThenClosedWith4008() throws {
        let hub = try HubProcess(extra: ["--frames-per-second", "20", "--frame-burst", "20"])
        let c = try hub.connect(uniqueUser("flood"))
        _ = try c.receive(type: "welcome")
        for i in 0..<400 { try? c.sendText(#"{"type":"ping","id":"\#(i)"}"#) }
        var sawRateLimited = false
        var closeCode: UInt16?
        while closeCode == nil {
            switch try c.receive() {
            case .text(let t) where t.contains("rate_limited"): sawRateLimited = true
            case .close(let code, _): closeCode = code
            default: break
            }
        }
        #expect(sawRateLimited)
        #expect(closeCode == 4008)
        #expect(try httpRequest(port: hub.port, "GET", "/healthz").status == 200)
    }

    @Test func oversizeHTTPBodyGets413() throws {
        let hub = try HubProcess(extra: ["--max-body-bytes", "1024"])
        let big = #"{"channel":"topic:x","data":""# + String(repeating: "y", count: 2000) + #""}"#
        let r = try httpRequest(port: hub.port, "POST", "/v1/publish", headers: ["X-API-Key": HubProcess.apiKey], body: big)
        #expect(r.status == 413)
    }
}
