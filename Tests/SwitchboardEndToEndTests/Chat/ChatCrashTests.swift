// kill -9 of the hub during chat traffic, restart, reconnect with `since`,
// resend what was not acked: no acked message lost, none duplicated, seqs
// gapless, and the recipient's view equals the database.
import Foundation
import SwitchboardPostgres
import Testing

@Suite struct ChatCrashTests {
    /// Reads frames until the connection breaks (or `stop` says so).
    func drain(
        _ client: WebSocketTestClient, timeout: TimeInterval = 10, stop: ([String: Any]) -> Bool = { _ in false },
        _ each: ([String: Any]) -> Void
    ) {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard case .text(let text)? = try? client.receive(timeout: max(0.05, deadline.timeIntervalSinceNow)),
                let frame = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            else { return }
            each(frame)
            if stop(frame) { return }
        }
    }

    @Test func killNineDuringTrafficLosesAndDuplicatesNothing() throws {
        let limits = ["--frames-per-second", "100000", "--frame-burst", "100000"]
        var hub: HubProcess? = try HubProcess(extra: limits)
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try hub!.conversation(alice, with: [bob])
        let total = 1_000

        var acked: [String: Int] = [:]  // client_msg_id → seq
        var seen: [Int: String] = [:]  // seq → client_msg_id, as bob saw it
        var duplicatesSeen = 0
        func record(_ frame: [String: Any]) {
            if frame["type"] as? String == "message", let seq = frame["seq"] as? Int, let cid = frame["client_msg_id"] as? String
            {
                if seen[seq] != nil { duplicatesSeen += 1 }
                seen[seq] = cid
            }
        }

        let b = try hub!.connect(bob)
        _ = try b.receive(type: "welcome")
        try b.sendText(#"{"type":"subscribe","channel":"conversation:\#(conv)"}"#)
        _ = try b.receive(type: "subscribed")
        let a = try hub!.connect(alice)
        _ = try a.receive(type: "welcome")
        for i in 0..<total { try a.sendText(sendFrame(conv, "k\(i)", "message \(i)")) }
        // Crash once some, not all, are acked.
        drain(a, stop: { _ in acked.count >= 40 }) { f in
            if f["type"] as? String == "ack", let id = f["id"] as? String { acked[id] = f["seq"] as? Int }
        }
        hub!.crash()
        drain(a) { f in if f["type"] as? String == "ack", let id = f["id"] as? String { acked[id] = f["seq"] as? Int } }
        drain(b, record)
        let ackedBeforeCrash = acked
        #expect(ackedBeforeCrash.count >= 40)
        print("crash test: acked before crash \(ackedBeforeCrash.count)/\(total), bob saw \(seen.count)")

        // Restart; every acked message must already be in the database.
        hub = try HubProcess(extra: limits)
        let stored = try TestDatabase.query("SELECT client_msg_id, seq FROM messages WHERE conversation_id = $1", [conv])
        let storedSeq = Dictionary(uniqueKeysWithValues: stored.map { ($0[0]!, Int($0[1]!)!) })
        for (cid, seq) in ackedBeforeCrash { #expect(storedSeq[cid] == seq, "acked \(cid) lost") }

        // Alice resends everything not acked, with the same client_msg_ids.
        let a2 = try hub!.connect(alice)
        _ = try a2.receive(type: "welcome")
        let missing = (0..<total).map { "k\($0)" }.filter { acked[$0] == nil }
        print("crash test: resending \(missing.count) unacked messages")
        // A retry carries the same content (another body would be idempotency_mismatch).
        for cid in missing { try a2.sendText(sendFrame(conv, cid, "message \(cid.dropFirst())")) }
        // (Acks in flight at the kill may have covered everything already.)
        if !missing.isEmpty {
            drain(a2, timeout: 30, stop: { _ in acked.count == total }) { f in
                if f["type"] as? String == "ack", let id = f["id"] as? String { acked[id] = f["seq"] as? Int }
            }
        }
        #expect(acked.count == total)

        // Bob resumes after the last seq he saw and catches up exactly.
        let b2 = try hub!.connect(bob)
        _ = try b2.receive(type: "welcome")
        let lastSeen = (seen.keys.max() ?? 0)
        try b2.sendText(#"{"type":"subscribe","channel":"conversation:\#(conv)","since":\#(lastSeen)}"#)
        if seen.count < total { drain(b2, timeout: 30, stop: { _ in seen.count == total }, record) }

        let rows = try TestDatabase.query(
            "SELECT seq, client_msg_id FROM messages WHERE conversation_id = $1 ORDER BY seq", [conv])
        #expect(rows.count == total)
        #expect(rows.map { Int($0[0]!)! } == Array(1...total))  // gapless
        #expect(Set(rows.map { $0[1]! }).count == total)  // each client_msg_id once
        #expect(duplicatesSeen == 0)
        #expect(seen.count == total)
        for row in rows { #expect(seen[Int(row[0]!)!] == row[1]!, "bob's view differs at seq \(row[0]!)") }
        for (cid, seq) in acked { #expect(rows[seq - 1][1] == cid) }  // every ack names the stored seq
    }
}

@Suite struct ChatDatabaseOutageTests {
    @Test func sendsDuringAPostgresOutageGetARetryableErrorNeverAnAckAndTheHubResumes() throws {
        let dir = NSTemporaryDirectory() + "sbtest-chat-outage-\(UUID().uuidString.prefix(6))"
        let cluster = try EmbeddedPostgres(directory: dir)
        try cluster.start()
        defer { cluster.stop(); try? FileManager.default.removeItem(atPath: dir) }
        let hub = try HubProcess(database: cluster.conninfo)
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try hub.conversation(alice, with: [bob])
        let a = try hub.connect(alice)
        _ = try a.receive(type: "welcome")
        try a.sendText(sendFrame(conv, "before", "one"))
        #expect(try a.receive(type: "ack")["seq"] as? Int == 1)

        cluster.stopImmediately()
        #expect(try eventually { try httpRequest(port: hub.port, "GET", "/readyz").status == 503 })
        try a.sendText(sendFrame(conv, "during", "two"))
        let answer = try a.receiveJSON()
        #expect(answer["type"] as? String == "error")
        #expect(answer["code"] as? String == "unavailable")
        #expect(answer["id"] as? String == "during")

        try cluster.restart()
        #expect(try eventually(timeout: 20) { try httpRequest(port: hub.port, "GET", "/readyz").status == 200 })
        // The client retries with the same client_msg_id and gets seq 2: nothing was half-written.
        var ack: [String: Any] = [:]
        #expect(
            try eventually(timeout: 20) {
                try a.sendText(sendFrame(conv, "during", "two"))
                ack = try a.receiveJSON()
                return ack["type"] as? String == "ack"
            })
        #expect(ack["seq"] as? Int == 2)
    }
}
