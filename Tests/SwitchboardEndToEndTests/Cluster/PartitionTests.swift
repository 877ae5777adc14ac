// A real partition: the third node runs in its own network namespace; its
// clients reach it over one veth pair, it reaches PostgreSQL and Redis over
// another, and that one is cut (packets vanish, nothing is refused) while
// its clients stay connected, then restored. Meanwhile its clients' sends
// are answered `unavailable` (never acked) and its /readyz says 503;
// afterwards they have every message of their conversation once, in order.
import Foundation
import Testing

@Suite(.serialized) struct PartitionTests {
    @Test(
        .enabled(if: NetworkNamespace.isAvailable, Comment(rawValue: NetworkNamespace.unavailableReason ?? "")),
        .timeLimit(.minutes(2)), arguments: ["postgres", "redis"])
    func aNodeCutOffFromPostgresAndRedisRefusesSendsThenCatchesUp(broker: String) throws {
        let ns = try NetworkNamespace()
        defer { ns.remove() }
        let pg = try PostgresServer(tcp: [ns.hostServiceAddress], trusted: [ns.serviceSubnet])
        let redis = broker == "redis" ? try RedisServer(addresses: [ns.hostServiceAddress]) : nil
        func link(_ host: String) -> [String] {
            ["--broker", broker] + (redis.map { ["--redis-url", "redis://\(host):\($0.port)"] } ?? [])
        }
        var nodes = try (1...2).map { n in
            try HubProcess(database: pg.conninfo, extra: link("127.0.0.1") + ["--node-name", "part-\(broker)-n\(n)"])
        }
        nodes.append(
            try HubProcess(
                database: pg.conninfo(address: ns.hostServiceAddress),
                extra: link(ns.hostServiceAddress) + ["--node-name", "part-\(broker)-ns", "--bind", ns.nodeClientAddress],
                launcher: ns.launcher, host: ns.nodeClientAddress))
        for node in nodes { #expect(eventually { (try? node.metric("switchboard_broker_up")) == 1 }) }
        let chat = try CrossNodeChat(nodes)
        let isolated = chat.peers[2]
        try chat.rounds("before", atLeast: 3)

        ns.cut()
        #expect(eventually(timeout: 20) { readiness(nodes[2]) == 503 }, "/readyz of the cut-off node")
        // The others chat on; the cut-off node's client is refused, not acked.
        try chat.send(from: 0, "during-0")
        try chat.send(from: 1, "during-1")
        var outcomes: [ChatPeer.Outcome] = []
        let refused = eventually(timeout: 30) {
            let outcome = (try? isolated.attempt("during-2", timeout: 5)) ?? .silent
            outcomes.append(outcome)
            return outcome == .refused(code: "unavailable")
        }
        #expect(refused, "sends on the cut-off node: \(outcomes)")
        #expect(!outcomes.contains { if case .acked = $0 { true } else { false } }, "\(outcomes)")
        #expect(readiness(nodes[0]) == 200 && readiness(nodes[1]) == 200)

        ns.heal()
        #expect(eventually(timeout: 30) { readiness(nodes[2]) == 200 }, "/readyz of the node once reconnected")
        try chat.send(from: 2, "during-2")
        try chat.rounds("after", atLeast: 3)

        try expectStoredOnce(chat.acked, in: chat.conversation, query: pg.query)
        chat.expectEveryMessageOnce()
        #expect(try nodes[2].metric("switchboard_broker_repairs_total") ?? 0 >= 1)
    }
}
