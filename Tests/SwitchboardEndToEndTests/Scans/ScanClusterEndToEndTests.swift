// Scan counters across three real nodes, for each broker: scans committed
// through node 1 reach dashboards on nodes 2 and 3 (code and owner channel)
// with the true totals, and a broker connection cut while scans commit is
// repaired by snapshot when it is back.
import Foundation
import Testing

@Suite(.serialized) struct ScanClusterEndToEndTests {
    /// Scans of `qr` spread over 80 device types and 26 countries (more than
    /// a node keeps per code: the wire carries only what a board shows).
    static func scans(_ qr: String, count: Int, from: Int = 0) -> [String] {
        (from..<from + count).map { i in
            let country = "R" + String(UnicodeScalar(UInt8(65 + i % 26)))
            return #"{"qr":"\#(qr)","device":"d\#(i % 80)","country":"\#(country)"}"#
        }
    }

    @Test(arguments: ["postgres", "redis"])
    func scansCommittedThroughOneNodeReachDashboardsOnTheOthers(broker: String) throws {
        let cluster = try TestCluster(broker: broker)
        let owner = uniqueUser("shop")
        let qr = try cluster[0].registerCode(owner, label: "Door ✓")
        let code = try joined(cluster[1], owner)
        try watch(code, "scans:\(qr)")
        let owned = try joined(cluster[2], owner)
        try watch(owned, "scans:owner:\(owner)")
        #expect(try cluster[0].postScans(Self.scans(qr, count: 300)).status == 200)
        let entry = counter(of: qr, on: code) { $0["total"] as? Int == 300 }
        #expect(entry?["total"] as? Int == 300)
        #expect(entry?["today"] as? Int == 300)
        #expect(entry?["label"] as? String == "Door ✓")
        #expect(counter(of: qr, on: owned) { $0["total"] as? Int == 300 }?["total"] as? Int == 300)
    }

    @Test(arguments: ["postgres", "redis"])
    func countersMissedWhileTheBrokerWasCutAreRepairedBySnapshot(broker: String) throws {
        let cluster = try TestCluster(broker: broker)
        let owner = uniqueUser("shop")
        let qr = try cluster[0].registerCode(owner)
        let b = try joined(cluster[1], owner)
        try watch(b, "scans:\(qr)")
        #expect(try cluster[0].postScans(Self.scans(qr, count: 5)).status == 200)
        #expect(counter(of: qr, on: b) { $0["total"] as? Int == 5 }?["total"] as? Int == 5)
        // Cut: Redis stopped, or every node's LISTEN connection killed.
        if let redis = cluster.redis {
            redis.stop()
        } else {
            try TestDatabase.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'switchboard/%/cluster-listener'"
            )
        }
        #expect(eventually { (try? cluster[1].metric("switchboard_broker_up")) == 0 || cluster.redis == nil })
        for batch in 0..<4 {
            #expect(try cluster[0].postScans(Self.scans(qr, count: 10, from: 5 + batch * 10)).status == 200)
        }
        if let redis = cluster.redis { try redis.restart() }
        #expect(counter(of: qr, on: b) { $0["total"] as? Int == 45 }?["total"] as? Int == 45)
        for node in cluster.nodes { #expect(eventually { (try? node.metric("switchboard_broker_up")) == 1 }) }
        #expect(try cluster[1].metric("switchboard_broker_repairs_total") ?? 0 >= 1)
        // Live again.
        #expect(try cluster[0].postScans(Self.scans(qr, count: 1)).status == 200)
        #expect(counter(of: qr, on: b) { $0["total"] as? Int == 46 }?["total"] as? Int == 46)
    }
}
