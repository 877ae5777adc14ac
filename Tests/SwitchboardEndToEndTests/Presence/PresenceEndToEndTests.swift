// Presence over real sockets: contacts see changes after the grace,
// strangers learn nothing.
import Foundation
import Testing

@Suite struct PresenceEndToEndTests {
    @Test func contactsSeeOnlineAndOfflineStrangersSeeNothing() throws {
        let hub = try HubProcess(extra: ["--presence-grace", "1"])
        let alice = uniqueUser("alice"), bob = uniqueUser("bob"), mallory = uniqueUser("mallory")
        _ = try hub.conversation(alice, with: [bob])
        let b = try hub.connect(bob)
        _ = try b.receive(type: "welcome")
        let m = try hub.connect(mallory)
        _ = try m.receive(type: "welcome")
        var a: WebSocketTestClient? = try hub.connect(alice)
        _ = try a!.receive(type: "welcome")
        let online = try b.receive(type: "presence")
        #expect(online["user"] as? String == alice)
        #expect(online["online"] as? Bool == true)
        a = nil  // closes the socket
        let offline = try b.receive(type: "presence", timeout: 10)
        #expect(offline["online"] as? Bool == false)
        #expect(offline["last_seen"] is Int)
        // Mallory saw nothing and learns nothing.
        try m.sendText(#"{"type":"presence","id":"q","users":["\#(alice)","\#(bob)"]}"#)
        let answer = try m.receiveJSON()
        #expect(answer["type"] as? String == "presence")
        #expect((answer["users"] as? [Any])?.isEmpty == true)
        let rest = try httpRequest(
            port: hub.port, "GET", "/v1/presence?users=\(alice),\(mallory)",
            headers: ["Authorization": "Bearer " + hub.token(bob)])
        #expect(rest.status == 200)
        let users = rest.json?["users"] as? [[String: Any]] ?? []
        #expect(users.map { $0["user"] as? String } == [alice])
        #expect(users.first?["online"] as? Bool == false)
    }

    // Found by the browser test: a contact who never disconnected (no
    // last_seen yet) was left out of presence answers.
    @Test func aContactWhoNeverDisconnectedIsAnswered() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        _ = try hub.conversation(bob, with: [alice])  // bob took part: alice may see him
        let b = try hub.connect(bob)
        _ = try b.receive(type: "welcome")
        let a = try hub.connect(alice)
        _ = try a.receive(type: "welcome")
        try a.sendText(#"{"type":"presence","id":"q","users":["\#(bob)"]}"#)
        var answer = try a.receive(type: "presence")
        while answer["id"] as? String != "q" { answer = try a.receive(type: "presence") }  // skip bob's online change
        let users = answer["users"] as? [[String: Any]] ?? []
        #expect(users.count == 1)
        #expect(users.first?["user"] as? String == bob)
        #expect(users.first?["online"] as? Bool == true)
        #expect(users.first?["last_seen"] is NSNull)
    }

    /// Issue 10, defect 9: opening a conversation with somebody reveals
    /// nothing until they take part in it.
    @Test func openingAConversationWithSomebodyRevealsNothingUntilTheyTakePart() throws {
        let hub = try HubProcess()
        let victim = uniqueUser("victim"), mallory = uniqueUser("mallory")
        let conv = try hub.conversation(mallory, with: [victim])
        let v = try hub.connect(victim)
        _ = try v.receive(type: "welcome")
        func ask() throws -> [[String: Any]] {
            let r = try httpRequest(
                port: hub.port, "GET", "/v1/presence?users=\(victim)",
                headers: ["Authorization": "Bearer " + hub.token(mallory)])
            #expect(r.status == 200)
            return r.json?["users"] as? [[String: Any]] ?? []
        }
        #expect(try ask().isEmpty)
        try v.sendText(sendFrame(conv, "hello", "hi"))
        _ = try v.receive(type: "ack")
        let seen = try ask()
        #expect(seen.first?["user"] as? String == victim)
        #expect(seen.first?["online"] as? Bool == true)
    }
}
