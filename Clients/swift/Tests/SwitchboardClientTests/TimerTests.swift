import Foundation
import Testing

@testable import SwitchboardClient

@Suite struct TimerTests {
    /// A request with no answer fails with `timeout` after the request timeout.
    @Test func aRequestWithoutAnswerTimesOut() async throws {
        let s = Scenario()
        await s.client.start()
        let c = await s.welcome(1)
        async let answer = s.client.presence(of: ["bob"])
        await waitUntil { c.sent("presence").count == 1 }
        s.clock.advance(by: 9_999)
        s.clock.advance(by: 1)
        do {
            _ = try await answer
            Issue.record("no timeout")
        } catch {
            #expect(error as? SwitchboardError == .timeout)
        }
    }

    /// A ping that gets no frame back within the ping timeout drops the
    /// connection and the client reconnects.
    @Test func aSilentConnectionIsDroppedAfterAPing() async throws {
        let s = Scenario()
        await s.client.start()
        let c = await s.welcome(1)
        await waitUntil { s.log.states.contains(.resumed) }
        s.clock.advance(by: 20_000)
        await waitUntil { c.sent("ping").count == 1 }
        #expect(c.isOpen)
        s.clock.advance(by: 10_000)
        await waitUntil { !c.isOpen }
        #expect(c.closedByClient)
        await waitUntil {
            s.clock.sleepers > 0 && s.log.states.contains { if case .waitingToReconnect = $0 { true } else { false } }
        }
        s.clock.advance(by: 500)
        await waitUntil { s.transport.connections.count == 2 }
    }

    /// A connection that answers its pings stays.
    @Test func aConnectionThatAnswersPingsStays() async throws {
        let s = Scenario()
        await s.client.start()
        let c = await s.welcome(1)
        await waitUntil { s.log.states.contains(.resumed) }
        for round in 1...4 {
            // Each step passes the previous ping's timeout and sends the next ping.
            s.clock.advance(by: 20_000)
            await waitUntil { c.sent("ping").count == round }
            c.push(["type": "pong", "id": c.sent("ping")[round - 1]["id"]!, "time": 1])
            await waitUntil { await s.client.lastReceived == s.clock.now() }
        }
        #expect(c.isOpen)
        #expect(s.transport.connections.count == 1)
    }

    /// A provider's token is refreshed with a `refresh` frame before
    /// `expires_at` (ms), and again after each `refreshed`.
    @Test func aProvidersTokenIsRefreshedBeforeItExpires() async throws {
        let issued = Shared(0)
        let s = Scenario(
            token: .provider {
                "token-"
                    + String(
                        issued.withLock { n -> Int in
                            n += 1
                            return n
                        })
            }, configure: { $0.pingInterval = 100_000_000 })
        await s.client.start()
        let c = await s.welcome(1, expiresAt: s.clock.now() + 300_000)
        #expect(c.headers["Authorization"] == "Bearer token-1")
        await waitUntil { s.log.states.contains(.resumed) }
        s.clock.advance(by: 239_000)
        #expect(c.sent("refresh").isEmpty)
        s.clock.advance(by: 1_000)
        await waitUntil { c.sent("refresh").count == 1 }
        let refresh = c.sent("refresh")[0]
        #expect(refresh["token"] == "token-2")
        c.push(["type": "refreshed", "id": refresh["id"]!, "expires_at": .int(s.clock.now() + 300_000)])
        await waitUntil { await s.client.pending[refresh["id"]!.string!] == nil }
        s.clock.advance(by: 240_000)
        await waitUntil { c.sent("refresh").count == 2 }
        #expect(c.sent("refresh")[1]["token"] == "token-3")
    }
}
