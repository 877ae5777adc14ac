// Conversations over fakes: the replay/live seam, idempotent sends, notices,
// typing relay, receipts, membership.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct ConversationTests {
    func fixture() -> HubFixture {
        let f = HubFixture()
        f.chat.members[1] = ["alice", "bob"]
        return f
    }

    func text(_ conversation: Int64, _ id: String, _ words: String = "hi") -> String {
        #"{"type":"send","id":"\#(id)","conversation":"\#(conversation)","client_msg_id":"\#(id)","kind":"text","body":{"text":"\#(words)"}}"#
    }

    @Test func replayThenLiveWithNoGapAndNoDuplicateAtTheSeam() {
        let f = fixture()
        for i in 1...4 {
            f.chat.commit(
                NewMessage(conversation: 1, sender: "bob", clientMessageID: "m\(i)", kind: .text, body: Array("{}".utf8)))
        }
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.send(1, #"{"type":"subscribe","id":"s","channel":"conversation:1","since":2}"#)
        // Bob sends while Alice's snapshot is still on its way: seq 5 is
        // committed before the snapshot is taken and also buffered live.
        f.send(2, text(1, "m5"))
        f.chat.flush()
        let seqs = f.transport.frames(to: 1).filter { $0["type"]?.stringValue == "message" }.compactMap { $0["seq"]?.intValue }
        #expect(seqs == [3, 4, 5])
        let subscribed = f.transport.frames(to: 1).first { $0["type"]?.stringValue == "subscribed" }
        #expect(subscribed?["recovered"] == .bool(true))
        #expect(subscribed?["last_seq"] == .int(4))  // 5 arrived live, after it
        // And then live.
        f.send(2, text(1, "m6"))
        f.chat.flush()
        let after = f.transport.frames(to: 1).filter { $0["type"]?.stringValue == "message" }.compactMap { $0["seq"]?.intValue }
        #expect(after == [3, 4, 5, 6])
    }

    // The narrow race: the message is committed and visible to the
    // subscribe's read, but its send answer reaches the loop only after the
    // subscription finished. It was replayed; it must not come again.
    @Test func aCommitWhoseAnswerArrivesAfterTheReplayIsNotSentTwice() {
        let f = fixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.chat.holdSends = true
        f.send(2, text(1, "m1"))  // committed; answer held back
        f.send(1, #"{"type":"subscribe","id":"s","channel":"conversation:1","since":0}"#)
        f.chat.flush()  // the snapshot (with seq 1) arrives first
        f.chat.releaseSends()  // then the commit's answer
        let seqs = f.transport.frames(to: 1).filter { $0["type"]?.stringValue == "message" }.compactMap { $0["seq"]?.intValue }
        #expect(seqs == [1])
        f.chat.holdSends = false
        f.send(2, text(1, "m2"))
        f.chat.flush()
        let after = f.transport.frames(to: 1).filter { $0["type"]?.stringValue == "message" }.compactMap { $0["seq"]?.intValue }
        #expect(after == [1, 2])
    }

    @Test func liveMessagesCommittedAfterTheSnapshotAreDeliveredFromTheBuffer() {
        let f = fixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(1, #"{"type":"subscribe","id":"s","channel":"conversation:1","since":0}"#)
        // The snapshot (empty) is taken now...
        let snapshotReplies = f.chat.pending
        f.chat.pending = []
        // ...then a message commits and its fan-out runs before the snapshot arrives.
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.send(2, text(1, "late"))
        f.chat.flush()
        snapshotReplies.forEach { $0() }
        let frames = f.transport.frames(to: 1).compactMap { $0["type"]?.stringValue }
        #expect(frames.suffix(2) == ["subscribed", "message"])
    }

    @Test func pastTheCapRecoveredIsFalseAndNothingIsReplayed() {
        let f = fixture()
        for i in 1...(ChatFeature.replayCap + 5) {
            f.chat.commit(
                NewMessage(conversation: 1, sender: "bob", clientMessageID: "m\(i)", kind: .text, body: Array("{}".utf8)))
        }
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(1, #"{"type":"subscribe","id":"s","channel":"conversation:1","since":1}"#)
        f.chat.flush()
        #expect(f.transport.types(to: 1).filter { $0 == "message" }.isEmpty)
        #expect(f.transport.frames(to: 1).last?["recovered"] == .bool(false))
    }

    @Test func nonMembersAreRefused() {
        let f = fixture()
        f.hub.connectionOpened(1, token: f.token("mallory"))
        f.send(1, #"{"type":"subscribe","id":"s","channel":"conversation:1"}"#)
        f.send(1, text(1, "x"))
        f.send(1, #"{"type":"read","id":"r","conversation":"1","seq":1}"#)
        f.send(1, #"{"type":"typing","conversation":"1","active":true}"#)
        f.chat.flush()
        let errors = f.transport.frames(to: 1).filter { $0["type"]?.stringValue == "error" }.compactMap {
            $0["code"]?.stringValue
        }
        #expect(errors == ["forbidden", "forbidden", "forbidden", "forbidden"])
        #expect(f.chat.messages[1] == nil)
        #expect(f.hub.publish(channel: "conversation:1", data: [49]) == 0)
    }

    @Test func repeatedClientMessageIDIsAckedAgainButDeliveredOnce() {
        let f = fixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.send(2, #"{"type":"subscribe","channel":"conversation:1"}"#)
        f.chat.flush()
        f.send(1, text(1, "same"))
        f.chat.flush()
        // The store recognises the repeat (its rule is SQL): the original, marked duplicate.
        let first = f.chat.messages[1]!.last!
        f.chat.scriptedSends = [
            .success(
                SendOutcome(
                    id: first.id, conversation: 1, seq: first.seq, createdAtMillis: first.createdAtMillis,
                    duplicate: true, members: ["alice", "bob"]))
        ]
        f.send(1, text(1, "same"))
        f.chat.flush()
        let acks = f.transport.frames(to: 1).filter { $0["type"]?.stringValue == "ack" }
        #expect(acks.count == 2)
        #expect(acks[0]["seq"] == acks[1]["seq"] && acks[0]["message_id"] == acks[1]["message_id"])
        #expect(acks.map { $0["duplicate"] } == [.bool(false), .bool(true)])
        #expect(f.transport.types(to: 2).filter { $0 == "message" }.count == 1)
    }

    @Test func connectedMembersWhoAreNotSubscribedGetANotice() {
        let f = fixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.send(1, text(1, "ping"))
        f.chat.flush()
        #expect(f.transport.types(to: 2).filter { $0 != "presence" } == ["welcome", "notice"])
        #expect(f.transport.frames(to: 2).last?["seq"] == .int(1))
    }

    @Test func typingIsRelayedToOtherSubscribersOnlyAndStopsByItself() {
        let f = fixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("bob"))
        for c in [ConnectionID(1), 2] { f.send(c, #"{"type":"subscribe","channel":"conversation:1"}"#) }
        f.chat.flush()
        f.send(1, #"{"type":"typing","conversation":"1","active":true}"#)
        #expect(f.transport.frames(to: 2).last?["active"] == .bool(true))
        #expect(!f.transport.types(to: 1).contains("typing"))
        f.clock.advance(seconds: 6)
        f.hub.tick()
        #expect(f.transport.frames(to: 2).last?["type"] == .string("typing"))
        #expect(f.transport.frames(to: 2).last?["active"] == .bool(false))
    }

    @Test func receiptsCarryTheStoredPositionAndAreRelayed() {
        let f = fixture()
        for i in 1...5 {
            f.chat.commit(
                NewMessage(conversation: 1, sender: "bob", clientMessageID: "m\(i)", kind: .text, body: Array("{}".utf8)))
        }
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.send(2, #"{"type":"subscribe","channel":"conversation:1"}"#)
        f.chat.flush()
        // The store keeps the furthest position (a SQL rule): reading back to 2 answers 4.
        f.chat.scriptedReads = [.success(4), .success(4)]
        f.send(1, #"{"type":"read","id":"r1","conversation":"1","seq":4}"#)
        f.send(1, #"{"type":"read","id":"r2","conversation":"1","seq":2}"#)
        f.chat.flush()
        let mine = f.transport.frames(to: 1).filter { $0["type"]?.stringValue == "receipt" }.compactMap { $0["seq"]?.intValue }
        #expect(mine == [4, 4])
        #expect(f.transport.frames(to: 2).last?["seq"] == .int(4))
        #expect(f.transport.frames(to: 2).last?["user"] == .string("alice"))
    }

    @Test func sendWhileTheDatabaseIsDownGetsARetryableError() {
        let f = fixture()
        f.chat.available = false
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(1, text(1, "x"))
        f.chat.flush()
        #expect(f.transport.lastError(to: 1) == "unavailable")
        #expect(!f.transport.types(to: 1).contains("ack"))
    }
}
