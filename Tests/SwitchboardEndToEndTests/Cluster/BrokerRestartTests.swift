// The cluster's shared services restarted under cross-node chat: the
// PostgreSQL every node stores in (and, with the postgres broker, links
// through) stopped and started again on the same port; redis-server killed
// and started again. Clients stay connected and resend what was not acked,
// as an SDK would. Afterwards every acked message is stored once and every
// subscriber got every message of its conversation once, in seq order.
import Foundation
import Testing

@Suite(.serialized) struct BrokerRestartTests {
    @Test(.timeLimit(.minutes(2)))
    func postgresRestartedUnderCrossNodeChatLosesAndRepeatsNothing() throws {
        let pg = try PostgresServer()
        let nodes = try (1...3).map { n in
            try HubProcess(database: pg.conninfo, extra: ["--broker", "postgres", "--node-name", "pg-restart-n\(n)"])
        }
        for node in nodes { #expect(eventually { (try? node.metric("switchboard_broker_up")) == 1 }) }
        let chat = try CrossNodeChat(nodes)
        try chat.rounds("before", atLeast: 3)

        // Stopped (fast shutdown) while the clients keep sending; started
        // again on the same port once every node noticed.
        let restarted = Locked(false)
        let restarter = Thread {
            pg.stop()
            let noticed = nodes.allSatisfy { node in eventually(timeout: 20) { readiness(node) == 503 } }
            try? pg.start()
            restarted.withLock { $0 = noticed }
        }
        restarter.start()
        try chat.rounds("during", atLeast: 3) { restarted.withLock { $0 } }
        #expect(restarted.withLock { $0 }, "every node's /readyz went 503 while PostgreSQL was down")
        try chat.rounds("after", atLeast: 3)

        try expectStoredOnce(chat.acked, in: chat.conversation, query: pg.query)
        chat.expectEveryMessageOnce()
        // The sends PostgreSQL could not take were refused as retryable.
        #expect(!chat.refusals.isEmpty && chat.refusals.allSatisfy { $0 == "unavailable" }, "\(chat.refusals)")
        for node in nodes {
            #expect(eventually { readiness(node) == 200 })
            #expect(eventually { (try? node.metric("switchboard_broker_up")) == 1 })
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func redisRestartedUnderCrossNodeChatLosesAndRepeatsNothing() throws {
        let cluster = try TestCluster(broker: "redis")
        let chat = try CrossNodeChat(cluster.nodes)
        try chat.rounds("before", atLeast: 3)
        guard let redis = cluster.redis else { return }
        let nodes = cluster.nodes

        // Killed while the clients keep sending (PostgreSQL still commits:
        // sends are acked, only their delivery to the other nodes is cut);
        // started again once every node noticed.
        let restarted = Locked(false)
        let restarter = Thread {
            redis.stop()
            let noticed = nodes.allSatisfy { node in
                eventually(timeout: 20) { readiness(node) == 503 && (try? node.metric("switchboard_broker_up")) == 0 }
            }
            try? redis.restart()
            restarted.withLock { $0 = noticed }
        }
        restarter.start()
        try chat.rounds("during", atLeast: 3) { restarted.withLock { $0 } }
        #expect(restarted.withLock { $0 }, "every node saw its link down and answered /readyz 503")
        try chat.rounds("after", atLeast: 3)

        try expectStoredOnce(chat.acked, in: chat.conversation, query: TestDatabase.query)
        chat.expectEveryMessageOnce()
        #expect(chat.refusals.isEmpty, "\(chat.refusals)")
        for node in cluster.nodes {
            #expect(eventually { readiness(node) == 200 })
            #expect(try node.metric("switchboard_broker_repairs_total") ?? 0 >= 1)
        }
    }
}
