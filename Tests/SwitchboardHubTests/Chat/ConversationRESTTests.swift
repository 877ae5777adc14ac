// The chat REST routes in process, over the fake chat store: statuses, error
// codes and bodies; what the hub asks the store and how it renders each
// answer (the store's rules themselves are SQL, tested end to end).
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct ConversationRESTTests {
    let f = HubFixture()

    init() {
        f.chat.members[1] = ["alice", "bob"]
    }

    /// Sends a request as `user` (nil: no credentials), runs the store's
    /// answers and returns the response.
    func call(
        _ method: String, _ path: String, query: [String: String] = [:], body: String = "",
        as user: String? = "alice"
    ) -> HTTPResponse? {
        let id = HTTPRequestID(f.transport.responses.count + 1)
        f.hub.handleHTTP(
            HTTPRequest(
                method: method, path: path, query: query, authorization: user.map { "Bearer " + f.token($0) },
                body: Array(body.utf8)), id: id)
        f.chat.flush()
        return f.transport.responses[id]
    }

    func json(_ r: HTTPResponse?) -> JSON? { r.flatMap { try? JSON.parse($0.body) } }
    func code(_ r: HTTPResponse?) -> String? { json(r)?["error"]?["code"]?.stringValue }
    func message(_ r: HTTPResponse?) -> String? { json(r)?["error"]?["message"]?.stringValue }

    func storeMessages(_ n: Int) {
        for i in 1...n {
            f.chat.commit(
                NewMessage(
                    conversation: 1, sender: "bob", clientMessageID: "m\(i)", kind: .text, body: Array(#"{"n":\#(i)}"#.utf8)))
        }
    }

    // MARK: create and list

    @Test func createAnswers201ThenTheSameConversation200() {
        let created = call("POST", "/v1/conversations", body: #"{"participants":["carol"],"project_id":"p-1"}"#)
        #expect(created?.status == 201)
        #expect(json(created)?["members"] == .array([.string("alice"), .string("carol")]))
        #expect(json(created)?["created"] == .bool(true))
        #expect(json(created)?["project_id"] == .string("p-1"))
        let again = call("POST", "/v1/conversations", body: #"{"participants":["carol"],"project_id":"p-1"}"#)
        #expect(again?.status == 200)
        #expect(json(again)?["created"] == .bool(false))
        #expect(json(again)?["id"] == json(created)?["id"])
    }

    @Test func createRefusesBadBodiesAndCallers() {
        #expect(code(call("POST", "/v1/conversations", body: "[1]")) == "bad_json")
        #expect(code(call("POST", "/v1/conversations", body: "{}")) == "missing_field")
        let many = "[" + (1...51).map { #""u\#($0)""# }.joined(separator: ",") + "]"
        let tooMany = call("POST", "/v1/conversations", body: #"{"participants":\#(many)}"#)
        #expect(tooMany?.status == 400 && code(tooMany) == "bad_request")
        #expect(call("POST", "/v1/conversations", body: #"{"participants":["bob"]}"#, as: nil)?.status == 401)
        #expect(call("PUT", "/v1/conversations", body: "{}")?.status == 405)
        #expect(call("GET", "/v1/conversations/0/messages")?.status == 404)
    }

    @Test func listPagesWithACursor() {
        f.chat.members[2] = ["alice", "carol"]
        f.chat.members[3] = ["bob", "carol"]
        let page = call("GET", "/v1/conversations", query: ["limit": "1"])
        #expect(page?.status == 200)
        guard case .array(let items)? = json(page)?["conversations"] else { Issue.record("no list"); return }
        #expect(items.count == 1)
        #expect(json(page)?["next_cursor"]?.stringValue != nil)  // a full page: there may be more
        let all = call("GET", "/v1/conversations")
        guard case .array(let every)? = json(all)?["conversations"] else { Issue.record("no list"); return }
        #expect(every.compactMap { $0["id"]?.stringValue }.sorted() == ["1", "2"])
        #expect(json(all)?["next_cursor"] == .null)
        #expect(code(call("GET", "/v1/conversations", query: ["limit": "0"])) == "bad_request")
        #expect(code(call("GET", "/v1/conversations", query: ["cursor": "nope"])) == "bad_request")
    }

    // MARK: history

    @Test func historyPassesItsBoundsAndRendersThePage() {
        storeMessages(3)
        let page = call("GET", "/v1/conversations/1/messages", query: ["after": "0", "limit": "2"])
        #expect(page?.status == 200)
        #expect(
            f.chat.historyQueries.last.map { [$0.conversation, $0.after ?? -1, $0.before ?? -1, Int64($0.limit)] } == [
                1, 0, -1, 2,
            ])
        #expect(json(page)?["first_seq"] == .int(1))
        #expect(json(page)?["last_seq"] == .int(2))
        guard case .array(let items)? = json(page)?["messages"] else { Issue.record("no messages"); return }
        #expect(items.map { $0["seq"] } == [.int(1), .int(2)])
        #expect(items.first?["body"] == .object(["n": .int(1)]))
        _ = call("GET", "/v1/conversations/1/messages", query: ["before": "3"])
        #expect(f.chat.historyQueries.last.map { [$0.before ?? -1, Int64($0.limit)] } == [3, 50])  // the default limit
        let empty = call("GET", "/v1/conversations/1/messages", query: ["limit": "1"], as: "bob")
        #expect(empty?.status == 200)
    }

    @Test func historyRefusesBadBoundsBeforeAskingTheStore() {
        for query in [["before": "-1"], ["after": "x"], ["limit": "0"], ["limit": "201"], ["limit": "ten"]] {
            let r = call("GET", "/v1/conversations/1/messages", query: query)
            #expect(r?.status == 400 && code(r) == "bad_request", "\(query)")
        }
        #expect(f.chat.historyQueries.isEmpty)
    }

    @Test func historyOfAConversationOfOthersIs403() {
        let r = call("GET", "/v1/conversations/1/messages", as: "mallory")
        #expect(r?.status == 403 && code(r) == "forbidden")
        #expect(message(r) == "not a member of this conversation")
    }

    // MARK: send

    @Test func sendAnswers201ThenADuplicate200() {
        let body = #"{"client_msg_id":"k1","kind":"text","body":{"text":"hi"}}"#
        let first = call("POST", "/v1/conversations/1/messages", body: body)
        #expect(first?.status == 201)
        #expect(json(first)?["seq"] == .int(1))
        #expect(json(first)?["duplicate"] == .bool(false))
        #expect(json(first)?["conversation"] == .string("1"))
        let stored = f.chat.messages[1]![0]
        f.chat.scriptedSends = [
            .success(
                SendOutcome(
                    id: stored.id, conversation: 1, seq: 1, createdAtMillis: stored.createdAtMillis,
                    duplicate: true, members: ["alice", "bob"]))
        ]
        let repeated = call("POST", "/v1/conversations/1/messages", body: body)
        #expect(repeated?.status == 200)
        #expect(json(repeated)?["duplicate"] == .bool(true))
        #expect(json(repeated)?["message_id"] == json(first)?["message_id"])
    }

    @Test func sendRefusals() {
        let big = String(repeating: "x", count: SendRequest.maxBodyBytes)
        let tooLarge = call(
            "POST", "/v1/conversations/1/messages", body: #"{"client_msg_id":"k","kind":"text","body":{"text":"\#(big)"}}"#)
        #expect(tooLarge?.status == 413 && code(tooLarge) == "payload_too_large")
        let notMember = call(
            "POST", "/v1/conversations/1/messages", body: #"{"client_msg_id":"k","kind":"text","body":{"text":"x"}}"#,
            as: "mallory")
        #expect(notMember?.status == 403 && code(notMember) == "forbidden")
        #expect(
            code(call("POST", "/v1/conversations/1/messages", body: #"{"kind":"text","body":{"text":"x"}}"#)) == "missing_field")
        f.chat.available = false
        let down = call("POST", "/v1/conversations/1/messages", body: #"{"client_msg_id":"k","kind":"text","body":{"text":"x"}}"#)
        #expect(down?.status == 503 && code(down) == "unavailable")
        #expect(down?.headers["Retry-After"] == "1")
        #expect(f.chat.messages[1] == nil)
    }

    // MARK: edit, delete, read

    @Test func editAndDeleteAnswerTheChangedMessageAndTellSubscribers() {
        storeMessages(1)
        let id = f.chat.messages[1]![0].id
        f.hub.connectionOpened(7, token: f.token("bob"))
        f.send(7, #"{"type":"subscribe","channel":"conversation:1"}"#)
        f.chat.flush()
        let edited = call("PATCH", "/v1/messages/\(id)", body: #"{"body":{"text":"new"}}"#, as: "bob")
        #expect(edited?.status == 200)
        #expect(json(edited)?["type"] == .string("message_edited"))
        #expect(json(edited)?["body"] == .object(["text": .string("new")]))
        let deleted = call("DELETE", "/v1/messages/\(id)", as: "bob")
        #expect(deleted?.status == 200)
        #expect(json(deleted)?["type"] == .string("message_deleted"))
        #expect(json(deleted)?["body"] == nil)
        #expect(f.transport.types(to: 7).filter { $0.hasPrefix("message_") } == ["message_edited", "message_deleted"])
    }

    @Test func editRefusals() {
        let refused = call("PATCH", "/v1/messages/999", body: #"{"body":{"text":"x"}}"#)
        #expect(refused?.status == 403 && code(refused) == "forbidden")
        #expect(message(refused) == "only the sender can change a message, and not after deleting it")
        #expect(code(call("PATCH", "/v1/messages/999", body: #"{"body":"x"}"#)) == "missing_field")
        let big = String(repeating: "x", count: SendRequest.maxBodyBytes)
        #expect(call("PATCH", "/v1/messages/999", body: #"{"body":{"t":"\#(big)"}}"#)?.status == 413)
        #expect(call("PUT", "/v1/messages/999", body: "{}")?.status == 405)
        #expect(call("DELETE", "/v1/messages/0")?.status == 404)
    }

    @Test func readAnswersTheStoredPosition() {
        f.chat.scriptedReads = [.success(2)]
        let read = call("POST", "/v1/conversations/1/read", body: #"{"seq":5}"#)
        #expect(read?.status == 200)
        #expect(json(read) == .object(["conversation": .string("1"), "user": .string("alice"), "last_read_seq": .int(2)]))
        #expect(code(call("POST", "/v1/conversations/1/read", body: #"{"seq":-1}"#)) == "missing_field")
        let outsider = call("POST", "/v1/conversations/1/read", body: #"{"seq":1}"#, as: "mallory")
        #expect(outsider?.status == 403 && code(outsider) == "forbidden")
    }
}
