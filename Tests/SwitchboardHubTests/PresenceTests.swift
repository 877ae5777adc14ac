// Presence: grace against flapping (tracker), and contacts-only visibility (hub).
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct PresenceTrackerTests {
    @Test func onlineFromFirstConnectionToLastPlusGrace() {
        var p = PresenceTracker(graceMillis: 5_000)
        #expect(p.connected("a") == .online("a"))
        #expect(p.connected("a") == nil)
        p.disconnected("a", nowMillis: 1_000)
        #expect(p.isOnline("a"))
        p.disconnected("a", nowMillis: 2_000)
        #expect(p.tick(nowMillis: 6_999).isEmpty)
        #expect(p.isOnline("a"))
        #expect(p.tick(nowMillis: 7_000) == [.offline("a", atMillis: 2_000)])
        #expect(!p.isOnline("a"))
    }

    @Test func quickReconnectDoesNotFlap() {
        var p = PresenceTracker(graceMillis: 5_000)
        _ = p.connected("a")
        p.disconnected("a", nowMillis: 0)
        #expect(p.connected("a") == nil)
        #expect(p.tick(nowMillis: 60_000).isEmpty)
        #expect(p.isOnline("a"))
    }
}

@Suite struct HubPresenceTests {
    @Test func changesGoToContactsOnlyAndQueriesSkipStrangers() {
        let f = HubFixture()
        f.chat.members[1] = ["alice", "bob"]
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.hub.connectionOpened(3, token: f.token("mallory"))
        f.chat.flush()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.chat.flush()
        #expect(f.transport.frames(to: 2).last?["type"] == .string("presence"))
        #expect(f.transport.frames(to: 2).last?["online"] == .bool(true))
        #expect(!f.transport.types(to: 3).contains("presence"))
        // Alice leaves; Bob hears of it only after the grace.
        f.hub.connectionClosed(1)
        f.hub.tick()
        #expect(f.transport.frames(to: 2).last?["online"] == .bool(true))
        f.clock.advance(seconds: 5)
        f.hub.tick()
        #expect(f.transport.frames(to: 2).last?["online"] == .bool(false))
        #expect(!f.transport.types(to: 3).contains("presence"))
        // Mallory asks about Alice and Bob: nothing comes back.
        f.send(3, #"{"type":"presence","id":"q","users":["alice","bob"]}"#)
        f.chat.flush()
        #expect(f.transport.frames(to: 3).last?["users"] == .array([]))
        // Bob asks: Alice is offline now.
        f.send(2, #"{"type":"presence","id":"q","users":["alice","mallory"]}"#)
        f.chat.flush()
        guard case .array(let users)? = f.transport.frames(to: 2).last?["users"] else { Issue.record("no users"); return }
        #expect(users.count == 1)
        #expect(users.first?["user"] == .string("alice"))
        #expect(users.first?["online"] == .bool(false))
    }
}
