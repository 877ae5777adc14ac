// REST: conversation list with unread counts and cursor, read over REST,
// edit and delete by the sender only, live events to subscribers.
import Foundation
import Testing

@Suite struct ChatManagementEndToEndTests {
    func post(_ hub: HubProcess, _ user: String, _ path: String, _ body: String) throws -> HTTPResult {
        try httpRequest(port: hub.port, "POST", path, headers: ["Authorization": "Bearer " + hub.token(user)], body: body)
    }

    @Test func listUnreadReadEditAndDelete() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob"), carol = uniqueUser("carol"), mallory = uniqueUser("mallory")
        let withBob = try hub.conversation(alice, with: [bob])
        let withCarol = try hub.conversation(alice, with: [carol])
        var lastID = ""
        for i in 1...3 {
            let r = try post(
                hub, bob, "/v1/conversations/\(withBob)/messages", #"{"client_msg_id":"b\#(i)","body":{"text":"n\#(i)"}}"#)
            #expect(r.status == 201)
            lastID = r.json?["message_id"] as? String ?? ""
        }
        _ = try post(hub, carol, "/v1/conversations/\(withCarol)/messages", #"{"client_msg_id":"c1","body":{"text":"hey"}}"#)

        // Alice's list: most recent first, unread counts others' messages.
        let list = try httpRequest(
            port: hub.port, "GET", "/v1/conversations?limit=1", headers: ["Authorization": "Bearer " + hub.token(alice)])
        #expect(list.status == 200)
        let first = (list.json?["conversations"] as? [[String: Any]])?.first
        #expect(first?["id"] as? String == withCarol)
        #expect(first?["unread"] as? Int == 1)
        let cursor = list.json?["next_cursor"] as? String ?? ""
        let page2 = try httpRequest(
            port: hub.port, "GET", "/v1/conversations?limit=1&cursor=\(cursor)",
            headers: ["Authorization": "Bearer " + hub.token(alice)])
        let second = (page2.json?["conversations"] as? [[String: Any]])?.first
        #expect(second?["id"] as? String == withBob)
        #expect(second?["unread"] as? Int == 3)
        #expect((second?["last_message"] as? [String: Any])?["seq"] as? Int == 3)

        // Read over REST moves forward only; outsiders cannot mark read.
        #expect(try post(hub, alice, "/v1/conversations/\(withBob)/read", #"{"seq":2}"#).json?["last_read_seq"] as? Int == 2)
        #expect(try post(hub, alice, "/v1/conversations/\(withBob)/read", #"{"seq":1}"#).json?["last_read_seq"] as? Int == 2)
        #expect(try post(hub, mallory, "/v1/conversations/\(withBob)/read", #"{"seq":3}"#).status == 403)

        // Edit and delete: the sender only, live to subscribers.
        let a = try hub.connect(alice)
        _ = try a.receive(type: "welcome")
        try a.sendText(#"{"type":"subscribe","channel":"conversation:\#(withBob)"}"#)
        _ = try a.receive(type: "subscribed")
        let byAlice = try httpRequest(
            port: hub.port, "PATCH", "/v1/messages/\(lastID)", headers: ["Authorization": "Bearer " + hub.token(alice)],
            body: #"{"body":{"text":"hijacked"}}"#)
        #expect(byAlice.status == 403)
        let byMallory = try httpRequest(
            port: hub.port, "DELETE", "/v1/messages/\(lastID)", headers: ["Authorization": "Bearer " + hub.token(mallory)])
        #expect(byMallory.status == 403)
        let edit = try httpRequest(
            port: hub.port, "PATCH", "/v1/messages/\(lastID)", headers: ["Authorization": "Bearer " + hub.token(bob)],
            body: #"{"body":{"text":"n3, corrected"}}"#)
        #expect(edit.status == 200)
        let edited = try a.receive(type: "message_edited")
        #expect((edited["body"] as? [String: Any])?["text"] as? String == "n3, corrected")
        let delete = try httpRequest(
            port: hub.port, "DELETE", "/v1/messages/\(lastID)", headers: ["Authorization": "Bearer " + hub.token(bob)])
        #expect(delete.status == 200)
        #expect(try a.receive(type: "message_deleted")["message_id"] as? String == lastID)
        let row = try TestDatabase.query(
            "SELECT deleted_at IS NOT NULL, edited_at IS NOT NULL FROM messages WHERE id = $1", [lastID])
        #expect(row.first == ["t", "t"])
    }
}
