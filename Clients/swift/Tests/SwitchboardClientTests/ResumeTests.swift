import Foundation
import Testing

@testable import SwitchboardClient

@Suite struct ResumeTests {
    /// Contract point 5: after `welcome`, one frame resubscribes every channel
    /// held, each with its cursor, the user channel with the notification id.
    @Test func aReconnectResubscribesEveryChannelInOneFrameFromItsCursor() async throws {
        let s = Scenario()
        await s.client.start()
        let first = await s.welcome(1, lastNotificationID: "5009")
        async let a: Void = s.client.subscribe("conversation:42", since: 3)
        async let b: Void = s.client.subscribe("topic:news")
        await waitUntil { Scenario.subscribedChannels(first) == ["conversation:42", "topic:news"] }
        s.answerSubscribes(first, lastSeq: 3, recovered: true, answered: Shared(0))
        _ = try await (a, b)
        first.push(Scenario.message("42", seq: 4))
        first.push(["type": "notification", "notification_id": "5010", "kind": "project_update", "title": "t"])
        await waitUntil { s.log.messages.count == 1 && s.log.notifications.count == 1 }

        first.drop()
        await waitUntil { s.clock.sleepers > 0 && s.log.states.contains(.waitingToReconnect(attempt: 1, afterMilliseconds: 500)) }
        s.clock.advance(by: 500)
        let second = await s.welcome(2, lastNotificationID: "5010")
        await waitUntil { !second.sent("subscribe").isEmpty }
        let subscribes = second.sent("subscribe")
        #expect(subscribes.count == 1)
        #expect(subscribes[0]["channel"] == nil)
        #expect(
            subscribes[0]["channels"]
                == [
                    ["channel": "user:alice", "since": "5010"], ["channel": "conversation:42", "since": 4],
                    ["channel": "topic:news"],
                ])
    }

    /// Replayed and repeated frames are shown once: (conversation, seq) and notification id.
    @Test func replayedMessagesAndNotificationsAreDeliveredOnce() async throws {
        let s = Scenario()
        await s.client.start()
        let c = await s.welcome(1, lastNotificationID: "7")
        for seq in [1, 2, 2, 1, 3] as [Int64] { c.push(Scenario.message("9", seq: seq)) }
        for id in ["6", "7", "8", "8", "9"] {
            c.push(["type": "notification", "notification_id": .string(id), "kind": "project_update", "title": "t"])
        }
        c.push(Scenario.message("9", seq: 4))
        await waitUntil { s.seqs("9").last == 4 && s.log.notifications.last?.id == "9" }
        #expect(s.seqs("9") == [1, 2, 3, 4])
        #expect(s.log.notifications.map(\.id) == ["8", "9"])
    }

    /// `recovered: false`: the missed range comes from REST, page by page,
    /// and live messages that arrive meanwhile follow it, once each.
    @Test func anUnrecoveredConversationIsPagedOverRESTThenLiveWithoutDuplicates() async throws {
        let s = Scenario()
        s.http.pages.withLock {
            $0["/v1/conversations/42/messages?after=10&limit=2"] = [
                "messages": [Scenario.message("42", seq: 11), Scenario.message("42", seq: 12)]
            ]
            $0["/v1/conversations/42/messages?after=12&limit=2"] = ["messages": [Scenario.message("42", seq: 13)]]
        }
        await s.client.start()
        let c = await s.welcome(1)
        async let subscribed: Void = s.client.subscribe("conversation:42", since: 10)
        await waitUntil { Scenario.subscribedChannels(c) == ["conversation:42"] }
        // Live messages that overtake the page: held, then delivered after it.
        c.push(Scenario.message("42", seq: 13))
        s.answerSubscribes(c, lastSeq: 13, recovered: false, answered: Shared(0))
        c.push(Scenario.message("42", seq: 14))
        try await subscribed
        await waitUntil { s.seqs("42").last == 14 }
        #expect(s.seqs("42") == [11, 12, 13, 14])
        #expect(s.http.requests.current.count == 2)
        await waitUntil { s.log.states.contains(.resumed) }
    }

    /// A gap in live seqs (a missed frame) is filled from REST before going on.
    @Test func aGapInLiveSeqsIsFilledFromREST() async throws {
        let s = Scenario()
        s.http.pages.withLock {
            $0["/v1/conversations/5/messages?after=1&limit=2"] = ["messages": [Scenario.message("5", seq: 2)]]
        }
        await s.client.start()
        let c = await s.welcome(1)
        c.push(Scenario.message("5", seq: 1))
        c.push(Scenario.message("5", seq: 3))
        await waitUntil { s.seqs("5").count == 3 }
        #expect(s.seqs("5") == [1, 2, 3])
    }

    /// Full jitter: retry n waits random(0…min(cap, base·2ⁿ)); a welcome resets it.
    @Test func reconnectsBackOffExponentiallyWithFullJitter() async throws {
        let ceilings = Shared([Int64]())
        let s = Scenario(random: { upper in
            ceilings.withLock { $0.append(upper) }
            return upper / 2
        })
        s.transport.refuse(3)
        await s.client.start()
        for n in 1...3 {
            await waitUntil { s.transport.attempts == n && s.clock.sleepers > 0 }
            s.clock.advance(by: 30_000)
        }
        await s.welcome(1)
        await waitUntil { s.log.states.contains(.connected) }
        s.transport.connections[0].drop()
        await waitUntil { ceilings.current.count == 4 }
        #expect(ceilings.current == [500, 1000, 2000, 500])
        #expect(s.log.states.contains(.waitingToReconnect(attempt: 3, afterMilliseconds: 1000)))
        #expect(Backoff().ceiling(attempt: 200) == 30_000)
    }

    /// A fixed token the hub refuses (close 4001) ends the client: retrying cannot help.
    @Test func aRefusedFixedTokenStopsTheClient() async throws {
        let s = Scenario()
        await s.client.start()
        await waitUntil { s.transport.connections.count == 1 }
        s.transport.connections[0].drop(code: 4001)
        await waitUntil { s.log.states.contains(.stopped(reason: "closed 4001")) }
        #expect(s.transport.attempts == 1)
    }

    /// A revision-1 hub (no `revision` in `welcome`) knows no batch: one
    /// single `subscribe` per channel, and none for the user channel.
    @Test func aRevision1HubIsResumedOneChannelPerFrame() async throws {
        let s = Scenario()
        await s.client.start()
        await waitUntil { s.transport.connections.count == 1 }
        let c = s.transport.connections[0]
        c.push(["type": "welcome", "user": "alice", "expires_at": .int(s.clock.now() / 1000 + 3600)])
        async let subscribed: Void = s.client.subscribe("conversation:7", since: 2)
        await waitUntil { c.sent("subscribe").count == 1 }
        s.answerSubscribes(c, lastSeq: 2, recovered: true, answered: Shared(0))
        try await subscribed
        c.drop()
        await waitUntil { s.log.states.contains(.waitingToReconnect(attempt: 1, afterMilliseconds: 500)) }
        s.clock.advance(by: 500)
        await waitUntil { s.transport.connections.count == 2 }
        let second = s.transport.connections[1]
        second.push(["type": "welcome", "user": "alice", "expires_at": .int(s.clock.now() / 1000 + 3600)])
        await waitUntil { second.sent("subscribe").count == 1 }
        #expect(second.sent("subscribe").map { $0["channel"] } == ["conversation:7"])
        #expect(second.sent("subscribe")[0]["since"] == 2)
    }
}
