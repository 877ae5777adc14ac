// Publication through the server API to real WebSocket clients.
import Foundation
import Testing

@Suite struct PublishEndToEndTests {
    @Test func publishReachesBothConnectionsOfTheUserAndNoOneElse() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let phone = try hub.connect(alice), laptop = try hub.connect(alice), other = try hub.connect(bob)
        for c in [phone, laptop, other] { _ = try c.receive(type: "welcome") }
        let result = try hub.publish("user:" + alice, #"{"kind":"quote_received","amount":125000}"#)
        #expect(result.status == 200)
        #expect(result.json?["subscribers"] as? Int == 2)
        for c in [phone, laptop] {
            let frame = try c.receive(type: "publication")
            #expect(frame["channel"] as? String == "user:" + alice)
            #expect((frame["data"] as? [String: Any])?["amount"] as? Int == 125000)
        }
        // Bob gets nothing: his next frame is the answer to his own ping.
        try other.sendText(#"{"type":"ping","id":"b"}"#)
        #expect(try other.receiveJSON()["type"] as? String == "pong")
        // And cannot subscribe to Alice's channel.
        try other.sendText(#"{"type":"subscribe","id":"s","channel":"user:\#(alice)"}"#)
        #expect(try other.receiveJSON()["code"] as? String == "forbidden")
    }

    @Test func aSubscriberThatStopsReadingIsDroppedAndOthersGetEverything() throws {
        let hub = try HubProcess(extra: ["--max-queue-bytes", "131072"])
        let topic = "topic:flood-" + uniqueUser("t")
        let slow = try WebSocketTestClient(port: hub.port, path: "/?token=" + hub.token(uniqueUser("slow")), receiveBuffer: 4096)
        let fast = try hub.connect(uniqueUser("fast"))
        for c in [slow, fast] {
            _ = try c.receive(type: "welcome")
            try c.sendText(#"{"type":"subscribe","channel":"\#(topic)"}"#)
            _ = try c.receive(type: "subscribed")
        }
        // The slow subscriber reads nothing until the hub has given up on it
        // (its close is counted in /metrics), then reads what the kernel
        // buffered and the close frame behind it, well within the hub's 5 s
        // close timeout.
        let publications = 300
        let slowOutcome = Locked<(seen: Int, code: UInt16?)>((0, nil))
        let slowReader = DispatchGroup()
        DispatchQueue.global().async(group: slowReader) {
            guard (try? eventually(timeout: 120) { try hub.metric("switchboard_closes_total") ?? 0 >= 1 }) == true else { return }
            var seen = 0
            while let message = try? slow.receive(timeout: 10) {
                if case .close(let code, _) = message { slowOutcome.withLock { $0 = (seen, code) }; return }
                seen += 1
            }
            slowOutcome.withLock { $0.seen = seen }
        }
        // The fast subscriber reads each publication before the next one is
        // published: at most one frame is ever queued for it, on any machine.
        let filler = String(repeating: "x", count: 30_000)
        var received = 0
        for i in 0..<publications {
            #expect(try hub.publish(topic, #"{"i":\#(i),"filler":"\#(filler)"}"#).status == 200)
            let frame = try fast.receive(type: "publication", timeout: 30)
            if (frame["data"] as? [String: Any])?["i"] as? Int == i { received += 1 }
        }
        #expect(received == publications)

        // 9 MB offered against a 128 KiB queue bound: the hub dropped the slow
        // subscriber's queue and sent 4009; the slow client answered the close
        // and the hub closed the socket. The fast one stays.
        slowReader.wait()
        let (seen, code) = slowOutcome.withLock { $0 }
        print("slow subscriber: \(seen) frames then close \(code.map(String.init) ?? "none")")
        #expect(seen < publications, "the slow subscriber got everything: nothing was bounded")
        #expect(code == 4009)
        #expect(
            try eventually(timeout: 20) {
                try httpRequest(port: hub.port, "GET", "/readyz").json?["connections"] as? Int == 1
            })
        try fast.sendText(#"{"type":"ping","id":"p"}"#)
        #expect(try fast.receive(type: "pong")["id"] as? String == "p")
    }

    @Test func publishRequiresAnAPIKey() throws {
        let hub = try HubProcess()
        let noKey = try httpRequest(port: hub.port, "POST", "/v1/publish", body: #"{"channel":"topic:x","data":1}"#)
        #expect(noKey.status == 401)
        #expect(noKey.errorCode == "unauthorized")
        let userToken = try httpRequest(
            port: hub.port, "POST", "/v1/publish", headers: ["Authorization": "Bearer " + hub.token("u")],
            body: #"{"channel":"topic:x","data":1}"#)
        #expect(userToken.status == 403)
        let bad = try httpRequest(port: hub.port, "POST", "/v1/publish", headers: ["X-API-Key": HubProcess.apiKey], body: "{")
        #expect(bad.status == 400)
        #expect(bad.errorCode == "bad_json")
    }

    @Test func opsEndpoints() throws {
        let hub = try HubProcess()
        #expect(try httpRequest(port: hub.port, "GET", "/healthz").status == 200)
        #expect(try eventually { try httpRequest(port: hub.port, "GET", "/readyz").status == 200 })
        let c = try hub.connect(uniqueUser("m"))
        _ = try c.receive(type: "welcome")
        let metrics = try httpRequest(port: hub.port, "GET", "/metrics")
        let text = String(decoding: metrics.body, as: UTF8.self)
        #expect(metrics.status == 200)
        for name in [
            "switchboard_connections", "switchboard_frames_out_total", "switchboard_bytes_out_total",
            "switchboard_publications_total", "switchboard_mailbox_depth", "switchboard_group_commit_batch_size",
        ] {
            #expect(text.contains(name), "missing \(name)")
        }
        let me = try httpRequest(
            port: hub.port, "GET", "/v1/me", headers: ["Authorization": "Bearer " + hub.token("nobody-\(UUID())")])
        #expect(me.status == 404)
        #expect(try httpRequest(port: hub.port, "GET", "/nope").status == 404)
    }
}
