// The PostgreSQL cluster link against a real PostgreSQL: delivery to every
// link in per-sender order, large messages by reference, awkward text, a
// killed backend, sends while down, and stop.
import Foundation
import Logging
import Testing
import SwitchboardHub
@testable import SwitchboardPostgres

@Suite struct PostgresLinkTests {
    @Test func twoLinksReceiveEveryMessageInPerSenderOrder() throws {
        let channel = uniqueChannel()
        let a = LinkProbe(channel: channel), b = LinkProbe(channel: channel)
        defer { a.link.stop(); b.link.stop() }
        #expect(a.waitUp() && b.waitUp())
        for i in 0..<1000 {
            #expect(a.link.send(bytes("a:\(i)")))
            #expect(b.link.send(bytes("b:\(i)")))
        }
        let expectedA = (0..<1000).map { "a:\($0)" }, expectedB = (0..<1000).map { "b:\($0)" }
        for probe in [a, b] {
            #expect(eventually(timeout: 30) { probe.count >= 2000 })
            #expect(probe.count == 2000)
            #expect(probe.messages(from: "a:") == expectedA)
            #expect(probe.messages(from: "b:") == expectedB)
        }
        #expect(a.changes == [true] && b.changes == [true])
    }

    @Test func aMessageTooBigForAPayloadArrivesWholeByReference() throws {
        let channel = uniqueChannel()
        let a = LinkProbe(channel: channel), b = LinkProbe(channel: channel)
        defer { a.link.stop(); b.link.stop() }
        #expect(a.waitUp() && b.waitUp())
        let tag = UUID().uuidString
        var big = tag
        while big.utf8.count < 200_000 { big += " é€🎉 \"quoted\" 12:34 #5; line\n" }
        #expect(a.link.send(bytes("before")))
        #expect(a.link.send(bytes(big)))
        #expect(a.link.send(bytes("after")))
        #expect(eventually(timeout: 20) { a.count >= 3 && b.count >= 3 })
        #expect(b.messages == ["before", big, "after"])
        #expect(a.messages == ["before", big, "after"])
        let stored = try TestDatabase.query("SELECT count(*) FROM cluster_payloads WHERE md5(body) = md5($1)", [big])
        #expect(stored.first?.first == "1")
    }

    @Test func storedPayloadsOlderThanTenMinutesAreDeleted() throws {
        let tag = UUID().uuidString
        let ids = try TestDatabase.query(
            """
            INSERT INTO cluster_payloads (body, created_at)
            VALUES ($1, now() - interval '11 minutes'), ($1, now() - interval '9 minutes') RETURNING id
            """, [tag]
        ).compactMap { $0.first ?? nil }
        #expect(ids.count == 2)
        let probe = LinkProbe(channel: uniqueChannel())
        defer { probe.link.stop() }
        // The sender cleans up once connected, then every minute.
        let left = { try TestDatabase.query("SELECT id FROM cluster_payloads WHERE body = $1 ORDER BY id", [tag]) }
        #expect(try eventually { try left().count == 1 })
        #expect(try left().first?.first == ids.last)
    }

    @Test func awkwardTextSurvives() throws {
        let channel = uniqueChannel()
        let a = LinkProbe(channel: channel), b = LinkProbe(channel: channel)
        defer { a.link.stop(); b.link.stop() }
        #expect(a.waitUp() && b.waitUp())
        let largestInline = ClusterPayload.maxPayloadBytes - 5  // "7895:" + 7,895 bytes
        var messages = [
            "", ":", "5:hello", "0:", "#1;", "#", ";", "12", "quote ' and \" and \\ and $1",
            "line\nbreak\r\nand\ttab", "unicode é 中文 🎉 \u{200B}", "control \u{1}\u{7F}", "x:y:z",
        ]
        messages += [String(repeating: "a", count: largestInline), String(repeating: "b", count: largestInline + 1)]
        // Identical payloads in one transaction: PostgreSQL delivers them once.
        messages += Array(repeating: String(repeating: "c", count: 7_000), count: 3)
        for message in messages { #expect(a.link.send(bytes(message))) }
        #expect(eventually(timeout: 20) { b.count >= messages.count })
        #expect(b.messages == messages)
    }

    @Test func aNotifyInsideATransactionArrivesOnlyIfItCommits() throws {
        let channel = uniqueChannel()
        let probe = LinkProbe(channel: channel)
        defer { probe.link.stop() }
        #expect(probe.waitUp())
        let conn = try PGConnection(TestDatabase.conninfo)
        let big = String(repeating: "é", count: 5_000)
        for (message, commit) in [("rolled back", false), ("committed", true), (big, true)] {
            let statement = PostgresLink.notifyStatement(bytes(message), channel: channel)
            try conn.query("BEGIN")
            try conn.query(statement.sql, statement.values)
            try conn.query(commit ? "COMMIT" : "ROLLBACK")
        }
        #expect(eventually { probe.count >= 2 })
        #expect(probe.messages == ["committed", big])
    }

    @Test func aKilledListenerReconnectsAndMessagesFlowAgain() throws {
        let channel = uniqueChannel()
        let a = LinkProbe(channel: channel), b = LinkProbe(channel: channel)
        defer { a.link.stop(); b.link.stop() }
        #expect(a.waitUp() && b.waitUp())
        let pid = try #require(b.link.listenerBackendPID)
        try TestDatabase.query("SELECT pg_terminate_backend($1::int)", [String(pid)])
        #expect(eventually { b.changes == [true, false, true] })
        #expect(b.link.isHealthy)
        #expect(b.link.listenerBackendPID != pid)
        #expect(a.link.send(bytes("after the kill")))
        #expect(eventually { b.messages.contains("after the kill") })
        #expect(a.changes == [true])
    }

    @Test func sendWhileDownIsRefusedAndTheLinkComesBack() throws {
        // A role of this test alone: it can be kept from logging in while
        // the link reconnects, without touching other tests' sessions.
        let role = "pglink_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12)
        try TestDatabase.query("CREATE ROLE \(role) LOGIN SUPERUSER")
        defer { _ = try? TestDatabase.query("DROP ROLE \(role)") }
        let base = TestDatabase.conninfo
        let conninfo = base.contains("://") ? base + (base.contains("?") ? "&" : "?") + "user=\(role)" : base + " user=\(role)"
        let channel = uniqueChannel()
        let down = LinkProbe(channel: channel, conninfo: conninfo), other = LinkProbe(channel: channel)
        defer { down.link.stop(); other.link.stop() }
        #expect(down.waitUp() && other.waitUp())
        try TestDatabase.query("ALTER ROLE \(role) NOLOGIN")
        try TestDatabase.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [role])
        #expect(eventually { down.changes == [true, false] })
        #expect(!down.link.isHealthy)
        #expect(!down.link.send(bytes("while down")))
        try TestDatabase.query("ALTER ROLE \(role) LOGIN")
        #expect(eventually { down.changes == [true, false, true] })
        #expect(down.link.send(bytes("back")))
        #expect(eventually { other.messages.contains("back") })
        #expect(!other.messages.contains("while down"))
    }

    @Test func sendRefusesWhatCannotTravel() throws {
        let channel = uniqueChannel()
        let probe = LinkProbe(channel: channel)
        defer { probe.link.stop() }
        #expect(probe.waitUp())
        #expect(!probe.link.send([0x61, 0xC3, 0x28]), "not UTF-8")
        #expect(!probe.link.send([0x61, 0, 0x62]), "a NUL byte")
        #expect(!probe.link.send([UInt8](repeating: 97, count: ClusterLinkLimits.maxMessageBytes + 1)))
        #expect(probe.link.send(bytes("ok")))
        #expect(eventually { probe.count >= 1 })
        #expect(probe.messages == ["ok"])
    }

    @Test func aBatchTheServerRejectsTakesTheLinkDownAndUp() throws {
        // A role that may read stored payloads but not store one: a message
        // by reference makes its batch's transaction fail.
        let role = "pglink_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12)
        try TestDatabase.query("CREATE ROLE \(role) LOGIN")
        try TestDatabase.query("GRANT SELECT ON cluster_payloads TO \(role)")
        defer { _ = try? TestDatabase.query("DROP OWNED BY \(role)"); _ = try? TestDatabase.query("DROP ROLE \(role)") }
        let base = TestDatabase.conninfo
        let conninfo = base.contains("://") ? base + (base.contains("?") ? "&" : "?") + "user=\(role)" : base + " user=\(role)"
        let channel = uniqueChannel()
        let limited = LinkProbe(channel: channel, conninfo: conninfo), other = LinkProbe(channel: channel)
        defer { limited.link.stop(); other.link.stop() }
        #expect(limited.waitUp() && other.waitUp())
        #expect(limited.link.send(bytes(String(repeating: "x", count: 10_000))))
        #expect(eventually { limited.changes == [true, false, true] })
        #expect(limited.link.send(bytes("small")))
        #expect(eventually { other.messages.contains("small") })
        #expect(other.messages == ["small"])
    }

    @Test func stopEndsBothThreadsAndNothingIsReceivedAfter() throws {
        let channel = uniqueChannel()
        let a = LinkProbe(channel: channel), b = LinkProbe(channel: channel)
        defer { a.link.stop() }
        #expect(a.waitUp() && b.waitUp())
        b.link.stop()
        #expect(b.link.runningThreads == 0)
        #expect(!b.link.isHealthy && !b.link.send(bytes("after stop")))
        #expect(a.link.send(bytes("to a stopped link")))
        #expect(eventually { a.messages.contains("to a stopped link") })
        #expect(b.messages.isEmpty)
        #expect(b.changes == [true])
    }

    @Test func stopEndsALinkThatNeverConnected() throws {
        let probe = LinkProbe(channel: uniqueChannel(), conninfo: "host=/nonexistent-pglink port=1 dbname=x connect_timeout=1")
        #expect(!probe.link.send(bytes("never up")))
        #expect(eventually { probe.link.runningThreads == 2 })
        probe.link.stop()
        #expect(probe.link.runningThreads == 0)
        #expect(probe.changes.isEmpty)
    }
}
