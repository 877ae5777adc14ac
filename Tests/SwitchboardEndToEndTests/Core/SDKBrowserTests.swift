// The JavaScript SDK (Clients/js/switchboard.js, served by the hub at
// /sdk/switchboard.js) in headless Chromium against real hub processes: a
// hub killed mid-conversation, a killed socket, token refresh, request
// timeouts and a silently dead connection.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The repository's root (this file is Tests/SwitchboardEndToEndTests/Core/…).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

extension HubProcess {
    /// A hub started again after `crash()`: the same port and database.
    func restarted(extra: [String] = []) throws -> HubProcess {
        try HubProcess(extra: extra + ["--port", String(port)])
    }
}

extension Browser {
    /// A tab at the hub's origin (the CSP allows scripts from the hub only)
    /// running one SDK client `sb`, whose events go to `log`. `options` is a
    /// JavaScript object literal merged into the client's options. The
    /// client's sockets are kept in `log.sockets` (to kill one); while
    /// `offline` is true its new sockets fail at once.
    func sdkPage(port: Int, options: String) throws -> BrowserPage {
        let page = try open("http://127.0.0.1:\(port)/")
        try page.startSDK(options: options)
        return page
    }
}

extension BrowserPage {
    /// Starts the client `sb` in this tab (see `Browser.sdkPage`).
    func startSDK(options: String) throws {
        // A new tab starts at about:blank, complete at once: wait for the hub's page.
        _ = wait(for: "location.protocol === 'http:' && document.readyState === 'complete'", toBe: "1", timeout: 15)
        let setup = """
            (async () => {
              const { Switchboard } = await import(location.origin + "/sdk/switchboard.js");
              const log = window.log = { messages: [], acks: [], states: [], errors: [], welcomes: 0, refreshed: 0, sockets: [], frames: [] };
              window.offline = false;
              class TrackedSocket extends WebSocket {
                constructor(url, protocol) { super(window.offline ? "ws://127.0.0.1:9/" : url, protocol); log.sockets.push(this); }
              }
              window.sb = new Switchboard({ WebSocket: TrackedSocket, backoffBase: 100, backoffMax: 1000, ...(\(options)) });
              sb.on("message", (m) => log.messages.push(m));
              sb.on("ack", (a) => log.acks.push(a));
              sb.on("state", (s) => log.states.push(s.state));
              sb.on("error", (e) => log.errors.push(e.code + ": " + e.message));
              sb.on("welcome", () => log.welcomes++);
              sb.on("refreshed", () => log.refreshed++);
              sb.on("frame", (f) => log.frames.push(JSON.stringify(f)));
              sb.connect();
              return true;
            })()
            """
        guard try evaluate(setup) as? Bool == true else { throw TestClientError.handshake("SDK setup failed") }
    }

    /// The `message` events so far as (seq, text), in arrival order.
    func messages() throws -> [(seq: Int, text: String)] {
        let json = try evaluate("JSON.stringify(log.messages.map((m) => [m.seq, m.body.text]))") as? String ?? "[]"
        let list = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[Any]] ?? []
        return list.map { ($0[0] as? Int ?? -1, $0[1] as? String ?? "") }
    }

    /// Checks every frame the page's client received against its schema.
    func checkFrames(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let frames = try evaluate("log.frames") as? [String] ?? []
        #expect(!frames.isEmpty)
        for frame in frames { FrameSchemas.check(frame, sourceLocation: sourceLocation) }
    }

    /// The client_msg_ids of the `ack` events so far.
    func acks() throws -> [String] {
        (try evaluate("log.acks.map((a) => a.client_msg_id)") as? [Any] ?? []).map { "\($0)" }
    }

    func waitLive(timeout: TimeInterval = 20) -> Bool {
        wait(for: "sb.state", toBe: "live", timeout: timeout) != nil
    }

    /// Queues a text message in the SDK's outbox; returns its client_msg_id.
    @discardableResult
    func send(_ conversation: String, _ text: String) throws -> String {
        let js =
            #"(() => { sb.send("\#(conversation)", { text: "\#(text)" }).catch(() => {}); return sb.pending().at(-1).client_msg_id; })()"#
        return try evaluate(js) as? String ?? ""
    }
}

@Suite(.serialized) struct SDKBrowserTests {
    /// Every message once, in seq order 1…n, with exactly the texts expected.
    func expectExactly(_ page: BrowserPage, _ expected: Set<String>, _ who: String) throws {
        let seen = try page.messages()
        #expect(seen.map(\.seq) == Array(1...max(1, expected.count)), "\(who): seqs \(seen.map(\.seq))")
        #expect(Set(seen.map(\.text)) == expected && seen.count == expected.count, "\(who): \(seen.map(\.text))")
    }

    @Test func aHubKilledMidConversationAndAKilledSocketLoseNothingAndShowNothingTwice() throws {
        // A small outbound bound makes the hub refuse a replay of ~40 KB
        // (half the bound): the killed-socket gap is filled from REST pages.
        let flags = ["--max-queue-bytes", "65536"]
        var hub = try HubProcess(extra: flags)
        let port = hub.port
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conversation = try hub.conversation(alice, with: [bob])
        let browser = try Browser()
        let a = try browser.sdkPage(port: port, options: #"{ token: "\#(hub.token(alice))" }"#)
        let b = try browser.sdkPage(port: port, options: #"{ token: "\#(hub.token(bob))" }"#)
        var expected: Set<String> = []
        for page in [a, b] {
            #expect(page.waitLive())
            _ = try page.evaluate(#"sb.subscribe("conversation:\#(conversation)", { since: 0 }).then(() => true)"#)
        }
        try a.send(conversation, "a1")
        try b.send(conversation, "b1")
        expected.formUnion(["a1", "b1"])
        #expect(a.wait(for: "log.messages.length", toBe: "2", timeout: 10) != nil)
        #expect(b.wait(for: "log.messages.length", toBe: "2", timeout: 10) != nil)

        // kill -9 with a send on the wire: committed or not, it is sent
        // again with its client_msg_id and stored once.
        try a.send(conversation, "a in flight")
        hub.crash()
        expected.insert("a in flight")
        for page in [a, b] { #expect(page.wait(for: "sb.state", toBe: "reconnecting", timeout: 10) != nil) }
        for text in ["a2", "a3"] { try a.send(conversation, text) }
        for text in ["b2", "b3"] { try b.send(conversation, text) }
        expected.formUnion(["a2", "a3", "b2", "b3"])
        hub = try hub.restarted(extra: flags)
        for (page, count) in [(a, 4), (b, 3)] {
            #expect(page.waitLive())
            #expect(page.wait(for: "log.messages.length", toBe: "\(expected.count)", timeout: 20) != nil)
            #expect(page.wait(for: "sb.pending().length", toBe: "0", timeout: 10) != nil)
            let acks = try page.acks()
            #expect(acks.count == count && Set(acks).count == count, "acked once each: \(acks)")
        }

        // Alice's socket is killed and she stays offline while bob sends
        // ~40 KB (past the replay bound): her resume pages REST, then goes live.
        _ = try a.evaluate("window.offline = true; log.sockets.at(-1).close(); true")
        #expect(a.wait(for: "sb.state", toBe: "reconnecting", timeout: 10) != nil)
        let long = String(repeating: "x", count: 4000)
        for i in 1...10 { try b.send(conversation, "gap \(i) " + long) }
        expected.formUnion((1...10).map { "gap \($0) " + long })
        #expect(b.wait(for: "sb.pending().length", toBe: "0", timeout: 20) != nil)
        try a.send(conversation, "a4")
        expected.insert("a4")
        _ = try a.evaluate("window.offline = false; true")
        #expect(a.waitLive())
        try b.send(conversation, "b4")
        expected.insert("b4")
        for page in [a, b] {
            #expect(page.wait(for: "log.messages.length", toBe: "\(expected.count)", timeout: 20) != nil)
            #expect(page.wait(for: "sb.pending().length", toBe: "0", timeout: 10) != nil)
        }
        #expect(try a.acks().count == 5 && Set(try a.acks()).count == 5)
        // The hub replays everything again (a raw subscribe from 0, past the
        // SDK's cursor): shown once still.
        let replay =
            #"sb.request({ type: "subscribe", channel: "conversation:\#(conversation)", since: 0 }).then((f) => f.last_seq)"#
        #expect(try b.evaluate(replay) as? Int == expected.count)
        try expectExactly(a, expected, "alice")
        try expectExactly(b, expected, "bob")
        for page in [a, b] { try page.checkFrames() }
        let stored = try TestDatabase.query(
            "SELECT count(*), count(DISTINCT client_msg_id) FROM messages WHERE conversation_id = $1", [conversation])
        #expect(stored.first == ["\(expected.count)", "\(expected.count)"])
        let recovered = try a.evaluate("log.errors.join('|')") as? String ?? ""
        print("sdk: alice's errors along the way: \(recovered)")
    }

    @Test func theOutboxSurvivesAPageReloadAndIsSentOnce() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conversation = try hub.conversation(alice, with: [bob])
        let browser = try Browser()
        let options = #"{ token: "\#(hub.token(alice))" }"#
        let a = try browser.sdkPage(port: hub.port, options: options)
        #expect(a.waitLive())
        _ = try a.evaluate("window.offline = true; log.sockets.at(-1).close(); true")
        #expect(a.wait(for: "sb.state", toBe: "reconnecting", timeout: 10) != nil)
        try a.send(conversation, "kept 1")
        try a.send(conversation, "kept 2")
        // The page is reloaded with both unsent: the new client finds them
        // in localStorage and sends them.
        _ = try a.evaluate("location.reload(); true")
        #expect(a.wait(for: "typeof window.sb", toBe: "undefined", timeout: 10) != nil)
        try a.startSDK(options: options)
        #expect(a.waitLive())
        #expect(a.wait(for: "sb.pending().length", toBe: "0", timeout: 20) != nil)
        #expect(try a.acks().count == 2)
        let stored = try TestDatabase.query(
            "SELECT body->>'text' FROM messages WHERE conversation_id = $1 ORDER BY seq", [conversation])
        #expect(stored.map { $0[0] ?? "" } == ["kept 1", "kept 2"])
    }

    @Test func aTokenProviderRefreshesBeforeExpiryOnTheSameConnection() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice")
        let browser = try Browser()
        let page = try browser.open("http://127.0.0.1:\(hub.port)/")
        // Tokens of 5, 10, 15, … seconds from now: each refresh must come
        // before the previous token expires, or the hub closes with 4002.
        let tokens = (1...8).map { "\"" + hub.token(alice, ttl: Int64(5 * $0)) + "\"" }.joined(separator: ",")
        let provider = "(() => { const t = [\(tokens)]; return async () => (t.length > 1 ? t.shift() : t[0]); })()"
        try page.startSDK(options: "{ token: \(provider) }")
        #expect(page.waitLive())
        let first = try page.evaluate("sb.expiresAt") as? Double ?? 0
        #expect(first > Date().timeIntervalSince1970 * 1000, "expires_at in ms: \(first)")
        #expect(page.wait(for: "log.refreshed >= 3", toBe: "1", timeout: 30) != nil)
        let errors = try page.evaluate("log.errors.join(' | ')") as? String ?? ""
        #expect(try page.evaluate("log.sockets.length") as? Int == 1, "one connection throughout: \(errors)")
        #expect(try page.evaluate("log.welcomes") as? Int == 1)
        #expect(try page.evaluate("sb.state") as? String == "live")
        #expect(try page.evaluate("sb.expiresAt") as? Double ?? 0 > first)
        try page.checkFrames()
    }

    @Test func requestsTimeOutAndASilentlyDeadConnectionIsReplaced() throws {
        let hub = try HubProcess()
        let alice = uniqueUser("alice"), bob = uniqueUser("bob")
        let conversation = try hub.conversation(alice, with: [bob])
        let browser = try Browser()
        let page = try browser.sdkPage(
            port: hub.port, options: #"{ token: "\#(hub.token(alice))", pingInterval: 500, pingTimeout: 1500 }"#)
        #expect(page.waitLive())
        _ = try page.evaluate(#"sb.subscribe("conversation:\#(conversation)").then(() => true)"#)
        #expect(try page.evaluate(#"sb.request({ type: "ping" }).then((p) => p.type)"#) as? String == "pong")

        // A stopped hub: the TCP connection stays open, nothing answers.
        let pid = hub.process.processIdentifier
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        let answer = try page.evaluate(
            #"sb.request({ type: "presence", users: ["\#(bob)"] }, { timeout: 300 }).then(() => "answered", (e) => e.code)"#)
        #expect(answer as? String == "timeout")
        #expect(page.wait(for: "sb.state", toBe: "reconnecting", timeout: 10) != nil, "no pong: the connection is dropped")
        try page.send(conversation, "sent while the hub was stopped")
        kill(pid, SIGCONT)
        #expect(page.waitLive())
        #expect(page.wait(for: "sb.pending().length", toBe: "0", timeout: 20) != nil)
        #expect(page.wait(for: "log.messages.length", toBe: "1", timeout: 10) != nil)
        #expect(try page.evaluate("log.sockets.length") as? Int ?? 0 >= 2)
    }

    @Test func theDashboardServesTheSDKsOwnFile() throws {
        // One file: Clients/js/switchboard.js is a link to the hub's resource
        // (SwiftPM would copy a link in the resources as a broken one).
        let link = repositoryRoot.appendingPathComponent("Clients/js/switchboard.js").path
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: link)
        #expect(target == "../../Sources/switchboard/Dashboard/sdk/switchboard.js")
        let sdk = try String(contentsOfFile: link, encoding: .utf8)
        let hub = try HubProcess()
        let r = try httpRequest(port: hub.port, "GET", "/sdk/switchboard.js")
        #expect(r.status == 200 && String(decoding: r.body, as: UTF8.self) == sdk)
    }
}
