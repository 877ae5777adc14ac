// Issue 10, defect 11: a cursor from the future (`since` past the newest)
// is answered `recovered: false` with the true position, and live traffic
// after it is not dropped.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct FutureCursorTests {
    @Test func aConversationCursorPastTheLastSeqIsNotRecoveredAndLiveMessagesStillArrive() {
        let f = HubFixture()
        f.chat.members[1] = ["alice", "bob"]
        for i in 1...3 {
            f.chat.commit(
                NewMessage(conversation: 1, sender: "bob", clientMessageID: "m\(i)", kind: .text, body: Array("{}".utf8)))
        }
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.send(1, #"{"type":"subscribe","id":"s","channel":"conversation:1","since":50}"#)
        f.chat.flush()
        let subscribed = f.transport.frames(to: 1).first { $0["type"]?.stringValue == "subscribed" }
        #expect(subscribed?["recovered"] == .bool(false))
        #expect(subscribed?["last_seq"] == .int(3))
        f.send(2, #"{"type":"send","id":"m4","conversation":"1","client_msg_id":"m4","kind":"text","body":{"text":"hi"}}"#)
        f.chat.flush()
        let live = f.transport.frames(to: 1).filter { $0["type"]?.stringValue == "message" }.compactMap { $0["seq"]?.intValue }
        #expect(live == [4])
    }

    @Test func aNotificationCursorPastTheNewestIsNotRecoveredAndLiveOnesStillArrive() {
        let f = HubFixture()
        f.notes.commit("bob"); f.notes.commit("bob")
        f.hub.connectionOpened(1, token: f.token("bob"), since: 1_000)
        f.notes.flush()
        let done = f.transport.frames(to: 1).first { $0["type"] == .string("subscribed") }
        #expect(done?["recovered"] == .bool(false))
        #expect(done?["last_id"] == .string("2"))
        f.hub.feature(NotificationsFeature.self)!.publish([f.notes.commit("bob")])
        let ids = f.transport.frames(to: 1).filter { $0["type"] == .string("notification") }.compactMap {
            $0["notification_id"]?.stringValue
        }
        #expect(ids == ["3"])
    }
}
