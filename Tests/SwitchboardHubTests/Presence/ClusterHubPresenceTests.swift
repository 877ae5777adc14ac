// Presence across hubs: several nodes in one process on a FakeClusterBus,
// each with its own clock, moved together.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

/// Hubs on one bus.
private struct Cluster {
    let bus = FakeClusterBus()
    /// The database every node shares.
    let chat = FakeChatStore()
    let nodes: [String: HubFixture]
    /// Nodes that no longer run their periodic work.
    var stopped: Set<String> = []

    init(_ names: [String] = ["a", "b"]) {
        var settings = FeatureSettings()
        settings.presenceGraceMillis = 5_000
        settings.nodeTimeoutMillis = 15_000
        var nodes: [String: HubFixture] = [:]
        for name in names { nodes[name] = HubFixture(bus: bus, node: name, chat: chat, features: settings) }
        self.nodes = nodes
        settle()
    }

    subscript(_ name: String) -> HubFixture { nodes[name]! }

    /// Conversation `id` with these members.
    func conversation(_ id: ConversationID, _ users: Set<String>) { chat.members[id] = users }

    func connect(_ node: String, _ id: ConnectionID, _ user: String) {
        self[node].hub.connectionOpened(id, token: self[node].token(user))
        settle()
    }

    /// Runs due work and store answers on every running node.
    func settle() {
        for _ in 0..<3 {
            for name in nodes.keys.sorted() where !stopped.contains(name) {
                chat.flush()
                nodes[name]!.hub.tick()
                chat.flush()
            }
        }
    }

    /// Moves every clock by `seconds`, a quarter second at a time.
    func advance(seconds: Double) {
        for _ in 0..<Int(seconds * 4) {
            for node in nodes.values { node.clock.advance(seconds: 0.25) }
            settle()
        }
    }

    /// The presence changes connection `id` on `node` got about `user`.
    func changes(_ node: String, _ id: ConnectionID, about user: String) -> [Bool] {
        self[node].transport.frames(to: id).filter {
            $0["type"] == .string("presence") && $0["id"] == nil && $0["user"] == .string(user)
        }.compactMap { $0["online"]?.boolValue }
    }

    /// What a `presence` query on `node` through connection `id` answers for `user`.
    func query(_ node: String, _ id: ConnectionID, _ user: String) -> Bool? {
        self[node].send(id, #"{"type":"presence","id":"q","users":["\#(user)"]}"#)
        settle()
        guard case .array(let users)? = self[node].transport.frames(to: id).last?["users"] else { return nil }
        return users.first { $0["user"] == .string(user) }?["online"]?.boolValue
    }
}

@Suite struct ClusterHubPresenceTests {
    @Test func onlineOnOneNodeIsSeenOnAnotherAndASecondNodeAnnouncesNothing() {
        let c = Cluster()
        c.conversation(1, ["alice", "bob"])
        c.connect("b", 2, "bob")
        c.connect("a", 1, "alice")
        #expect(c.changes("b", 2, about: "alice") == [true])
        c.advance(seconds: 0.25)
        c.connect("b", 3, "alice")
        c.advance(seconds: 1)
        #expect(c.changes("b", 2, about: "alice") == [true])
    }

    @Test func offlineOnlyWhenTheLastConnectionAnywhereIsGoneAfterTheGrace() {
        let c = Cluster()
        c.conversation(1, ["alice", "bob"])
        c.connect("b", 2, "bob")
        c.connect("a", 1, "alice")
        c.advance(seconds: 0.25)
        c.connect("b", 3, "alice")
        c.advance(seconds: 0.25)
        c["a"].hub.connectionClosed(1)
        c.advance(seconds: 10)  // a's grace is over; b still holds her
        #expect(c.changes("b", 2, about: "alice") == [true])
        #expect(c.query("b", 2, "alice") == true)
        c["b"].hub.connectionClosed(3)
        c.advance(seconds: 4.75)
        #expect(c.changes("b", 2, about: "alice") == [true])
        c.advance(seconds: 0.5)
        #expect(c.changes("b", 2, about: "alice") == [true, false])
        c.advance(seconds: 30)
        #expect(c.changes("b", 2, about: "alice") == [true, false])
        #expect(c.query("b", 2, "alice") == false)
    }

    @Test func aQueryOnOneNodeAnswersForUsersOnAnother() {
        let c = Cluster()
        c.conversation(1, ["alice", "bob"])
        c.connect("b", 2, "bob")
        c.connect("a", 1, "alice")
        c.advance(seconds: 0.25)
        #expect(c.query("b", 2, "alice") == true)
        c["b"].hub.handleHTTP(
            HTTPRequest(
                method: "GET", path: "/v1/presence", query: ["users": "alice"],
                authorization: "Bearer " + c["b"].token("bob")), id: 7)
        c.settle()
        let body = c["b"].transport.responses[7].flatMap { try? JSON.parse($0.body) }
        #expect(body?["users"]?[0]?["online"] == .bool(true))
    }

    // Found by ClusterEndToEndTests: a node killed a few ms after a user's
    // first connection (before its next periodic tick) had announced them
    // online, but never told the other nodes it held them, so nobody ever
    // announced them offline.
    @Test func aNodeThatDiesBeforeItsNextTickHasToldTheOthersWhoItAnnounced() {
        var c = Cluster(["a", "b", "c"])
        c.conversation(1, ["alice", "bob"])
        c.connect("b", 2, "bob")
        c.stopped = ["c"]  // c's periodic work never runs again
        c.connect("c", 1, "alice")
        #expect(c.changes("b", 2, about: "alice") == [true])
        c["c"].link!.set(up: false)  // and c dies
        c.advance(seconds: 16)
        #expect(c.changes("b", 2, about: "alice") == [true, false])
    }

    @Test func aSilentNodesUsersGoOfflineOnceAfterTheTimeoutAndComeBackWithIt() {
        var c = Cluster(["a", "b", "c"])
        c.conversation(1, ["alice", "bob", "carol"])
        c.connect("b", 2, "bob")
        c.connect("a", 3, "carol")
        c.connect("c", 1, "alice")
        // c's heartbeat, 3 s after its last message (its announcement of alice, at 0 s).
        c.advance(seconds: 3)
        let lastHeard = c["c"].clock.millis
        c["c"].link!.set(up: false)
        c.stopped = ["c"]
        c.advance(seconds: 14)
        #expect(c.changes("b", 2, about: "alice") == [true])
        #expect(c.query("b", 2, "alice") == true)
        c.advance(seconds: 2)
        #expect(c.changes("b", 2, about: "alice") == [true, false])
        #expect(c.changes("a", 3, about: "alice") == [true, false])
        let told = c["b"].transport.frames(to: 2).last { $0["user"] == .string("alice") }
        #expect(told?["last_seen"] == .int(lastHeard))
        #expect(c["a"].store.disconnects == ["alice"])  // one survivor records it
        #expect(c["b"].store.disconnects.isEmpty)
        #expect(c.query("a", 3, "alice") == false)
        c.advance(seconds: 30)
        #expect(c.changes("b", 2, about: "alice") == [true, false])
        // The node is back: alice is online again, told once.
        c.stopped = []
        c["c"].link!.set(up: true)
        c.advance(seconds: 1)
        #expect(c.changes("b", 2, about: "alice") == [true, false, true])
        #expect(c.query("b", 2, "alice") == true)
    }

    @Test func aNodeThatMissedMessagesRepairsFromSnapshotsWhenItsLinkIsBack() {
        let c = Cluster()
        c.conversation(1, ["alice", "bob"])
        c.connect("b", 2, "bob")
        c["b"].link!.set(up: false)
        c.connect("a", 1, "alice")
        c.advance(seconds: 1)
        #expect(c.query("b", 2, "alice") == false)
        c["b"].link!.set(up: true)
        c.advance(seconds: 0.5)
        #expect(c.query("b", 2, "alice") == true)
    }
}
