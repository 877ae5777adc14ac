// Graceful shutdown, and PostgreSQL going away and coming back under a
// running hub.
import Foundation
import SwitchboardPostgres
import Testing

@Suite struct LifecycleEndToEndTests {
    @Test func sigtermClosesWith1001RecordsLastSeenAndExitsZeroWithinFiveSeconds() throws {
        let hub = try HubProcess()
        let user = uniqueUser("leaving")
        let c = try hub.connect(user)
        _ = try c.receive(type: "welcome")
        #expect(try eventually { try TestDatabase.query("SELECT 1 FROM users WHERE id = $1", [user]).count == 1 })
        // The client reads (and answers the close) while the hub stops, as a
        // real one does; the hub waits for that answer within its grace.
        let code = Locked<UInt16?>(nil)
        let reader = DispatchGroup()
        DispatchQueue.global().async(group: reader) {
            let received = try? c.receiveClose(timeout: 15)
            code.withLock { $0 = received }
        }
        let outcome = hub.terminate()
        reader.wait()
        #expect(code.withLock { $0 } == 1001)
        #expect(outcome.status == 0)
        #expect(outcome.seconds < 5)
        let rows = try TestDatabase.query("SELECT last_seen_at IS NOT NULL FROM users WHERE id = $1", [user])
        #expect(rows.first?.first == "t")
    }

    @Test func postgresStoppedAndRestartedUnderARunningHub() throws {
        let dir = NSTemporaryDirectory() + "sbtest-outage-\(UUID().uuidString.prefix(6))"
        let cluster = try EmbeddedPostgres(directory: dir)
        try cluster.start()
        defer { cluster.stop(); try? FileManager.default.removeItem(atPath: dir) }
        let hub = try HubProcess(database: cluster.conninfo)
        let user = uniqueUser("outage")
        #expect(try eventually { try httpRequest(port: hub.port, "GET", "/readyz").status == 200 })

        cluster.stopImmediately()
        #expect(try eventually { try httpRequest(port: hub.port, "GET", "/readyz").status == 503 })
        let me = try httpRequest(port: hub.port, "GET", "/v1/me", headers: ["Authorization": "Bearer " + hub.token(user)])
        #expect(me.status == 503)
        #expect(me.errorCode == "unavailable")
        // Connections are still served while the database is down, and the
        // connect record waits in the writer's queue.
        let c = try hub.connect(user)
        _ = try c.receive(type: "welcome")
        #expect(try hub.publish("user:" + user, "1").status == 200)
        _ = try c.receive(type: "publication")

        try cluster.restart()
        #expect(try eventually(timeout: 20) { try httpRequest(port: hub.port, "GET", "/readyz").status == 200 })
        #expect(
            try eventually(timeout: 20) {
                try httpRequest(port: hub.port, "GET", "/v1/me", headers: ["Authorization": "Bearer " + hub.token(user)]).status
                    == 200
            })
    }
}
