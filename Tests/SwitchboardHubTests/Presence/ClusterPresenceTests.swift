// Cluster presence as a pure state machine: several nodes' states wired by
// a test that carries their broadcasts (and may lose some).
import SwitchboardWire
import Testing
@testable import SwitchboardHub

/// Nodes' `ClusterPresence` states and a bus between them that a test drives.
private final class Machines {
    var nodes: [String: ClusterPresence] = [:]
    var now: Int64 = 1_000_000
    /// What each node was told to announce, in order.
    var announced: [String: [ClusterPresence.Action]] = [:]
    /// Nodes whose broadcasts are lost.
    var muted: Set<String> = []
    /// Nodes that hear nothing but still run their periodic work (cut off, not dead).
    var cutOff: Set<String> = []
    /// Set to lose the next broadcast of this node.
    var loseNext: String?

    init(_ names: [String], timeoutMillis: Int64 = 15_000) {
        for name in names { nodes[name] = ClusterPresence(node: name, timeoutMillis: timeoutMillis, incarnation: 1) }
        for name in names { perform(name, nodes[name]!.linkChanged(up: true, nowMillis: now)) }
        tick()  // every node has the others' (empty) snapshots
    }

    func perform(_ from: String, _ actions: [ClusterPresence.Action]) {
        for action in actions {
            guard case .broadcast(let body) = action else {
                announced[from, default: []].append(action)
                continue
            }
            if muted.contains(from) || cutOff.contains(from) { continue }
            if loseNext == from {
                loseNext = nil
                continue
            }
            for name in nodes.keys.sorted() where name != from && !cutOff.contains(name) {
                let more = nodes[name]!.received(from: from, body, nowMillis: now)
                perform(name, more)
            }
        }
    }

    func tick(_ seconds: Double = 0.25) {
        now += Int64(seconds * 1000)
        for name in nodes.keys.sorted() where !muted.contains(name) { perform(name, nodes[name]!.tick(nowMillis: now)) }
    }

    func online(_ node: String, _ user: String) -> Bool { nodes[node]!.localOnline(user) }
    func offline(_ node: String, _ user: String) -> Bool { nodes[node]!.localOffline(user, atMillis: now) }

    func offlines(_ user: String) -> [(String, ClusterPresence.Action)] {
        announced.flatMap { node, actions in
            actions.compactMap { action in
                if case .offline(user, _, _) = action { return (node, action) }
                return nil
            }
        }
    }
}

@Suite struct ClusterPresenceTests {
    @Test func oneNodeAnnouncesEveryChangeItself() {
        let m = Machines(["solo"])
        #expect(m.online("solo", "alice"))
        m.tick()
        #expect(m.offline("solo", "alice"))
        m.tick(60)
        #expect(m.announced.isEmpty)
    }

    @Test func theFirstNodeToHoldAUserAnnouncesAndTheLastToLetGo() {
        let m = Machines(["a", "b"])
        #expect(m.online("a", "alice"))
        m.tick()
        #expect(m.nodes["b"]!.isHeldElsewhere("alice"))
        #expect(!m.online("b", "alice"))  // already online on a
        m.tick()
        #expect(!m.offline("a", "alice"))  // b still holds her
        m.tick()
        #expect(m.offline("b", "alice"))
        m.tick()
        #expect(!m.nodes["a"]!.isHeldElsewhere("alice") && !m.nodes["b"]!.isHeldElsewhere("alice"))
        #expect(m.announced.isEmpty)
    }

    @Test func bothLettingGoAtOnceIsAnnouncedByExactlyOne() {
        let m = Machines(["a", "b"])
        _ = m.online("a", "alice")
        _ = m.online("b", "alice")
        m.tick()
        // Each lets go before hearing the other: neither announces then.
        #expect(!m.offline("a", "alice"))
        #expect(!m.offline("b", "alice"))
        m.tick()
        let told = m.offlines("alice")
        #expect(told.count == 1)
        #expect(told.first?.0 == "a")
    }

    @Test func aGapIsRepairedFromASnapshot() {
        let m = Machines(["a", "b"])
        _ = m.online("a", "alice")
        m.loseNext = "a"  // b never hears of alice
        m.tick()
        #expect(!m.nodes["b"]!.isHeldElsewhere("alice"))
        _ = m.online("a", "bob")
        m.tick()  // seq 2 after a lost seq 1: b asks, a sends a snapshot on its next tick
        m.tick()
        #expect(m.nodes["b"]!.isHeldElsewhere("alice"))
        #expect(m.nodes["b"]!.isHeldElsewhere("bob"))
        // A lost departure is repaired the same way, by the heartbeat's seq.
        _ = m.offline("a", "bob")
        m.loseNext = "a"
        m.tick()
        m.tick(3)
        m.tick()
        #expect(!m.nodes["b"]!.isHeldElsewhere("bob"))
        #expect(m.nodes["b"]!.isHeldElsewhere("alice"))
    }

    @Test func aSilentNodesUsersAreAnnouncedOfflineOnceBySmallestSurvivor() {
        let m = Machines(["a", "b", "c"])
        _ = m.online("c", "carol")
        _ = m.online("c", "dave")
        _ = m.online("b", "dave")
        m.tick()
        let lastHeard = m.now
        m.muted = ["c"]
        for _ in 0..<(14_000 / 250) { m.tick() }
        #expect(m.offlines("carol").isEmpty)
        for _ in 0..<8 { m.tick() }
        let told = m.offlines("carol")
        #expect(told.count == 1)
        #expect(told.first?.0 == "a")
        #expect(told.first?.1 == .offline("carol", atMillis: lastHeard, record: true))
        #expect(m.offlines("dave").isEmpty)  // still on b
        #expect(!m.nodes["b"]!.isHeldElsewhere("carol"))
        #expect(m.nodes["a"]!.isHeldElsewhere("dave"))
        m.tick(60)
        #expect(m.offlines("carol").count == 1)
    }

    @Test func aDroppedNodeThatReturnsHasItsUsersAnnouncedOnlineAgain() {
        let m = Machines(["a", "b"])
        _ = m.online("b", "bob")
        m.tick()
        m.muted = ["b"]
        for _ in 0..<70 { m.tick() }
        #expect(m.offlines("bob").count == 1)
        m.muted = []
        m.perform("b", m.nodes["b"]!.linkChanged(up: true, nowMillis: m.now))
        m.tick()
        m.tick()
        #expect(m.announced["a"]?.last == .online("bob", .cluster))
        #expect(m.nodes["a"]!.isHeldElsewhere("bob"))
    }

    @Test func aNodeCutOffTellsOnlyItsOwnSubscribersWhenTheOthersComeBack() {
        let m = Machines(["a", "b"])
        _ = m.online("a", "alice")
        _ = m.online("b", "bob")
        m.tick()
        m.cutOff = ["b"]
        m.perform("b", m.nodes["b"]!.linkChanged(up: false, nowMillis: m.now))
        for _ in 0..<70 { m.tick() }
        // Each side thinks the other is gone; b, alone, tells only its own.
        #expect(m.offlines("alice").map(\.0) == ["b"])
        #expect(m.offlines("bob").map(\.0) == ["a"])
        m.cutOff = []
        m.perform("b", m.nodes["b"]!.linkChanged(up: true, nowMillis: m.now))
        m.tick()
        m.tick()
        #expect(m.announced["b"]?.last == .online("alice", .local))
        #expect(m.announced["a"]?.last == .online("bob", .cluster))
    }

    @Test func aRestartedNodesPreviousUsersAreGone() {
        let m = Machines(["a", "b"])
        _ = m.online("b", "bob")
        _ = m.online("b", "bea")
        m.tick()
        // b restarts at once (a new run, same name) and bea reconnects to it.
        m.nodes["b"] = ClusterPresence(node: "b", timeoutMillis: 15_000, incarnation: 2)
        m.perform("b", m.nodes["b"]!.linkChanged(up: true, nowMillis: m.now))
        _ = m.online("b", "bea")
        m.tick()
        #expect(m.offlines("bob").count == 1)
        #expect(m.offlines("bea").isEmpty)
        #expect(m.nodes["a"]!.isHeldElsewhere("bea"))
        #expect(!m.nodes["a"]!.isHeldElsewhere("bob"))
        #expect(m.announced["a"]?.contains(.online("bea", .cluster)) != true)
    }

    @Test func aNewNodesFirstDeltaCountsBeforeAnySnapshot() {
        let m = Machines(["a"])
        // b joins and announces bob, then dies before it sends a snapshot.
        m.nodes["b"] = ClusterPresence(node: "b", timeoutMillis: 15_000, incarnation: 1)
        #expect(m.online("b", "bob"))
        m.tick()
        m.muted = ["b"]
        #expect(m.nodes["a"]!.isHeldElsewhere("bob"))
        for _ in 0..<70 { m.tick() }
        #expect(m.offlines("bob").map(\.0) == ["a"])
    }

    @Test func aLargeSnapshotIsSentInBoundedParts() {
        let m = Machines(["a", "b"])
        let users = (0..<3_000).map { "user-\($0)" }
        for user in users { _ = m.online("a", user) }
        m.loseNext = "a"
        m.tick()
        var sizes: [Int] = []
        var a = m.nodes["a"]!
        _ = a.received(from: "b", ClusterPresenceMessage.request(target: "a").json, nowMillis: m.now)
        for case .broadcast(let body) in a.tick(nowMillis: m.now + 1) { sizes.append(body.bytes.count) }
        #expect(sizes.count > 3)
        #expect(sizes.allSatisfy { $0 < 7_500 })
        _ = m.online("a", "late")
        m.tick()
        m.tick()
        #expect(users.allSatisfy { m.nodes["b"]!.isHeldElsewhere($0) })
    }

    @Test func hostileMessagesChangeNothing() {
        var b = ClusterPresence(node: "b", timeoutMillis: 15_000, incarnation: 1)
        let bodies: [String] = [
            #"{"k":"d","i":1,"s":-1,"on":["x"],"off":[]}"#,
            #"{"k":"d","i":1,"s":1,"on":[""],"off":[]}"#,
            #"{"k":"d","i":1,"s":1,"on":["x"],"off":[["y","soon",true]]}"#,
            #"{"k":"s","i":1,"s":9223372036854775807,"p":0,"n":0,"u":["x"]}"#,
            #"{"k":"s","i":1,"s":1,"p":5,"n":2,"u":["x"]}"#,
            #"{"k":"h","i":"one","s":1}"#,
            #"{"k":"z"}"#, "[]", "7",
        ]
        for body in bodies {
            #expect(b.received(from: "a", try! JSON.parse(body), nowMillis: 0).isEmpty)
        }
        #expect(!b.isHeldElsewhere("x"))
        // A sequence at the top of the range is refused as a gap, not trapped on.
        let top = #"{"k":"d","i":1,"s":9223372036854775807,"on":["x"],"off":[]}"#
        _ = b.received(from: "a", try! JSON.parse(top), nowMillis: 0)
        #expect(!b.isHeldElsewhere("x"))
    }
}
