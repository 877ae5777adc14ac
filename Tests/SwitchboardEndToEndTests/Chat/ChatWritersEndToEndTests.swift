// Several writers (--writers 4): every conversation's sends, and the system
// messages its project's market actions post, commit on one writer, so each
// conversation's acks and deliveries come in seq order, gapless; and
// admission control: with the writer stalled, sends are refused at once with
// `overloaded` and a retry hint while the accepted ones are acked later.
import Foundation
import SwitchboardPostgres
import Testing

@Suite struct ChatWritersEndToEndTests {
    /// Reads frames until `done` holds (or `timeout`); each frame to `each`.
    func read(_ client: WebSocketTestClient, timeout: TimeInterval = 30, until done: () -> Bool, _ each: ([String: Any]) -> Void)
    {
        let deadline = Date().addingTimeInterval(timeout)
        while !done() && Date() < deadline {
            guard case .text(let text)? = try? client.receive(timeout: max(0.05, deadline.timeIntervalSinceNow)),
                let frame = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            else { return }
            each(frame)
        }
    }

    @Test func manyConversationsOnFourWritersKeepEachConversationsOrder() throws {
        let hub = try HubProcess(extra: ["--writers", "4", "--frames-per-second", "100000", "--frame-burst", "100000"])
        let client = uniqueUser("client"), craftsman = uniqueUser("craftsman")
        let conversations = try (0..<8).map { try hub.conversation(client, with: [craftsman], project: "site-\($0)") }
        // Two of them belong to market projects: proposing a contract posts a system message there.
        let projects = try [0, 5].map { i in
            let p = try hub.backend(
                "POST", "/v1/projects",
                #"{"client":"\#(client)","craftsman":"\#(craftsman)","title":"Site \#(i)","conversation_id":"\#(conversations[i])"}"#
            )
            return (conversation: conversations[i], id: try #require(p.json?["id"] as? String))
        }
        let watcher = try hub.connect(craftsman)
        _ = try watcher.receive(type: "welcome")
        for c in conversations {
            try watcher.sendText(#"{"type":"subscribe","channel":"conversation:\#(c)"}"#)
            _ = try watcher.receive(type: "subscribed")
        }
        let sender = try hub.connect(client)
        _ = try sender.receive(type: "welcome")

        let perConversation = 100
        func sendRound(_ round: Int) throws {
            for (i, c) in conversations.enumerated() { try sender.sendText(sendFrame(c, "m\(i)-\(round)", "round \(round)")) }
        }
        for round in 0..<perConversation / 2 { try sendRound(round) }
        // The market actions run while the first half is still being committed.
        for p in projects {
            let r = try hub.user(client, "POST", "/v1/projects/\(p.id)/contracts", #"{"terms":{"scope":"site"}}"#)
            #expect(r.status == 201)
        }
        for round in perConversation / 2..<perConversation { try sendRound(round) }

        var acks: [String: [Int]] = [:]  // conversation → acked seqs in arrival order
        var errors: [String] = []
        read(sender, until: { acks.values.reduce(0) { $0 + $1.count } + errors.count == conversations.count * perConversation }) {
            f in
            switch f["type"] as? String {
            case "ack": acks[f["conversation"] as? String ?? "?", default: []].append(f["seq"] as? Int ?? -1)
            case "error": errors.append("\(f["id"] ?? "?"): \(f["code"] ?? "?")")
            default: break
            }
        }
        #expect(errors.isEmpty)
        let systemConversations = Set(projects.map(\.conversation))
        var delivered: [String: [Int]] = [:]  // conversation → delivered seqs in arrival order
        var systemSeqs: [String: [Int]] = [:]
        let expected = conversations.count * perConversation + projects.count
        read(watcher, until: { delivered.values.reduce(0) { $0 + $1.count } == expected }) { f in
            guard f["type"] as? String == "message", let c = f["conversation"] as? String, let seq = f["seq"] as? Int else {
                return
            }
            delivered[c, default: []].append(seq)
            if f["kind"] as? String == "system" { systemSeqs[c, default: []].append(seq) }
        }

        for c in conversations {
            let total = perConversation + (systemConversations.contains(c) ? 1 : 0)
            let acked = acks[c] ?? []
            #expect(acked.count == perConversation)
            #expect(acked == acked.sorted() && Set(acked).count == acked.count, "acks out of seq order in \(c)")
            #expect(delivered[c] == Array(1...total), "deliveries out of order or with a gap in \(c)")
            // The system message took the one seq the acks skipped.
            #expect(Set(acked).union(systemSeqs[c] ?? []) == Set(1...total))
            #expect((systemSeqs[c] ?? []).count == (systemConversations.contains(c) ? 1 : 0))
            let rows = try TestDatabase.query(
                "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM messages WHERE conversation_id = $1", [c])
            #expect(rows.first ?? [] == ["\(total)", "\(total)", "1", "\(total)"])
        }
    }

    @Test func aStalledWriterRefusesSendsAtOnceWithARetryHintAndAcksTheAcceptedOnes() throws {
        let hub = try HubProcess(extra: [
            "--max-write-delay-ms", "20", "--frames-per-second", "100000", "--frame-burst", "100000",
        ])
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try hub.conversation(alice, with: [bob])
        let a = try hub.connect(alice)
        _ = try a.receive(type: "welcome")
        // Stall the conversation's writer: its next send waits for this lock.
        let blocker = try PGConnection(TestDatabase.conninfo)
        try blocker.execute("BEGIN")
        try blocker.execute("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", [conv])
        try a.sendText(sendFrame(conv, "first", "waits for the lock"))
        #expect(
            try eventually {
                try TestDatabase.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = $1",
                    ["switchboard/\(hub.process.processIdentifier)"]
                ).first?[0] == "1"
            })
        // Past the bound, the next sends are refused at once — while the
        // lock is still held, so no commit came first.
        var accepted: [String] = ["first"]
        var refused: [String] = []
        var hints: [Int] = []
        var n = 0
        #expect(
            eventually(timeout: 20) {
                n += 1
                let cid = "next-\(n)"
                guard (try? a.sendText(sendFrame(conv, cid, "while stalled"))) != nil,
                    let answer = try? a.receiveJSON(timeout: 0.2)
                else {
                    accepted.append(cid)  // no answer yet: queued behind the lock
                    return false
                }
                guard answer["type"] as? String == "error", answer["code"] as? String == "overloaded" else { return false }
                refused.append(answer["id"] as? String ?? "?")
                hints.append(answer["retry_after"] as? Int ?? 0)
                return true
            })
        #expect(refused == ["next-\(n)"])
        #expect(hints.allSatisfy { $0 >= 1 })
        #expect(try hub.metric("switchboard_store_admission_refused_total") ?? 0 >= 1)
        // The predicted delay that was refused, next to the queue depth.
        #expect(try hub.metric("switchboard_store_queue_delay_seconds") ?? 0 > 0.02)
        #expect(try hub.metric("switchboard_store_queue_depth") != nil)
        try blocker.execute("ROLLBACK")

        // Every accepted send is acked and stored; the refused one is not stored.
        var acked: [String: Int] = [:]
        read(a, until: { acked.count == accepted.count }) { f in
            if f["type"] as? String == "ack", let id = f["id"] as? String { acked[id] = f["seq"] as? Int }
        }
        #expect(Set(acked.keys) == Set(accepted))
        let rows = try TestDatabase.query(
            "SELECT client_msg_id, seq FROM messages WHERE conversation_id = $1 ORDER BY seq", [conv])
        #expect(rows.map { Int($0[1]!)! } == Array(1...accepted.count))
        #expect(Set(rows.map { $0[0]! }) == Set(accepted))
        // Once the writer drains, a retry with the same client_msg_id is taken.
        #expect(
            try eventually {
                try a.sendText(sendFrame(conv, refused[0], "while stalled"))
                return try a.receiveJSON()["type"] as? String == "ack"
            })
    }
}
