// The Redis URL is checked before anything reaches hiredis, and the link's
// two small decisions (when it is up, when a silent Redis is lost) are
// values tested without a server or a clock.
import Foundation
import Logging
import Testing

@testable import SwitchboardRedis

@Suite struct RedisURLTests {
    /// host, port, password, database.
    private func parts(_ text: String) throws -> String {
        let url = try RedisURL(text)
        return "\(url.host) \(url.port) \(url.password ?? "-") \(url.database)"
    }

    @Test func goodURLsParse() throws {
        #expect(try parts("redis://localhost") == "localhost 6379 - 0")
        #expect(try parts("redis://10.0.0.7:7000/3") == "10.0.0.7 7000 - 3")
        #expect(try parts("redis://:p%40ss%2Fw@cache_1.internal:1/") == "cache_1.internal 1 p@ss/w 0")
        #expect(try parts("redis://[::1]:65535") == "::1 65535 - 0")
        #expect(try RedisURL("redis://:hidden@h:1/2").description == "redis://:***@h:1/2")
    }

    @Test func badURLsAreRefusedWithAReason() throws {
        let cases: [(String, String)] = [
            ("localhost:6379", "starts with redis://"),
            ("http://localhost", "starts with redis://"),
            ("rediss://localhost", "TLS"),
            ("redis://", "names no host"),
            ("redis://:6379", "names no host"),
            ("redis://user:secret@host", "names no user"),
            ("redis://host:0", "port must be a number from 1 to 65535"),
            ("redis://host:65536", "port must be a number from 1 to 65535"),
            ("redis://host:99999999999999999999", "port must be a number from 1 to 65535"),
            ("redis://host:-1", "port must be a number"),
            ("redis://host:+80", "port must be a number"),
            ("redis://host:", "port must be a number"),
            ("redis://host/x", "database must be a number"),
            ("redis://host/-1", "database must be a number"),
            ("redis://host/99999999", "database must be a number"),
            ("redis://host?timeout=1", "query"),
            ("redis://ho st", "host may hold only"),
            ("redis://hôst", "host may hold only"),
            ("redis://host\u{0}x", "NUL"),
            ("redis://:a%00b@host", "NUL"),
            ("redis://:a%zzb@host", "%-escape"),
            ("redis://[::1", "closing ]"),
            ("redis://[nothex]:1", "not an IPv6 address"),
            ("redis://" + String(repeating: "h", count: 2000), "longer than 1024"),
        ]
        for (text, reason) in cases {
            do {
                _ = try RedisURL(text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.contains(reason), "\(text): \(error.description)")
                #expect(!error.description.contains("secret"))
            }
        }
        #expect(throws: RedisURLError.self) { try RedisLink(url: "redis://host:0", logger: Logger(label: "test")) }
    }

    @Test func theLinkIsUpOnlyWhileBothConnectionsWorkAndEachChangeIsReportedOnce() {
        var health = RedisLinkHealth()
        #expect(health.subscriber(true) == .none)
        #expect(health.publisher(true) == .report(true))
        #expect(health.subscriber(false) == .report(false))
        #expect(health.publisher(false) == .none)
        #expect(health.publisher(true) == .none)
        #expect(health.subscriber(true) == .report(true))
        #expect(health.publisher(false) == .report(false))
        #expect(!health.isUp)
    }

    @Test func aSilentRedisIsPingedOnceThenGivenUp() {
        var liveness = RedisLiveness(pingInterval: 1, silenceLimit: 3)
        liveness.heard(at: 100)
        #expect(liveness.check(at: 100.5) == .wait)
        #expect(liveness.check(at: 101) == .ping)
        #expect(liveness.check(at: 102) == .wait)
        liveness.heard(at: 102.5)
        #expect(liveness.check(at: 103.5) == .ping)
        #expect(liveness.check(at: 105.4) == .wait)
        #expect(liveness.check(at: 105.5) == .lost)
    }
}
