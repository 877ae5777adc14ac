// A client_msg_id is an idempotency key per sender: a retry with the same
// conversation and content gets the original ack; any other use of the key
// is refused with `idempotency_mismatch`, never acked as someone else's message.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct IdempotentSendTests {
    func send(_ conversation: Int64, key: String, text: String, kind: String = "text") -> String {
        #"{"type":"send","id":"r","conversation":"\#(conversation)","client_msg_id":"\#(key)","kind":"\#(kind)","body":{"text":"\#(text)"}}"#
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

    @Test func aKeyReusedForAnotherConversationOrContentIsAMismatch() {
        let f = HubFixture()
        f.chat.members[1] = ["alice", "bob"]
        f.chat.members[2] = ["alice", "carol"]
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.send(1, send(1, key: "k", text: "hello"))
        f.send(1, send(2, key: "k", text: "hello"))          // another conversation
        f.send(1, send(1, key: "k", text: "changed"))        // another body
        f.send(1, send(1, key: "k", text: "hello", kind: "document"))  // another kind
        f.send(1, send(1, key: "k", text: "hello"))          // a true retry
        f.send(2, send(1, key: "k", text: "other"))          // keys are per sender
        f.chat.flush()
        #expect(answers(f, 1) == ["ack", "idempotency_mismatch", "idempotency_mismatch", "idempotency_mismatch", "duplicate"])
        #expect(answers(f, 2) == ["ack"])
        #expect(f.chat.messages[2] == nil)
        #expect(f.chat.messages[1]?.map(\.sender) == ["alice", "bob"])
    }

    @Test func restAnswers422ForAMismatch() {
        let f = HubFixture()
        f.chat.members[1] = ["alice", "bob"]
        f.chat.members[2] = ["alice", "bob", "carol"]
        let auth = "Bearer " + f.token("alice")
        for (id, conversation) in [(1, 1), (2, 2)] {
            f.hub.handleHTTP(HTTPRequest(method: "POST", path: "/v1/conversations/\(conversation)/messages", authorization: auth,
                                         body: Array(#"{"client_msg_id":"k","kind":"text","body":{"text":"x"}}"#.utf8)), id: HTTPRequestID(id))
        }
        f.chat.flush()
        #expect(f.transport.responses[1]?.status == 201)
        #expect(f.transport.responses[2]?.status == 422)
        #expect(f.chat.messages[2] == nil)
    }
}
