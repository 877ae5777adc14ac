// Protocol revision 2 on the hub, over fakes: ids echoed in their JSON type,
// notification ids as strings, one time unit (ms), the welcome's newest
// notification id (and its seam), the batch subscribe with cursors, errors
// naming their channel, and notices per connection.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct ProtocolRevision2Tests {
    func frames(_ f: HubFixture, _ id: ConnectionID, _ type: String) -> [JSON] {
        f.transport.frames(to: id).filter { $0["type"] == .string(type) }
    }

    // 1
    @Test func everyReplyEchoesTheIdInItsJSONType() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: nil)
        f.send(1, #"{"type":"auth","id":7,"token":"\#(f.token("alice"))"}"#)
        f.send(1, #"{"type":"ping","id":8}"#)
        f.send(1, #"{"type":"ping","id":"8"}"#)
        f.send(1, #"{"type":"subscribe","id":9,"channel":"user:bob"}"#)
        f.send(1, #"{"type":"subscribe","id":-9007199254740991,"channel":"topic:a"}"#)
        let ids = f.transport.frames(to: 1).compactMap { $0["id"] }
        #expect(ids == [.int(7), .int(8), .string("8"), .int(9), .int(-9_007_199_254_740_991)])
        f.send(1, #"{"type":"ping","id":9007199254740992}"#)
        #expect(frames(f, 1, "error").last?["code"] == .string("bad_frame"))
    }

    // 3
    @Test func timesAreMillisecondsSinceTheEpoch() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice", ttl: 600))
        #expect(frames(f, 1, "welcome").first?["expires_at"] == .int((f.clock.millis / 1000 + 600) * 1000))
        #expect(frames(f, 1, "welcome").first?["revision"] == .int(2))
        f.send(1, #"{"type":"refresh","id":"r","token":"\#(f.token("alice", ttl: 900))"}"#)
        #expect(frames(f, 1, "refreshed").first?["expires_at"] == .int((f.clock.millis / 1000 + 900) * 1000))
        f.hub.publish(channel: "user:alice", data: Array("{}".utf8))
        #expect(frames(f, 1, "publication").first?["ts"] == .int(f.clock.millis))
    }

    // 4
    @Test func welcomeCarriesTheNewestNotificationIdOrNull() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        #expect(frames(f, 1, "welcome").first?["last_notification_id"] == .null)
        f.notes.commit("bob"); f.notes.commit("alice"); f.notes.commit("bob")
        f.hub.connectionOpened(2, token: f.token("alice"))
        #expect(frames(f, 2, "welcome").first?["last_notification_id"] == .string("2"))
        f.notes.failure = HubError(.unavailable, "down")
        f.hub.connectionOpened(3, token: f.token("alice"))
        let unknown = frames(f, 3, "welcome").first
        #expect(unknown != nil && unknown?["last_notification_id"] == nil)  // not known: left out, not null
    }

    @Test func aNotificationCommittedWhileTheWelcomeWaitsComesAfterItOnce() {
        let f = HubFixture()
        let older = f.notes.commit("alice")
        f.notes.holdNewest = true
        let hub = f.hub.feature(NotificationsFeature.self)!
        // The newest is read as 1; then 2 is committed and pushed, and 1's
        // push comes late: both arrive while the welcome waits.
        f.hub.connectionOpened(2, token: f.token("alice"))
        let newer = f.notes.commit("alice")
        hub.publish([older, newer])
        f.send(2, #"{"type":"ping","id":"p"}"#)
        #expect(frames(f, 2, "notification").isEmpty)  // held until welcome
        f.notes.flush()
        #expect(f.transport.types(to: 2).filter { $0 != "pong" } == ["welcome", "notification"])
        #expect(frames(f, 2, "welcome").first?["last_notification_id"] == .string("1"))
        #expect(frames(f, 2, "notification").map { $0["notification_id"] } == [.string("2")])
    }

    @Test func framesSentBeforeWelcomeWaitForIt() {
        let f = HubFixture()
        f.notes.holdNewest = true
        f.hub.connectionOpened(1, token: nil)
        f.send(1, #"{"type":"auth","id":"a","token":"\#(f.token("alice"))"}"#)
        f.send(1, #"{"type":"subscribe","id":"s","channel":"topic:a"}"#)
        #expect(f.transport.types(to: 1).isEmpty)
        f.notes.flush()
        #expect(f.transport.types(to: 1) == ["welcome", "subscribed"])
    }

    // 5
    @Test func aBatchAnswersEachEntryInOrderWithTheFramesId() {
        let f = HubFixture()
        f.chat.members[1] = ["alice", "bob"]
        for i in 1...3 {
            f.chat.commit(
                NewMessage(conversation: 1, sender: "bob", clientMessageID: "m\(i)", kind: .text, body: Array("{}".utf8)))
        }
        f.notes.commit("alice"); f.notes.commit("alice")
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(
            1,
            #"{"type":"subscribe","id":"r1","channels":[{"channel":"conversation:1","since":1},{"channel":"user:alice","since":"1"},{"channel":"topic:news"},{"channel":"user:bob"},{"channel":"nope"}]}"#
        )
        f.chat.flush()
        f.notes.flush()
        let answers = f.transport.frames(to: 1).filter { $0["type"] == .string("subscribed") || $0["type"] == .string("error") }
        #expect(answers.allSatisfy { $0["id"] == .string("r1") })
        #expect(answers.count == 5)
        let byChannel = Dictionary(answers.map { ($0["channel"]?.stringValue ?? "?", $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byChannel["conversation:1"]?["last_seq"] == .int(3))
        #expect(byChannel["user:alice"]?["last_id"] == .string("2"))
        #expect(byChannel["user:alice"]?["recovered"] == .bool(true))
        #expect(byChannel["topic:news"]?["type"] == .string("subscribed"))
        #expect(byChannel["user:bob"]?["code"] == .string("forbidden"))
        #expect(byChannel["nope"]?["code"] == .string("bad_channel"))
        let replayed = f.transport.frames(to: 1).filter { $0["replay"] == .bool(true) }
        #expect(replayed.compactMap { $0["seq"] ?? $0["notification_id"] } == [.int(2), .int(3), .string("2")])
        // The in-order part that is synchronous: topic, then the refusals.
        let sync = answers.compactMap { $0["channel"]?.stringValue }.filter {
            !$0.hasPrefix("conversation") && $0 != "user:alice"
        }
        #expect(sync == ["topic:news", "user:bob", "nope"])
    }

    @Test func theSubscriptionCapAppliesPerEntry() {
        let f = HubFixture(configure: { $0.maxSubscriptionsPerConnection = 3 })  // the user channel is one
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(
            1, #"{"type":"subscribe","id":"r","channels":[{"channel":"topic:a"},{"channel":"topic:b"},{"channel":"topic:c"}]}"#)
        let answers = f.transport.frames(to: 1).filter { $0["id"] == .string("r") }
        #expect(answers.map { $0["type"] } == [.string("subscribed"), .string("subscribed"), .string("error")])
        #expect(answers.last?["code"] == .string("too_many_subscriptions"))
        #expect(answers.last?["channel"] == .string("topic:c"))
    }

    @Test func errorsAnsweringSubscribeAndUnsubscribeNameTheChannel() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: nil)
        f.send(1, #"{"type":"subscribe","id":"0","channel":"topic:a"}"#)
        #expect(frames(f, 1, "error").last?["channel"] == .string("topic:a"))  // not authenticated
        f.send(1, #"{"type":"auth","token":"\#(f.token("alice"))"}"#)
        f.send(1, #"{"type":"unsubscribe","id":"1","channel":"user:alice"}"#)
        #expect(frames(f, 1, "error").last?["channel"] == .string("user:alice"))
        f.send(1, #"{"type":"subscribe","id":"2","channel":"conversation:9"}"#)
        f.chat.flush()
        #expect(frames(f, 1, "error").last?["channel"] == .string("conversation:9"))
        #expect(frames(f, 1, "error").last?["code"] == .string("forbidden"))
    }

    @Test func sinceOnTheOwnUserChannelReplaysWithNoGapAndNoDuplicate() {
        let f = HubFixture()
        f.notes.commit("alice"); f.notes.commit("alice")
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(1, #"{"type":"subscribe","id":"u","channel":"user:alice","since":"1"}"#)
        // Committed after the replay read was asked; its push comes first.
        let third = f.notes.commit("alice")
        f.hub.feature(NotificationsFeature.self)!.publish([third])
        f.notes.flush()
        let ids = frames(f, 1, "notification").compactMap { $0["notification_id"]?.stringValue }
        #expect(ids == ["2", "3"])
        let order = f.transport.types(to: 1).filter { $0 == "notification" || $0 == "subscribed" }
        #expect(order == ["notification", "subscribed", "notification"])
        #expect(frames(f, 1, "subscribed").first?["last_id"] == .string("2"))
        #expect(frames(f, 1, "subscribed").first?["id"] == .string("u"))
    }

    @Test func aSecondUserChannelResumeWaitsForTheFirstAndBothAreAnswered() {
        let f = HubFixture()
        f.notes.commit("alice"); f.notes.commit("alice"); f.notes.commit("alice")
        f.hub.connectionOpened(1, token: nil)
        f.send(1, #"{"type":"auth","id":"a","token":"\#(f.token("alice"))","since":2}"#)
        f.send(1, #"{"type":"subscribe","id":"u","channel":"user:alice","since":"0"}"#)
        f.notes.flush()
        let done = frames(f, 1, "subscribed")
        #expect(done.map { $0["id"] } == [.string("a"), .string("u")])
        #expect(done.map { $0["last_id"] } == [.string("3"), .string("3")])
        let ids = frames(f, 1, "notification").compactMap { $0["notification_id"]?.stringValue }
        #expect(ids == ["3", "1", "2", "3"])  // each replay as asked
    }

    // 6
    @Test func aMembersUnsubscribedConnectionGetsTheNoticeWhileAnotherWatches() {
        let f = HubFixture()
        f.chat.members[1] = ["alice", "bob"]
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.hub.connectionOpened(3, token: f.token("bob"))
        f.send(2, #"{"type":"subscribe","id":"s","channel":"conversation:1"}"#)
        f.chat.flush()
        f.send(1, #"{"type":"send","id":"x","conversation":"1","client_msg_id":"c1","kind":"text","body":{"text":"hi"}}"#)
        f.chat.flush()
        #expect(frames(f, 2, "notice").isEmpty)  // it watches: the message itself
        #expect(frames(f, 2, "message").count == 1)
        #expect(frames(f, 3, "notice").count == 1)  // the other device: the notice
        #expect(frames(f, 1, "notice").isEmpty)  // the sender: its ack
    }
}
