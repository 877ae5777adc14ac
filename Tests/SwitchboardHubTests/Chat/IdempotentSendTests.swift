// A client_msg_id is an idempotency key per sender. Whether a repeat is the
// same send is the store's rule (SQL, tested end to end in
// IdempotencyEndToEndTests); here: what the hub does with each answer — a
// duplicate is acked with the original and not delivered again, a reused key
// is refused with `idempotency_mismatch` on both WebSocket and REST.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct IdempotentSendTests {
    func send(_ conversation: Int64, key: String, text: String) -> String {
        #"{"type":"send","id":"r","conversation":"\#(conversation)","client_msg_id":"\#(key)","kind":"text","body":{"text":"\#(text)"}}"#
    }

    func answers(_ f: HubFixture, _ c: ConnectionID) -> [String] {
        f.transport.frames(to: c).compactMap { frame in
            switch frame["type"]?.stringValue {
            case "ack": return frame["duplicate"] == .bool(true) ? "duplicate" : "ack"
            case "error": return frame["code"]?.stringValue
            default: return nil
            }
        }
    }

    @Test func aReusedKeyIsRefusedAndNothingIsDelivered() {
        let f = HubFixture()
        f.chat.members[1] = ["alice", "bob"]
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.send(2, #"{"type":"subscribe","channel":"conversation:1"}"#)
        f.chat.flush()
        f.send(1, send(1, key: "k", text: "hello"))
        f.chat.flush()
        f.chat.scriptedSends = [.failure(.clientMessageIDReused)]
        f.send(1, send(1, key: "k", text: "changed"))
        f.chat.flush()
        #expect(answers(f, 1) == ["ack", "idempotency_mismatch"])
        let error = f.transport.frames(to: 1).last { $0["type"]?.stringValue == "error" }
        #expect(error?["message"]?.stringValue == "this client_msg_id was already used for another conversation or content")
        #expect(f.transport.types(to: 2).filter { $0 == "message" }.count == 1)
    }

    @Test func restAnswers422ForAMismatch() {
        let f = HubFixture()
        f.chat.members[1] = ["alice", "bob"]
        let auth = "Bearer " + f.token("alice")
        f.chat.scriptedSends = [.failure(.clientMessageIDReused)]
        f.hub.handleHTTP(
            HTTPRequest(
                method: "POST", path: "/v1/conversations/1/messages", authorization: auth,
                body: Array(#"{"client_msg_id":"k","kind":"text","body":{"text":"x"}}"#.utf8)), id: 1)
        f.chat.flush()
        #expect(f.transport.responses[1]?.status == 422)
        #expect(
            f.transport.responses[1].flatMap { try? JSON.parse($0.body) }?["error"]?["code"] == .string("idempotency_mismatch"))
        #expect(f.chat.messages[1] == nil)
    }
}
