// kill -9 of an overloaded hub: while it refuses sends with `overloaded`
// (a tiny write-delay bound and a writer stalled on a lock), and again while
// the backlog drains, the hub is killed. After a restart every acked message
// is stored exactly once at its acked seq, seqs are gapless, and no refused
// send was stored; the refused and unanswered ones are then retried.
import Foundation
import SwitchboardPostgres
import Testing

@Suite struct ChatOverloadCrashTests {
    @Test func killNineWhileRefusingLosesNothingAckedAndStoresNothingRefused() throws {
        let extra = ["--frames-per-second", "100000", "--frame-burst", "100000", "--max-write-delay-ms", "20"]
        var hub: HubProcess? = try HubProcess(extra: extra)
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try hub!.conversation(alice, with: [bob])
        let a = try hub!.connect(alice)
        _ = try a.receive(type: "welcome")
        var acked: [String: Int] = [:]  // client_msg_id → seq
        var refused: Set<String> = []
        func take(_ f: [String: Any]) {
            guard let id = f["id"] as? String else { return }
            switch f["type"] as? String {
            case "ack": acked[id] = f["seq"] as? Int
            case "error" where f["code"] as? String == "overloaded": refused.insert(id)
            default: break
            }
        }
        func read(timeout: TimeInterval = 20, until done: () -> Bool) {
            let deadline = Date().addingTimeInterval(timeout)
            while !done() && Date() < deadline {
                guard case .text(let text)? = try? a.receive(timeout: max(0.05, deadline.timeIntervalSinceNow)),
                    let frame = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                else { return }
                take(frame)
            }
        }

        // Stall the conversation's writer on a lock, then flood it.
        let blocker = try PGConnection(TestDatabase.conninfo)
        try blocker.execute("BEGIN")
        try blocker.execute("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", [conv])
        let total = 1_500
        let cid = { (i: Int) in "k\(i)" }
        try a.sendText(sendFrame(conv, cid(0), "message 0"))
        #expect(
            try eventually {
                try TestDatabase.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = $1",
                    ["switchboard/\(hub!.process.processIdentifier)"]
                ).first?[0] == "1"
            })
        var next = 1
        while refused.isEmpty && next < 1_000 {
            for i in next..<next + 50 { try a.sendText(sendFrame(conv, cid(i), "message \(i)")) }
            next += 50
            read(timeout: 0.2, until: { !refused.isEmpty })
        }
        #expect(!refused.isEmpty)
        // Let the backlog commit while more arrive; kill once some are acked.
        try blocker.execute("ROLLBACK")
        for i in next..<total { try a.sendText(sendFrame(conv, cid(i), "message \(i)")) }
        read(until: { acked.count >= 40 })
        hub!.crash()
        read(timeout: 2, until: { false })  // answers already on the wire
        print("overload crash test: acked \(acked.count), refused \(refused.count) of \(total) before the kill")
        #expect(refused.isDisjoint(with: acked.keys))

        hub = try HubProcess(extra: extra)
        var stored = try TestDatabase.query(
            "SELECT client_msg_id, seq FROM messages WHERE conversation_id = $1 ORDER BY seq", [conv])
        let storedSeq = Dictionary(stored.map { ($0[0]!, Int($0[1]!)!) }, uniquingKeysWith: { x, _ in x })
        #expect(storedSeq.count == stored.count)  // each client_msg_id once
        #expect(stored.map { Int($0[1]!)! } == Array(stride(from: 1, through: stored.count, by: 1)))  // gapless
        for (id, seq) in acked { #expect(storedSeq[id] == seq, "acked \(id) lost or moved") }
        for id in refused { #expect(storedSeq[id] == nil, "refused \(id) was stored") }

        // Retrying every send not acked (same client_msg_id, same content)
        // completes the conversation, each message exactly once.
        let a2 = try hub!.connect(alice)
        _ = try a2.receive(type: "welcome")
        var pending = Set((0..<total).map(cid)).subtracting(acked.keys)
        let deadline = Date().addingTimeInterval(60)
        while !pending.isEmpty && Date() < deadline {
            for id in pending { try a2.sendText(sendFrame(conv, id, "message \(id.dropFirst())")) }
            var answered = 0
            let expected = pending.count
            while answered < expected && Date() < deadline {
                guard case .text(let text)? = try? a2.receive(timeout: 10),
                    let f = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                    let id = f["id"] as? String
                else { break }
                answered += 1
                if f["type"] as? String == "ack" { pending.remove(id) }  // overloaded: sent again next round
            }
        }
        #expect(pending.isEmpty)
        stored = try TestDatabase.query("SELECT client_msg_id, seq FROM messages WHERE conversation_id = $1 ORDER BY seq", [conv])
        #expect(stored.map { Int($0[1]!)! } == Array(1...total))
        #expect(Set(stored.map { $0[0]! }) == Set((0..<total).map(cid)))
    }
}
