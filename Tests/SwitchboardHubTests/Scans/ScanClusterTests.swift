// Scan counters across the nodes of a cluster (hubs over a FakeClusterBus,
// each with its own fake store standing in for the one shared database):
// scans committed through A reach dashboards on B, coalesced by B; hostile
// control messages are refused and counted; what a cut link lost is
// repaired by snapshot when it is back.
import Foundation
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

/// Nodes on one bus.
struct ScanCluster {
    let bus = FakeClusterBus()
    let a: HubFixture
    let b: HubFixture
    let c: HubFixture

    init() {
        a = HubFixture(bus: bus, node: "a")
        b = HubFixture(bus: bus, node: "b")
        c = HubFixture(bus: bus, node: "c")
    }

    /// One database: B's and C's stores get what A's holds (codes are
    /// registered and scans committed through A).
    func share() {
        for node in [b, c] {
            node.scans.codes = a.scans.codes
            node.scans.counts = a.scans.counts
        }
    }

    /// Registers a code in the shared database.
    func register(owner: String, label: String = "code") -> QRCodeID {
        let qr = a.scans.register(owner: owner, label: label)
        share()
        return qr
    }

    /// Commits scans through `node` (a backend's POST /v1/scans); unless
    /// `tick` is false, the loop's next tick tells the other nodes.
    func ingest(_ body: String, on node: HubFixture, tick: Bool = true) {
        node.hub.handleHTTP(
            HTTPRequest(method: "POST", path: "/v1/scans", apiKey: HubFixture.apiKey, body: Array(body.utf8)), id: 100)
        node.scans.flush()
        #expect(node.transport.responses[100]?.status == 200)
        if tick { node.hub.tick() }
    }

    /// Opens connection `id` of `user` on `node` and subscribes it to `channel`.
    func watch(_ node: HubFixture, _ id: ConnectionID, _ user: String, _ channel: String) {
        node.hub.connectionOpened(id, token: node.token(user))
        node.send(id, #"{"type":"subscribe","channel":"\#(channel)"}"#)
        node.scans.flush()
        #expect(node.transport.types(to: id).suffix(2) == ["subscribed", "counter"])
    }

    /// Moves every node's clock.
    func advance(seconds: Double) {
        for node in [a, b, c] {
            node.clock.advance(seconds: seconds)
            node.hub.tick()
        }
    }
}

/// Records the control topics on a bus.
// Unchecked: `seen` is behind `lock` (the fake bus delivers on the sender's thread).
final class LinkSpy: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [String] = []
    private let link: FakeClusterLink

    init(_ bus: FakeClusterBus) {
        link = bus.link()
        link.start(
            receive: { [weak self] bytes in
                guard let self, case .control(let topic, _)? = ClusterEnvelope.decode(bytes)?.envelope else { return }
                lock.withLock { seen.append(topic) }
            }, changed: { _ in })
    }

    var topics: [String] { lock.withLock { seen } }
}

extension HubFixture {
    /// The `counter` frames sent to `id`.
    func counters(to id: ConnectionID) -> [JSON] {
        transport.frames(to: id).filter { $0["type"] == .string("counter") }
    }

    /// Totals by code id in the last `counter` frame sent to `id`.
    func totals(to id: ConnectionID) -> [String: Int64] {
        guard case .array(let codes)? = counters(to: id).last?["codes"] else { return [:] }
        var out: [String: Int64] = [:]
        for code in codes {
            if let qr = code["qr"]?.stringValue, let total = code["total"]?.intValue { out[qr] = total }
        }
        return out
    }
}

@Suite struct ScanClusterTests {
    @Test func scansCommittedThroughAReachDashboardsOnB() {
        let cluster = ScanCluster()
        let door = cluster.register(owner: "shop", label: "Door")
        let till = cluster.register(owner: "shop", label: "Till")
        cluster.watch(cluster.b, 1, "shop", "scans:\(door)")
        cluster.watch(cluster.b, 2, "shop", "scans:owner:shop")
        let spy = LinkSpy(cluster.bus)
        cluster.ingest(#"{"qr":\#(door),"device":"tablet","country":"ro"}"#, on: cluster.a, tick: false)
        cluster.ingest(#"{"scans":[{"qr":\#(door)},{"qr":\#(till)}]}"#, on: cluster.a)
        #expect(spy.topics.filter { $0 == "scans" }.count == 1)  // one message for the commits of a tick
        #expect(cluster.b.totals(to: 1) == [String(door): 2])
        let frame = cluster.b.counters(to: 1).last!
        #expect(frame["codes"]?[0]?["label"] == .string("Door"))
        #expect(frame["codes"]?[0]?["today"] == .int(2))
        #expect(frame["codes"]?[0]?["minutes"]?[59] == .int(2))
        #expect(frame["codes"]?[0]?["countries"]?[0]?["name"] == .string("RO"))
        #expect(frame["codes"]?[0]?["countries"]?[1]?["name"] == .string("ZZ"))
        #expect(frame["codes"]?[0]?["devices"]?[0]?["name"] == .string("tablet"))
        #expect(frame["codes"]?[0]?["devices"]?[1]?["count"] == .int(1))
        #expect(cluster.b.totals(to: 2) == [String(door): 2, String(till): 1])
        // Nobody watches on C: it merged nothing, sent nothing.
        #expect(cluster.c.transport.sent.isEmpty)
        #expect(cluster.c.hub.feature(ScansFeature.self)!.board.codes.isEmpty)
    }

    @Test func bCoalescesForItsOwnSubscribersOnly() {
        let cluster = ScanCluster()
        let qr = cluster.register(owner: "shop")
        cluster.watch(cluster.a, 1, "shop", "scans:\(qr)")
        cluster.watch(cluster.b, 1, "shop", "scans:\(qr)")
        cluster.ingest(#"{"qr":\#(qr)}"#, on: cluster.a)
        // First change after a quiet interval: at once, once (A's frame
        // stays on A).
        #expect(cluster.b.counters(to: 1).count == 2)
        #expect(cluster.a.counters(to: 1).count == 2)
        cluster.ingest(#"{"qr":\#(qr)}"#, on: cluster.a)
        cluster.ingest(#"{"qr":\#(qr)}"#, on: cluster.a)
        cluster.b.hub.tick()
        #expect(cluster.b.counters(to: 1).count == 2)  // within the interval: held back
        cluster.advance(seconds: 0.1)
        #expect(cluster.b.counters(to: 1).count == 3)
        #expect(cluster.b.totals(to: 1) == [String(qr): 3])
        cluster.advance(seconds: 1)
        #expect(cluster.b.counters(to: 1).count == 3)  // nothing new, nothing sent
    }

    @Test func hostileControlMessagesAreRefusedAndCounted() {
        let cluster = ScanCluster()
        let qr = cluster.register(owner: "shop")
        cluster.watch(cluster.b, 1, "shop", "scans:\(qr)")
        let evil = cluster.bus.link()
        // Raw link text: the body as written, past the envelope's own checks.
        func send(_ topic: String, _ body: String) {
            evil.send(Array(#"{"o":"evil","t":0,"k":"c","tp":"\#(topic)"}"#.utf8) + [10] + Array(body.utf8))
        }
        let feature = cluster.b.hub.feature(ScansFeature.self)!
        let hostile = [
            #"{"c":[{"q":\#(qr),"o":"shop","t":-5,"d":[],"m":[],"dv":{},"co":{}}]}"#,
            #"{"c":[{"q":\#(qr),"o":"shop","t":9223372036854775807,"d":[],"m":[],"dv":{},"co":{}}]}"#,
            #"{"c":[{"q":\#(qr),"o":"shop","t":7,"d":[],"m":[-9223372036854775808,1],"dv":{},"co":{}}]}"#,
            #"{"c":[{"q":\#(qr),"o":"sh\u0001op","t":7,"d":[],"m":[],"dv":{},"co":{}}]}"#,
            #"{"c":"everything"}"#, #"null"#,
        ]
        for body in hostile { send("scans", body) }
        #expect(feature.cluster.refused == hostile.count)
        cluster.advance(seconds: 1)
        #expect(cluster.b.counters(to: 1).count == 1)  // the snapshot only
        #expect(cluster.b.totals(to: 1) == [String(qr): 0])
        // A well-formed message from any node is merged.
        send("scans", #"{"c":[{"q":\#(qr),"o":"shop","t":7,"d":[],"m":[],"dv":{},"co":{}}]}"#)
        #expect(cluster.b.totals(to: 1) == [String(qr): 7])
        #expect(feature.cluster.refused == hostile.count)
    }

    @Test func bRepairsBySnapshotWhenItsLinkIsBack() {
        let cluster = ScanCluster()
        let door = cluster.register(owner: "shop", label: "Door")
        cluster.watch(cluster.b, 1, "shop", "scans:\(door)")
        cluster.watch(cluster.b, 2, "shop", "scans:owner:shop")
        cluster.b.link!.set(up: false)
        cluster.ingest(#"{"scans":[{"qr":\#(door)},{"qr":\#(door)}]}"#, on: cluster.a)
        let till = cluster.a.scans.register(owner: "shop", label: "Till")  // a code new while cut
        cluster.ingest(#"{"qr":\#(till)}"#, on: cluster.a)
        cluster.share()
        cluster.advance(seconds: 1)
        #expect(cluster.b.counters(to: 1).count == 1)  // B heard nothing
        cluster.b.link!.set(up: true)
        cluster.b.scans.flush()
        #expect(cluster.b.totals(to: 1) == [String(door): 2])
        #expect(cluster.b.totals(to: 2) == [String(door): 2, String(till): 1])
        // Live again: the next commit arrives as usual.
        cluster.advance(seconds: 1)
        cluster.ingest(#"{"qr":\#(till)}"#, on: cluster.a)
        #expect(cluster.b.totals(to: 2) == [String(till): 2])
    }

    @Test func aNodeThatDroppedItsCountsWhileCutHasTheOthersRepair() {
        let cluster = ScanCluster()
        let qr = cluster.register(owner: "shop")
        cluster.watch(cluster.b, 1, "shop", "scans:\(qr)")
        cluster.a.link!.set(up: false)
        cluster.ingest(#"{"scans":[{"qr":\#(qr)},{"qr":\#(qr)},{"qr":\#(qr)}]}"#, on: cluster.a)
        cluster.share()
        cluster.advance(seconds: 1)
        #expect(cluster.b.counters(to: 1).count == 1)
        cluster.a.link!.set(up: true)
        cluster.b.scans.flush()
        #expect(cluster.b.totals(to: 1) == [String(qr): 3])
    }

    @Test func repairsAreRateLimitedAndAFailedReloadIsRetried() {
        let cluster = ScanCluster()
        let qr = cluster.register(owner: "shop")
        cluster.watch(cluster.b, 1, "shop", "scans:\(qr)")
        let asker = cluster.bus.link()
        func askForRepair() {
            asker.send(
                ClusterEnvelope.control(topic: ClusterBroker.missedTopic, .object([:])).encoded(origin: "x", sentMicros: 0))
            cluster.b.scans.flush()
        }
        for _ in 0..<5 {
            askForRepair()
            cluster.advance(seconds: 0.2)
            cluster.b.scans.flush()
        }
        // One reload at once, the requests after it wait for a second.
        #expect(cluster.b.counters(to: 1).count == 3)

        // A reload that fails is tried again at the next sweep.
        cluster.ingest(#"{"qr":\#(qr)}"#, on: cluster.a)
        cluster.b.link!.set(up: false)
        cluster.ingest(#"{"qr":\#(qr)}"#, on: cluster.a)
        cluster.share()
        cluster.b.scans.failure = .unavailable
        cluster.advance(seconds: 1)
        cluster.b.link!.set(up: true)
        cluster.b.scans.flush()
        #expect(cluster.b.totals(to: 1) == [String(qr): 1])
        cluster.b.scans.failure = nil
        cluster.advance(seconds: 10)
        cluster.b.scans.flush()
        #expect(cluster.b.totals(to: 1) == [String(qr): 2])
    }

    @Test func oneNodeQueuesNothingForOtherNodes() {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop")
        f.hub.handleHTTP(
            HTTPRequest(method: "POST", path: "/v1/scans", apiKey: HubFixture.apiKey, body: Array(#"{"qr":\#(qr)}"#.utf8)),
            id: 1)
        f.scans.flush()
        #expect(f.transport.responses[1]?.status == 200)
        #expect(f.hub.feature(ScansFeature.self)!.cluster.outbox.isEmpty)  // nothing encoded for nobody
    }
}
