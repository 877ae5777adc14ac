// Three real hub processes on one PostgreSQL, joined by each broker (LISTEN/
// NOTIFY on that PostgreSQL, or a real redis-server): every cross-node path,
// a node killed under chat load, the broker's connection cut and restored.
import Foundation
import Testing

/// Three nodes over one broker.
final class TestCluster {
    let nodes: [HubProcess]
    let redis: RedisServer?
    let broker: String

    init(broker: String, extra: [String] = []) throws {
        self.broker = broker
        redis = broker == "redis" ? try RedisServer() : nil
        let link = redis.map { ["--redis-url", $0.url] } ?? []
        nodes = try (1...3).map { n in
            try HubProcess(extra: ["--broker", broker, "--node-name", "\(broker)-n\(n)"] + link + extra)
        }
        // Every node listening on the link before a test publishes.
        for node in nodes {
            #expect(eventually { (try? node.metric("switchboard_broker_up")) == 1 })
        }
    }

    subscript(_ n: Int) -> HubProcess { nodes[n] }
}

/// Connects `user` to `node` and waits for the welcome.
func joined(_ node: HubProcess, _ user: String) throws -> WebSocketTestClient {
    let client = try node.connect(user)
    _ = try client.receive(type: "welcome")
    return client
}

/// Subscribes and waits for the answer.
func watch(_ client: WebSocketTestClient, _ channel: String, since: Int? = nil) throws {
    let sinceField = since.map { #","since":\#($0)"# } ?? ""
    try client.sendText(#"{"type":"subscribe","id":"w","channel":"\#(channel)"\#(sinceField)}"#)
    _ = try client.receive(type: "subscribed")
}

@Suite(.serialized) struct ClusterEndToEndTests {
    @Test(arguments: ["postgres", "redis"])
    func everyCrossNodePath(broker: String) throws {
        let cluster = try TestCluster(broker: broker)
        let alice = uniqueUser("alice"), bob = uniqueUser("bob"), carol = uniqueUser("carol")
        let conv = try cluster[0].conversation(alice, with: [bob, carol])
        let a = try joined(cluster[0], alice)
        let b = try joined(cluster[1], bob)
        let c = try joined(cluster[2], carol)
        try watch(a, "conversation:\(conv)")
        try watch(b, "conversation:\(conv)")

        // Chat: sent on node 1, acked after commit, delivered on node 2 once.
        try a.sendText(sendFrame(conv, "x1", "hello"))
        #expect(try a.receive(type: "ack")["seq"] as? Int == 1)
        let message = try b.receive(type: "message")
        #expect(message["seq"] as? Int == 1)
        #expect((message["body"] as? [String: Any])?["text"] as? String == "hello")
        // Carol, on node 3 and not watching, gets the notice.
        #expect(try c.receive(type: "notice")["seq"] as? Int == 1)
        // Receipts and typing, node 2 → node 1.
        try b.sendText(#"{"type":"read","id":"r","conversation":"\#(conv)","seq":1}"#)
        #expect(try a.receive(type: "receipt")["user"] as? String == bob)
        try b.sendText(#"{"type":"typing","conversation":"\#(conv)","active":true}"#)
        #expect(try a.receive(type: "typing")["user"] as? String == bob)

        // A server publication through node 3 reaches Bob's channel on node 2.
        let published = try cluster[2].publish("user:\(bob)", #"{"n":1}"#)
        #expect(published.status == 200)
        #expect(try b.receive(type: "publication")["channel"] as? String == "user:\(bob)")

        // A notification committed through node 1 reaches Bob on node 2.
        let notify = try cluster[0].backend(
            "POST", "/v1/notify", #"{"user_ids":["\#(bob)"],"kind":"project_update","title":"t","data":{}}"#)
        #expect(notify.status == 201)
        #expect(try b.receive(type: "notification")["title"] as? String == "t")

        // Presence for the whole cluster: asked on node 3 about users on 1
        // and 2 (nodes learn of each other within a heartbeat).
        var users: [[String: Any]] = []
        let converged = try eventually(timeout: 5) {
            try c.sendText(#"{"type":"presence","id":"q","users":["\#(alice)","\#(bob)"]}"#)
            users = try c.receive(type: "presence")["users"] as? [[String: Any]] ?? []
            return users.count == 2 && users.allSatisfy { $0["online"] as? Bool == true }
        }
        #expect(converged, "\(users)")

        // Nothing arrived twice: the next frame Bob gets is the next message.
        try a.sendText(sendFrame(conv, "x2", "again"))
        #expect(try b.receive(type: "message")["seq"] as? Int == 2)
    }

    @Test(arguments: ["postgres", "redis"])
    func aNodeKilledUnderChatLoadLosesNothingAckedAndItsUsersGoOffline(broker: String) throws {
        let cluster = try TestCluster(broker: broker, extra: ["--node-timeout", "3", "--presence-grace", "1"])
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try cluster[0].conversation(alice, with: [bob])
        let watcher = try joined(cluster[0], alice)
        try watch(watcher, "conversation:\(conv)")
        // Bob sends through node 2 until it dies; his client then reconnects
        // to node 3 (as an SDK would) and resends what was not acked.
        var sender = try joined(cluster[1], bob)
        var acked: Set<String> = []
        var unacked: [String] = (1...200).map { "k\($0)" }
        var killed = false
        while let key = unacked.first {
            if acked.count == 50 && !killed {
                cluster[1].crash()
                killed = true
            }
            do {
                try sender.sendText(sendFrame(conv, key, key))
                let ack = try sender.receive(type: "ack", timeout: 5)
                acked.insert(key)
                unacked.removeFirst()
                _ = ack
            } catch {
                sender = try joined(cluster[2], bob)
            }
        }
        #expect(killed)
        // Stored exactly once each, with gapless seqs.
        let rows = try TestDatabase.query(
            "SELECT count(*), count(DISTINCT client_msg_id), max(seq) FROM messages WHERE conversation_id = $1", [conv])
        #expect(rows.first == ["200", "200", "200"])
        // The watcher on node 1 saw every message once, whichever node took it.
        var seen: [Int] = []
        while seen.count < 200, let frame = try? watcher.receive(type: "message", timeout: 10) {
            seen.append(frame["seq"] as? Int ?? -1)
        }
        #expect(Set(seen).count == 200 && seen.count == 200, "\(seen.count) messages, \(Set(seen).count) distinct")
        // Bob is still online (node 3 holds him); a user only on the dead node
        // is offline for the survivors within the node timeout.
        let dora = uniqueUser("dora")
        // Dora takes part (creates it): Alice is her contact and sees her presence.
        _ = try cluster[0].conversation(dora, with: [alice])
        let third = try TestCluster.spare(cluster, broker: broker)
        var d: WebSocketTestClient? = try joined(third, dora)
        _ = d
        // Alice is also Bob's contact: his presence may change meanwhile.
        func doraChange(timeout: TimeInterval) throws -> [String: Any] {
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                let frame = try watcher.receive(type: "presence", timeout: max(0.1, deadline.timeIntervalSinceNow))
                if frame["user"] as? String == dora { return frame }
            }
        }
        let online = try doraChange(timeout: 10)
        #expect(online["online"] as? Bool == true)
        third.crash()
        d = nil
        // The node died a few ms after announcing Dora: it had told the
        // others it held her first (PresenceFeature.announce).
        let offline = try doraChange(timeout: 15)
        #expect(offline["online"] as? Bool == false)
    }

    @Test(arguments: ["postgres", "redis"])
    func aCutBrokerConnectionIsRepairedWithNoGapAndNoDuplicate(broker: String) throws {
        let cluster = try TestCluster(broker: broker)
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try cluster[0].conversation(alice, with: [bob])
        let a = try joined(cluster[0], alice)
        let b = try joined(cluster[1], bob)
        try watch(b, "conversation:\(conv)")
        try a.sendText(sendFrame(conv, "before", "1"))
        _ = try a.receive(type: "ack")
        #expect(try b.receive(type: "message")["seq"] as? Int == 1)
        // Cut: Redis restarted, or every node's LISTEN connection killed.
        if let redis = cluster.redis {
            redis.stop()
        } else {
            try TestDatabase.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'switchboard/%/cluster-listener'"
            )
        }
        #expect(eventually { (try? cluster[1].metric("switchboard_broker_up")) == 0 || cluster.redis == nil })
        for i in 2...6 {
            try a.sendText(sendFrame(conv, "during\(i)", "\(i)"))
            _ = try a.receive(type: "ack")
        }
        if let redis = cluster.redis { try redis.restart() }
        var seqs: [Int] = []
        while seqs.count < 5, let frame = try? b.receive(type: "message", timeout: 15) { seqs.append(frame["seq"] as? Int ?? -1) }
        // Every one, once; a message published live after the hole may come
        // before the hole's repair (clients order by seq).
        #expect(seqs.sorted() == [2, 3, 4, 5, 6], "\(seqs)")
        for node in cluster.nodes { #expect(eventually { (try? node.metric("switchboard_broker_up")) == 1 }) }
        // The node read back from PostgreSQL when its link was back.
        #expect(try cluster[1].metric("switchboard_broker_repairs_total") ?? 0 >= 1)
        try a.sendText(sendFrame(conv, "after", "7"))
        _ = try a.receive(type: "ack")
        #expect(try b.receive(type: "message")["seq"] as? Int == 7)
    }
}

extension TestCluster {
    /// One more node on the same broker (to kill on purpose).
    static func spare(_ cluster: TestCluster, broker: String) throws -> HubProcess {
        let link = cluster.redis.map { ["--redis-url", $0.url] } ?? []
        let node = try HubProcess(
            extra: ["--broker", broker, "--node-name", "\(broker)-spare", "--node-timeout", "3", "--presence-grace", "1"]
                + link)
        #expect(eventually { (try? node.metric("switchboard_broker_up")) == 1 })
        return node
    }
}

@Suite struct CommitAnnouncementTests {
    // The postgres broker: PostgreSQL tells the other nodes of a send's commit
    // in the committing transaction. The sending node dies right after the
    // commit, before it acks or publishes; the watcher on the other node still
    // gets the message, read back from PostgreSQL.
    @Test func aMessageWhoseNodeDiedBeforePublishingStillReachesTheOtherNodes() throws {
        let survivor = try HubProcess(extra: ["--broker", "postgres", "--node-name", "announce-survivor"])
        let doomed = try HubProcess(
            extra: ["--broker", "postgres", "--node-name", "announce-doomed"],
            environment: ["SWITCHBOARD_FAILPOINTS": "crash-after-send-commit"])
        for node in [survivor, doomed] { #expect(eventually { (try? node.metric("switchboard_broker_up")) == 1 }) }
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try survivor.conversation(alice, with: [bob])
        let watcher = try joined(survivor, alice)
        try watch(watcher, "conversation:\(conv)")
        let sender = try joined(doomed, bob)
        try sender.sendText(sendFrame(conv, "last-words", "committed, never published"))
        doomed.process.waitUntilExit()
        #expect(doomed.process.terminationReason == .uncaughtSignal)
        let message = try watcher.receive(type: "message", timeout: 10)
        #expect(message["seq"] as? Int == 1)
        #expect(message["client_msg_id"] as? String == "last-words")
        #expect(try survivor.metric("switchboard_broker_repairs_total") ?? 0 >= 1)
    }
}
