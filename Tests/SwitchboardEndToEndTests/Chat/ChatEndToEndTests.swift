// Chat over real sockets, a real hub process and PostgreSQL.
import Foundation
import Testing

extension HubProcess {
    /// Creates (or finds) the conversation of `participants` as `creator`.
    func conversation(_ creator: String, with others: [String], project: String? = nil) throws -> String {
        let participants = others.map { "\"\($0)\"" }.joined(separator: ",")
        let projectField = project.map { #","project_id":"\#($0)""# } ?? ""
        let r = try httpRequest(
            port: port, "POST", "/v1/conversations", headers: ["Authorization": "Bearer " + token(creator)],
            body: #"{"participants":[\#(participants)]\#(projectField)}"#)
        guard r.status == 201 || r.status == 200, let id = r.json?["id"] as? String else {
            throw TestClientError.handshake("create conversation: \(r.status) \(String(decoding: r.body, as: UTF8.self))")
        }
        return id
    }
}

func sendFrame(_ conversation: String, _ clientID: String, _ text: String, id: String? = nil) -> String {
    #"{"type":"send","id":"\#(id ?? clientID)","conversation":"\#(conversation)","client_msg_id":"\#(clientID)","kind":"text","body":{"text":"\#(text)"}}"#
}

@Suite struct ChatEndToEndTests {
    @Test func sendIsAckedAfterCommitDeliveredOnceAndIdempotent() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try hub.conversation(alice, with: [bob], project: "stand-\(UUID().uuidString.prefix(4))")
        #expect(try hub.conversation(bob, with: [alice], project: nil) != conv)  // another project: another conversation
        let a = try hub.connect(alice), b = try hub.connect(bob)
        for c in [a, b] { _ = try c.receive(type: "welcome") }
        try b.sendText(#"{"type":"subscribe","id":"s","channel":"conversation:\#(conv)"}"#)
        #expect(try b.receive(type: "subscribed")["last_seq"] as? Int == 0)
        try a.sendText(sendFrame(conv, "c1", "hello"))
        let ack = try a.receive(type: "ack")
        #expect(ack["seq"] as? Int == 1)
        #expect(ack["duplicate"] as? Bool == false)
        let message = try b.receive(type: "message")
        #expect(message["seq"] as? Int == 1)
        #expect((message["body"] as? [String: Any])?["text"] as? String == "hello")
        // The same client_msg_id again: the original ack, nothing new stored or delivered.
        try a.sendText(sendFrame(conv, "c1", "hello", id: "retry"))
        let again = try a.receive(type: "ack")
        #expect(again["id"] as? String == "retry")
        #expect(again["message_id"] as? String == ack["message_id"] as? String)
        #expect(again["duplicate"] as? Bool == true)
        try a.sendText(sendFrame(conv, "c2", "second"))
        #expect(try b.receive(type: "message")["seq"] as? Int == 2)
        let rows = try TestDatabase.query("SELECT count(*), max(seq) FROM messages WHERE conversation_id = $1", [conv])
        #expect(rows.first == ["2", "2"])
    }

    @Test func reconnectWithSinceReplaysWhatWasMissedThenGoesLive() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try hub.conversation(alice, with: [bob])
        let a = try hub.connect(alice)
        _ = try a.receive(type: "welcome")
        for i in 1...5 {
            try a.sendText(sendFrame(conv, "m\(i)", "n\(i)"))
            _ = try a.receive(type: "ack")
        }
        let b = try hub.connect(bob)
        _ = try b.receive(type: "welcome")
        try b.sendText(#"{"type":"subscribe","id":"s","channel":"conversation:\#(conv)","since":2}"#)
        var seqs: [Int] = []
        var subscribed: [String: Any] = [:]
        while true {
            let frame = try b.receiveJSON()
            if frame["type"] as? String == "message" { seqs.append(frame["seq"] as? Int ?? -1) }
            if frame["type"] as? String == "subscribed" { subscribed = frame; break }
        }
        #expect(seqs == [3, 4, 5])
        #expect(subscribed["recovered"] as? Bool == true)
        try a.sendText(sendFrame(conv, "m6", "live"))
        #expect(try b.receive(type: "message")["seq"] as? Int == 6)
        // History pages by seq.
        let page = try httpRequest(
            port: hub.port, "GET", "/v1/conversations/\(conv)/messages?after=4&limit=10",
            headers: ["Authorization": "Bearer " + hub.token(bob)])
        #expect(page.status == 200)
        #expect((page.json?["messages"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == [5, 6])
        let latest = try httpRequest(
            port: hub.port, "GET", "/v1/conversations/\(conv)/messages?limit=2",
            headers: ["Authorization": "Bearer " + hub.token(bob)])
        #expect((latest.json?["messages"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == [5, 6])
    }

    @Test func nonMembersCanNeitherSubscribeSendReadNorReadHistory() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob"), mallory = uniqueUser("mallory")
        let conv = try hub.conversation(alice, with: [bob])
        let m = try hub.connect(mallory)
        _ = try m.receive(type: "welcome")
        try m.sendText(#"{"type":"subscribe","id":"s","channel":"conversation:\#(conv)"}"#)
        #expect(try m.receive(type: "error")["code"] as? String == "forbidden")
        try m.sendText(sendFrame(conv, "x1", "let me in"))
        #expect(try m.receive(type: "error")["code"] as? String == "forbidden")
        try m.sendText(#"{"type":"read","id":"r","conversation":"\#(conv)","seq":1}"#)
        #expect(try m.receive(type: "error")["code"] as? String == "forbidden")
        try m.sendText(#"{"type":"typing","conversation":"\#(conv)","active":true}"#)
        #expect(try m.receive(type: "error")["code"] as? String == "forbidden")
        let history = try httpRequest(
            port: hub.port, "GET", "/v1/conversations/\(conv)/messages",
            headers: ["Authorization": "Bearer " + hub.token(mallory)])
        #expect(history.status == 403)
        let post = try httpRequest(
            port: hub.port, "POST", "/v1/conversations/\(conv)/messages",
            headers: ["Authorization": "Bearer " + hub.token(mallory)],
            body: #"{"client_msg_id":"x2","kind":"text","body":{"text":"hi"}}"#)
        #expect(post.status == 403)
        #expect(try TestDatabase.query("SELECT count(*) FROM messages WHERE conversation_id = $1", [conv]).first?.first == "0")
    }

    @Test func restSendIsLiveTypingAndReceiptsReachTheOtherMember() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conv = try hub.conversation(alice, with: [bob])
        let a = try hub.connect(alice), b = try hub.connect(bob)
        for c in [a, b] {
            _ = try c.receive(type: "welcome")
            try c.sendText(#"{"type":"subscribe","channel":"conversation:\#(conv)"}"#)
            _ = try c.receive(type: "subscribed")
        }
        let post = try httpRequest(
            port: hub.port, "POST", "/v1/conversations/\(conv)/messages",
            headers: ["Authorization": "Bearer " + hub.token(alice)],
            body: #"{"client_msg_id":"rest-1","kind":"quote","body":{"amount":125000,"currency":"RON"}}"#)
        #expect(post.status == 201)
        #expect(post.json?["seq"] as? Int == 1)
        #expect(try b.receive(type: "message")["kind"] as? String == "quote")
        let stored = try TestDatabase.query(
            "SELECT quote_amount, quote_currency FROM messages WHERE conversation_id = $1", [conv])
        #expect(stored.first == ["125000", "RON"])
        try a.sendText(#"{"type":"typing","conversation":"\#(conv)","active":true}"#)
        let typing = try b.receive(type: "typing")
        #expect(typing["user"] as? String == alice)
        #expect(typing["active"] as? Bool == true)
        try b.sendText(#"{"type":"read","id":"r","conversation":"\#(conv)","seq":1}"#)
        #expect(try b.receive(type: "receipt")["id"] as? String == "r")
        let receipt = try a.receive(type: "receipt")
        #expect(receipt["user"] as? String == bob)
        #expect(receipt["seq"] as? Int == 1)
        // Monotonic: reading back to 0 leaves 1 stored.
        try b.sendText(#"{"type":"read","id":"r2","conversation":"\#(conv)","seq":0}"#)
        #expect(try b.receive(type: "receipt")["seq"] as? Int == 1)
    }

    @Test func creatingTheSameConversationTwiceReturnsTheFirst() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let first = try hub.conversation(alice, with: [bob], project: "p1")
        let again = try hub.conversation(bob, with: [alice], project: "p1")
        #expect(first == again)
    }
}
