// Every golden frame in Protocol/examples decodes, and the hub's encoder
// produces exactly the golden server frames.
import Foundation
import Testing
@testable import SwitchboardWire

enum Golden {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocol/examples")

    static func files(prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted()
    }

    /// `client.subscribe-since.json` → `subscribe`: a suffix after '-' names a variant.
    static func type(of file: String, prefix: String) -> String {
        String(file.dropFirst(prefix.count).dropLast(".json".count).split(separator: "-").first ?? "")
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }
}

@Suite struct GoldenFrameTests {
    @Test func goldenFilesExist() {
        #expect(Golden.files(prefix: "client.").count >= 5)
        #expect(Golden.files(prefix: "server.").count >= 7)
    }

    @Test(arguments: Golden.files(prefix: "client."))
    func clientFrameDecodes(file: String) throws {
        let frame = try ClientFrame.decode(try Golden.bytes(file))
        let type = Golden.type(of: file, prefix: "client.")
        #expect(frame.typeName == type)
        if type != "typing" { #expect(frame.requestID != nil) }
    }

    @Test(arguments: Golden.files(prefix: "server."))
    func serverFrameParsesWithType(file: String) throws {
        let json = try JSON.parse(try Golden.bytes(file))
        let type = Golden.type(of: file, prefix: "server.")
        #expect(json["type"]?.stringValue == type)
    }

    @Test func encoderMatchesGoldenServerFrames() throws {
        func golden(_ name: String) throws -> JSON { try JSON.parse(try Golden.bytes(name)) }
        func encoded(_ frame: OutboundFrame) throws -> JSON { try JSON.parse(frame.text) }
        #expect(
            try encoded(
                ServerFrame.welcome(
                    id: nil, connection: "42", user: "alice", role: "client", expiresAt: 1_795_280_780_000,
                    lastNotification: .id(5012))) == golden("server.welcome.json"))
        #expect(
            try encoded(
                ServerFrame.welcome(
                    id: 7, connection: "43", user: "bob", role: "client", expiresAt: 1_795_280_780_000,
                    lastNotification: .none)) == golden("server.welcome-no-notifications.json"))
        #expect(try encoded(ServerFrame.refreshed(id: "2", expiresAt: 1_795_284_380_000)) == golden("server.refreshed.json"))
        #expect(
            try encoded(ServerFrame.pong(id: 7, serverTimeMillis: 1_795_279_842_833)) == golden("server.pong-integer-id.json"))
        #expect(try encoded(ServerFrame.pong(id: "3", serverTimeMillis: 1_795_279_842_833)) == golden("server.pong.json"))
        #expect(try encoded(ServerFrame.subscribed(id: "4", channel: "topic:announcements")) == golden("server.subscribed.json"))
        #expect(
            try encoded(ServerFrame.unsubscribed(id: "5", channel: "topic:announcements")) == golden("server.unsubscribed.json"))
        #expect(
            try encoded(
                ServerFrame.error(
                    id: "4", code: .forbidden, message: "not allowed to subscribe to this channel", channel: "user:bob"))
                == golden("server.error.json"))
        #expect(
            try encoded(
                ServerFrame.error(
                    id: "r1", code: .tooManySubscriptions, message: "at most 100 subscriptions per connection",
                    channel: "topic:news")) == golden("server.error-subscribe-batch.json"))
        #expect(
            try encoded(ServerFrame.error(id: "7", code: .overloaded, message: "the store is busy; retry later", retryAfter: 1))
                == golden("server.error-overloaded.json"))
        let fields = ServerFrame.MessageFields(
            conversation: 42, id: 1031, seq: 18, sender: "alice", clientMessageID: "9b2f6c1e-1",
            kind: "text", body: try golden("server.message.json")["body"]!.bytes,
            createdAtMillis: 1_795_281_672_239)
        #expect(try encoded(ServerFrame.message(fields, replay: false)) == golden("server.message.json"))
        #expect(
            try encoded(
                ServerFrame.ack(
                    id: "7", conversation: 42, messageID: 1031, seq: 18, createdAtMillis: 1_795_281_672_239,
                    duplicate: false)) == golden("server.ack.json"))
        #expect(
            try encoded(ServerFrame.notice(conversation: 42, messageID: 1031, seq: 18, sender: "alice", kind: "text"))
                == golden("server.notice.json"))
        #expect(try encoded(ServerFrame.typing(conversation: 42, user: "alice", active: true)) == golden("server.typing.json"))
        #expect(
            try encoded(ServerFrame.receipt(id: "8", conversation: 42, user: "bob", seq: 18)) == golden("server.receipt.json"))
        #expect(
            try encoded(ServerFrame.conversationSubscribed(id: "6", channel: "conversation:42", lastSeq: 18, recovered: true))
                == golden("server.subscribed-conversation.json"))
        var edited = fields
        edited.body = try golden("server.message_edited.json")["body"]!.bytes
        edited.editedAtMillis = 1_795_281_699_000
        #expect(try encoded(ServerFrame.messageChanged(edited)) == golden("server.message_edited.json"))
        var deleted = fields
        deleted.deleted = true
        #expect(try encoded(ServerFrame.messageChanged(deleted)) == golden("server.message_deleted.json"))
        #expect(
            try encoded(ServerFrame.presenceChange(user: "bob", online: false, lastSeenMillis: 1_795_281_672_239))
                == golden("server.presence.json"))
        #expect(
            try encoded(ServerFrame.presenceState(id: "9", users: [(user: "bob", online: true, lastSeenMillis: nil)]))
                == golden("server.presence-state.json"))
        let counter = ServerFrame.counter(
            channel: "scans:17", atMillis: 1_795_283_399_660, minuteStartMillis: 1_795_279_860_000,
            codes: [
                ServerFrame.CounterFields(
                    qr: 17, label: "Front door", total: 1234, today: 56,
                    minutes: Array(repeating: 0, count: 57) + [3, 12, 7],
                    devices: [("mobile", 800), ("desktop", 434)], countries: [("RO", 1000), ("DE", 234)])
            ])
        #expect(try encoded(counter) == golden("server.counter.json"))
        let note = try golden("server.notification.json")
        let noteFields = ServerFrame.NotificationFields(
            id: 5012, user: "builder-7", kind: "quote_match", title: "New quote request: Bauma 2026",
            body: "Munich · match score 87",
            data: note["data"]!.bytes, entityType: "quote_match", entityID: "230", createdAtMillis: 1_795_283_399_660)
        #expect(try encoded(ServerFrame.notification(noteFields, replay: false)) == note)
        #expect(
            try encoded(ServerFrame.notificationsReplayed(id: "a", channel: "user:builder-7", lastID: 5012, recovered: true))
                == golden("server.subscribed-notifications.json"))
        let data = try golden("server.publication.json")["data"]!
        #expect(
            try encoded(ServerFrame.publication(channel: "user:alice", data: data.bytes, sentAtMillis: 1_795_279_842_839))
                == golden("server.publication.json"))
    }
}

@Suite struct ClientFrameErrorTests {
    func code(_ text: String) -> ErrorCode? {
        do { _ = try ClientFrame.decode(Array(text.utf8)); return nil } catch { return error.code }
    }

    @Test func badInputGetsStableCodes() {
        #expect(code("not json") == .badJSON)
        #expect(code("[1,2]") == .badFrame)
        #expect(code("{}") == .missingField)
        #expect(code(#"{"type":5}"#) == .badFrame)
        #expect(code(#"{"type":"launch"}"#) == .unknownType)
        #expect(code(#"{"type":"auth"}"#) == .missingField)
        #expect(code(#"{"type":"auth","token":""}"#) == .badFrame)
        #expect(code(#"{"type":"subscribe","id":{"x":1},"channel":"a"}"#) == .badFrame)
    }

    @Test func requestIDIsKeptOnErrors() throws {
        do {
            _ = try ClientFrame.decode(Array(#"{"type":"nope","id":"r1"}"#.utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.requestID == "r1")
        }
    }

    @Test func requestIDsKeepTheirJSONType() throws {
        #expect(try ClientFrame.decode(Array(#"{"type":"ping","id":7}"#.utf8)) == .ping(id: .int(7)))
        #expect(try ClientFrame.decode(Array(#"{"type":"ping","id":"7"}"#.utf8)) == .ping(id: .string("7")))
        #expect(
            try ClientFrame.decode(Array(#"{"type":"ping","id":-9007199254740991}"#.utf8))
                == .ping(id: .int(-9_007_199_254_740_991)))
        #expect(ServerFrame.pong(id: .int(7), serverTimeMillis: 1).text == #"{"type":"pong","id":7,"time":1}"#)
        #expect(ServerFrame.pong(id: .string("7"), serverTimeMillis: 1).text == #"{"type":"pong","id":"7","time":1}"#)
        #expect(code(#"{"type":"ping","id":9007199254740992}"#) == .badFrame)
        #expect(code(#"{"type":"ping","id":1.5}"#) == .badFrame)
        #expect(code(#"{"type":"ping","id":"\#(String(repeating: "x", count: 129))"}"#) == .badFrame)
        #expect(
            try ClientFrame.decode(Array(#"{"type":"ping","id":"\#(String(repeating: "x", count: 128))"}"#.utf8)).requestID != nil
        )
    }

    @Test func notificationCursorsAreDigitStringsOrIntegers() throws {
        #expect(
            try ClientFrame.decode(Array(#"{"type":"auth","token":"t","since":"5009"}"#.utf8))
                == .auth(id: nil, token: "t", since: 5009))
        #expect(
            try ClientFrame.decode(Array(#"{"type":"auth","token":"t","since":5009}"#.utf8))
                == .auth(id: nil, token: "t", since: 5009))
        #expect(code(#"{"type":"auth","token":"t","since":"+5"}"#) == .badFrame)
        #expect(code(#"{"type":"auth","token":"t","since":"5a"}"#) == .badFrame)
        #expect(code(#"{"type":"auth","token":"t","since":-1}"#) == .badFrame)
        #expect(code(#"{"type":"auth","token":"t","since":"9007199254740992"}"#) == .badFrame)
        #expect(NotificationID.parse("9007199254740991") == 9_007_199_254_740_991)
        #expect(NotificationID.parse("99999999999999999999") == nil)
        #expect(NotificationID.parse("") == nil)
        #expect(NotificationID.parse(" 5") == nil)
    }

    @Test func batchSubscribeDecodesEveryEntryInOrder() throws {
        let frame = try ClientFrame.decode(try Golden.bytes("client.subscribe-batch.json"))
        #expect(
            frame
                == .subscribeMany(
                    id: "r1",
                    [
                        SubscribeEntry(channel: "conversation:42", since: 17), SubscribeEntry(channel: "user:alice", since: 5009),
                        SubscribeEntry(channel: "topic:news"),
                    ]))
        let hundred = (1...100).map { #"{"channel":"topic:t\#($0)"}"# }.joined(separator: ",")
        #expect(code(#"{"type":"subscribe","id":"r","channels":[\#(hundred)]}"#) == nil)
        #expect(code(#"{"type":"subscribe","id":"r","channels":[\#(hundred),{"channel":"topic:x"}]}"#) == .badFrame)
        #expect(code(#"{"type":"subscribe","id":"r","channels":[]}"#) == .badFrame)
        #expect(code(#"{"type":"subscribe","id":"r","channel":"topic:a","channels":[{"channel":"topic:b"}]}"#) == .badFrame)
        #expect(code(#"{"type":"subscribe","id":"r","channels":[{"since":1}]}"#) == .badFrame)
        #expect(code(#"{"type":"subscribe","id":"r","channels":{"channel":"topic:a"}}"#) == .badFrame)
        #expect(code(#"{"type":"subscribe","id":"r","channels":[{"channel":"topic:a","since":"x"}]}"#) == .badFrame)
    }
}

@Suite struct SchemaConsistencyTests {
    @Test(arguments: Golden.files(prefix: "client.") + Golden.files(prefix: "server."))
    func exampleHasItsRequiredFieldsAndType(file: String) throws {
        let schemaURL = Golden.directory.deletingLastPathComponent()
            .appendingPathComponent(
                "schemas/" + (file.hasPrefix("client.") ? "client." : "server.")
                    + Golden.type(of: file, prefix: file.hasPrefix("client.") ? "client." : "server.") + ".schema.json")
        let schema = try JSON.parse(Array(try Data(contentsOf: schemaURL)))
        let example = try JSON.parse(try Golden.bytes(file))
        guard case .array(let required)? = schema["required"] else { Issue.record("schema without required"); return }
        for field in required.compactMap(\.stringValue) {
            #expect(example[field] != nil, "\(file) lacks \(field)")
        }
        #expect(schema["properties"]?["type"]?["const"] == example["type"])
    }

    @Test func everyErrorCodeIsInTheSchema() throws {
        let schemaURL = Golden.directory.deletingLastPathComponent().appendingPathComponent("schemas/server.error.schema.json")
        let schema = try JSON.parse(Array(try Data(contentsOf: schemaURL)))
        guard case .array(let codes)? = schema["properties"]?["code"]?["enum"] else { Issue.record("no enum"); return }
        #expect(Set(codes.compactMap(\.stringValue)) == Set(ErrorCode.allCases.map(\.rawValue)))
    }
}
