// Contract point 7: one channel-name syntax and one limit (200 bytes) for every
// kind, wherever the hub reads a channel (subscribe, unsubscribe, POST
// /v1/publish), and the same in every schema that holds a channel.
import Foundation
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct ChannelNameTests {
    /// `prefix` followed by `x` up to `bytes` bytes in all.
    func name(_ prefix: String, bytes: Int) -> String { prefix + String(repeating: "x", count: bytes - prefix.utf8.count) }

    @Test func theSyntaxIsOneLimitAndOneAlphabetForEveryKind() {
        #expect(ChannelName.maxLength == 200)
        for prefix in ["user:", "topic:", "conversation:", "scans:", "scans:owner:", "other:"] {
            #expect(ChannelName.split(name(prefix, bytes: 200)) != nil, "\(prefix) at 200 bytes")
            #expect(ChannelName.split(name(prefix, bytes: 201)) == nil, "\(prefix) at 201 bytes")
        }
        #expect(ChannelName.split("topic:a_b.c:d@e=f+g-h")?.rest == "a_b.c:d@e=f+g-h")
        for bad in ["topic:", "topic", "topic:a b", "topic:a/b", "topic:é", "topic:a\u{0}", ":x", ""] {
            #expect(ChannelName.split(bad) == nil, "\(bad)")
        }
    }

    @Test func subscribeAndUnsubscribeShareTheLimit() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        let longest = name("topic:", bytes: 200)
        let tooLong = name("topic:", bytes: 201)
        f.send(1, #"{"type":"subscribe","id":"a","channel":"\#(longest)"}"#)
        #expect(f.transport.types(to: 1).last == "subscribed")
        f.send(1, #"{"type":"unsubscribe","id":"b","channel":"\#(longest)"}"#)
        #expect(f.transport.types(to: 1).last == "unsubscribed")
        f.send(1, #"{"type":"subscribe","id":"c","channel":"\#(tooLong)"}"#)
        #expect(f.transport.lastError(to: 1) == "bad_channel")
        for refused in [tooLong, "bogus:1", "topic:a b", "topic:"] {
            f.transport.sent.removeAll()
            f.send(1, #"{"type":"unsubscribe","id":"d","channel":"\#(refused)"}"#)
            #expect(f.transport.lastError(to: 1) == "bad_channel", "unsubscribe \(refused)")
            #expect(!f.transport.types(to: 1).contains("unsubscribed"))
        }
    }

    @Test func scanOwnerChannelsShareTheLimit() {
        let f = HubFixture()
        let owner = String(repeating: "u", count: 200 - "scans:owner:".utf8.count)
        f.hub.connectionOpened(1, token: f.token(owner))
        f.send(1, #"{"type":"subscribe","id":"a","channel":"scans:owner:\#(owner)"}"#)
        f.scans.flush()
        #expect(f.transport.lastError(to: 1) == nil)
        #expect(f.transport.types(to: 1).contains("subscribed"))
        f.hub.connectionOpened(2, token: f.token(owner + "u"))
        f.send(2, #"{"type":"subscribe","id":"b","channel":"scans:owner:\#(owner)u"}"#)
        #expect(f.transport.lastError(to: 2) == "bad_channel")
    }

    @Test func publishSharesTheLimit() {
        let f = HubFixture()
        func post(_ channel: String, _ id: HTTPRequestID) -> Int? {
            let body = Array(#"{"channel":"\#(channel)","data":1}"#.utf8)
            f.hub.handleHTTP(HTTPRequest(method: "POST", path: "/v1/publish", apiKey: HubFixture.apiKey, body: body), id: id)
            return f.transport.responses[id]?.status
        }
        #expect(post(name("topic:", bytes: 200), 1) == 200)
        #expect(post(name("topic:", bytes: 201), 2) == 400)
    }

    /// Every schema that holds a channel uses the hub's pattern and limit.
    @Test func everySchemaUsesTheSameChannelRule() throws {
        let schemas = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Protocol/schemas")
        let files = try FileManager.default.contentsOfDirectory(atPath: schemas.path).filter { $0.hasSuffix(".json") }
        var rules: [String: JSON] = [:]
        func collect(_ node: JSON, _ path: String) {
            switch node {
            case .object(let fields):
                if case .object(let properties)? = fields["properties"], let channel = properties["channel"] {
                    rules[path] = channel
                }
                for (key, value) in fields { collect(value, path + "/" + key) }
            case .array(let items):
                for (i, item) in items.enumerated() { collect(item, path + "/\(i)") }
            default: break
            }
        }
        for file in files {
            collect(try JSON.parse(Array(try Data(contentsOf: schemas.appendingPathComponent(file)))), file)
        }
        #expect(rules.count >= 6)
        for (path, rule) in rules where !path.hasPrefix("server.error.") {
            #expect(rule["pattern"] == .string("^(user|topic|conversation|scans):[A-Za-z0-9_.:@=+-]+$"), "\(path)")
            #expect(rule["maxLength"] == .int(Int64(ChannelName.maxLength)), "\(path)")
        }
    }
}
