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

/// Issue 10, defect 9: opening a conversation with somebody does not reveal
/// their presence; taking part in it (sending) does.
@Suite struct PresencePrivacyTests {
    func presenceFrames(_ f: HubFixture, _ id: ConnectionID) -> [JSON] {
        f.transport.frames(to: id).filter { $0["type"] == .string("presence") && $0["id"] == nil }
    }

    @Test func aConversationOpenedWithSomebodyRevealsNothingUntilTheyTakePart() {
        let f = HubFixture()
        f.hub.connectionOpened(3, token: f.token("mallory"))
        f.chat.flush()
        f.hub.handleHTTP(
            HTTPRequest(
                method: "POST", path: "/v1/conversations", authorization: "Bearer " + f.token("mallory"),
                body: Array(#"{"participants":["alice"]}"#.utf8)), id: 1)
        f.chat.flush()
        #expect(f.transport.responses[1]?.status == 201)
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.chat.flush()
        #expect(presenceFrames(f, 3).isEmpty)  // alice's arrival is not told to mallory
        f.send(3, #"{"type":"presence","id":"q","users":["alice"]}"#)
        f.chat.flush()
        #expect(f.transport.frames(to: 3).last?["users"] == .array([]))
        // Mallory's own presence is visible to alice: mallory took part.
        f.send(1, #"{"type":"presence","id":"q","users":["mallory"]}"#)
        f.chat.flush()
        guard case .array(let seen)? = f.transport.frames(to: 1).last?["users"] else { Issue.record("no users"); return }
        #expect(seen.count == 1)
        // Alice answers: from now on mallory sees her.
        f.send(1, #"{"type":"send","id":"m1","conversation":"1","client_msg_id":"m1","kind":"text","body":{"text":"hi"}}"#)
        f.chat.flush()
        f.send(3, #"{"type":"presence","id":"q2","users":["alice"]}"#)
        f.chat.flush()
        guard case .array(let users)? = f.transport.frames(to: 3).last?["users"] else { Issue.record("no users"); return }
        #expect(users.first?["user"] == .string("alice"))
        f.hub.connectionClosed(1)
        f.clock.advance(seconds: 6)
        f.hub.tick()
        #expect(presenceFrames(f, 3).last?["online"] == .bool(false))
    }
}
