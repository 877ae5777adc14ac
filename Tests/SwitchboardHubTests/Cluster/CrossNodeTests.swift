// Several hubs on one in-memory bus, sharing one (fake) database: what is
// published on one node reaches subscribers on the others once, and what a
// node missed — a hole in a conversation, or everything while its link was
// down — is read back from the store, in order, once.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct CrossNodeTests {
    let bus = FakeClusterBus()
    let chat = FakeChatStore()
    let a: HubFixture
    let b: HubFixture

    init() {
        a = HubFixture(bus: bus, node: "a", chat: chat)
        b = HubFixture(bus: bus, node: "b", chat: chat)
        chat.members[1] = ["alice", "bob", "carol"]
    }

    func send(_ conversation: Int64, _ id: String) -> String {
        #"{"type":"send","id":"\#(id)","conversation":"\#(conversation)","client_msg_id":"\#(id)","kind":"text","body":{"text":"hi"}}"#
    }

    func seqs(_ f: HubFixture, _ id: ConnectionID) -> [Int64] {
        f.transport.frames(to: id).filter { $0["type"]?.stringValue == "message" }.compactMap { $0["seq"]?.intValue }
    }

    /// Alice watches conversation 1 on node B; Bob sends on node A.
    func aliceWatchesOnB() {
        b.hub.connectionOpened(1, token: b.token("alice"))
        b.send(1, #"{"type":"subscribe","id":"s","channel":"conversation:1","since":0}"#)
        a.hub.connectionOpened(1, token: a.token("bob"))
        chat.flush()
    }

    @Test func aServerPublicationReachesEveryNodeOnce() {
        a.hub.connectionOpened(1, token: a.token("alice"))
        b.hub.connectionOpened(1, token: b.token("alice"))
        for f in [a, b] { f.send(1, #"{"type":"subscribe","id":"s","channel":"user:alice"}"#) }
        a.hub.publish(channel: "user:alice", data: Array(#"{"n":1}"#.utf8))
        for f in [a, b] {
            #expect(f.transport.types(to: 1).filter { $0 == "publication" }.count == 1)
        }
    }

    @Test func aMessageSentOnOneNodeReachesAWatcherOnAnotherOnceAndANoticeTheRest() {
        aliceWatchesOnB()
        b.hub.connectionOpened(2, token: b.token("carol"))
        a.send(1, send(1, "m1"))
        chat.flush()
        #expect(a.transport.types(to: 1).contains("ack"))
        #expect(seqs(b, 1) == [1])
        #expect(b.transport.types(to: 2).contains("notice"))
        a.send(1, send(1, "m2"))
        chat.flush()
        #expect(seqs(b, 1) == [1, 2])
    }

    @Test func aHoleInAConversationIsFilledFromTheStoreOnce() {
        aliceWatchesOnB()
        a.send(1, send(1, "m1"))
        chat.flush()
        // Seq 2 is committed, but its publication never comes (its node
        // died between the commit and the publication).
        chat.commit(NewMessage(conversation: 1, sender: "bob", clientMessageID: "lost", kind: .text, body: Array("{}".utf8)))
        a.send(1, send(1, "m3"))
        chat.flush()
        #expect(seqs(b, 1) == [1, 3])
        b.clock.advance(seconds: 0.3)
        b.hub.tick()
        chat.flush()
        #expect(seqs(b, 1) == [1, 3, 2])
        // Nothing comes twice: not on the next ticks, not with the next message.
        b.clock.advance(seconds: 3)
        b.hub.tick()
        chat.flush()
        a.send(1, send(1, "m4"))
        chat.flush()
        #expect(seqs(b, 1) == [1, 3, 2, 4])
    }

    @Test func whatAWatcherMissedWhileItsNodeWasCutOffArrivesWhenTheLinkIsBackOnce() {
        aliceWatchesOnB()
        a.send(1, send(1, "m1"))
        chat.flush()
        b.link?.set(up: false)
        a.send(1, send(1, "m2"))
        a.send(1, send(1, "m3"))
        chat.flush()
        #expect(seqs(b, 1) == [1])
        b.link?.set(up: true)
        chat.flush()
        #expect(seqs(b, 1) == [1, 2, 3])
        #expect(chat.historyQueries.last?.after == 1)
        a.send(1, send(1, "m4"))
        chat.flush()
        #expect(seqs(b, 1) == [1, 2, 3, 4])
    }

    @Test func aNodeDoesNotDeliverItsOwnPublicationTwice() {
        a.hub.connectionOpened(2, token: a.token("alice"))
        a.send(2, #"{"type":"subscribe","id":"s","channel":"conversation:1","since":0}"#)
        a.hub.connectionOpened(1, token: a.token("bob"))
        chat.flush()
        a.send(1, send(1, "m1"))
        chat.flush()
        #expect(seqs(a, 2) == [1])
    }

    @Test func whatANodePublishedWhileItsOwnLinkWasDownIsReadBackByTheOthers() {
        aliceWatchesOnB()
        a.send(1, send(1, "m1"))
        chat.flush()
        a.link?.set(up: false)
        a.send(1, send(1, "m2"))  // committed and acked; its publication dropped
        chat.flush()
        #expect(seqs(b, 1) == [1])
        a.link?.set(up: true)  // A tells the others it dropped some
        chat.flush()
        #expect(seqs(b, 1) == [1, 2])
        a.send(1, send(1, "m3"))
        chat.flush()
        #expect(seqs(b, 1) == [1, 2, 3])
    }
}
