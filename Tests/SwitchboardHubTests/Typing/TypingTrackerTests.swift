// Typing throttle and expiry with an injected clock.
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct TypingTrackerTests {
    @Test func relaysAtMostOncePerThreeSecondsAndAlwaysRelaysTheStop() {
        var t = TypingTracker()
        #expect(t.typing(conversation: 1, user: "a", active: true, nowMillis: 0) == .relay(active: true))
        #expect(t.typing(conversation: 1, user: "a", active: true, nowMillis: 1_000) == .ignore)
        #expect(t.typing(conversation: 1, user: "a", active: true, nowMillis: 2_999) == .ignore)
        #expect(t.typing(conversation: 1, user: "a", active: true, nowMillis: 3_000) == .relay(active: true))
        #expect(t.typing(conversation: 1, user: "a", active: false, nowMillis: 3_100) == .relay(active: false))
        #expect(t.typing(conversation: 1, user: "a", active: false, nowMillis: 3_200) == .ignore)
        // Restarting right after a stop is throttled.
        #expect(t.typing(conversation: 1, user: "a", active: true, nowMillis: 4_000) == .ignore)
        // Other users and conversations have their own budget.
        #expect(t.typing(conversation: 1, user: "b", active: true, nowMillis: 4_000) == .relay(active: true))
        #expect(t.typing(conversation: 2, user: "a", active: true, nowMillis: 4_000) == .relay(active: true))
    }

    // Found by the browser test: a stop with no start before it crashed the
    // hub on the next tick (`now - Int64.min` overflowed).
    @Test func aStopWithoutAStartIsForgottenWithoutOverflow() {
        var t = TypingTracker()
        #expect(t.typing(conversation: 1, user: "a", active: false, nowMillis: 1_800_000_000_000) == .ignore)
        #expect(t.tick(nowMillis: 1_800_000_000_250).isEmpty)
        #expect(t.count == 0)
    }

    @Test func activeStateExpiresAfterSixSecondsWithoutRefresh() {
        var t = TypingTracker()
        _ = t.typing(conversation: 1, user: "a", active: true, nowMillis: 0)
        #expect(t.tick(nowMillis: 5_999).isEmpty)
        let stops = t.tick(nowMillis: 6_000)
        #expect(stops.count == 1 && stops[0].conversation == 1 && stops[0].user == "a")
        #expect(t.tick(nowMillis: 7_000).isEmpty)
    }

    @Test func refreshPostponesExpiry() {
        var t = TypingTracker()
        _ = t.typing(conversation: 1, user: "a", active: true, nowMillis: 0)
        _ = t.typing(conversation: 1, user: "a", active: true, nowMillis: 4_000)
        #expect(t.tick(nowMillis: 6_000).isEmpty)
        #expect(t.tick(nowMillis: 10_000).count == 1)
    }

    @Test func forgetsQuietPairs() {
        var t = TypingTracker()
        _ = t.typing(conversation: 1, user: "a", active: true, nowMillis: 0)
        _ = t.typing(conversation: 1, user: "a", active: false, nowMillis: 100)
        _ = t.tick(nowMillis: 10_000)
        #expect(t.count == 0)
    }
}
