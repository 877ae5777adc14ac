// Issue 10: input that used to trap or impersonate, answered with a clear
// error instead. Each test failed before its fix.
import SwitchboardAuth
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct HostileInputTests {
    func status(_ f: HubFixture, _ request: HTTPRequest, id: HTTPRequestID) -> Int? {
        f.hub.handleHTTP(request, id: id)
        f.scans.flush()
        return f.transport.responses[id]?.status
    }

    /// Defect 1: these ranges trapped on Int64 overflow and killed the process.
    @Test(arguments: [
        "to=9223372036854775807",
        "from=-9223372036854775808",
        "to=-9223372036854775808",
        "from=-9223372036854775807&to=1000000000000",
        "from=9223372036854775807",
        "to=-1",
        "from=0000-01-01T00:00:00Z",
    ])
    func statsRangesAtTheInt64ExtremesAre400(query: String) {
        let f = HubFixture()
        let request = HTTPRequest(
            method: "GET", path: "/v1/qr-codes/999999/stats",
            query: HTTPResponse.parseQuery(query + "&bucket=day"),
            authorization: "Bearer " + f.token("alice"))
        #expect(status(f, request, id: 1) == 400)
    }

    @Test func statsAtTheLatestAcceptedInstantStillAnswers() {
        let f = HubFixture()
        let query = "bucket=day&from=253402214400000&to=253402300799999"
        let request = HTTPRequest(
            method: "GET", path: "/v1/qr-codes/999999/stats", query: HTTPResponse.parseQuery(query),
            authorization: "Bearer " + f.token("alice"))
        #expect(status(f, request, id: 1) == 404)  // a valid range; the code does not exist
    }

    /// Defect 1: a signed token whose `exp` is ≥ ~9.3e15 trapped turning it into ms.
    @Test(arguments: [Int64(9_300_000_000_000_000), Int64.max, -1])
    func aTokenWithAnOutOfRangeExpIsRefused(exp: Int64) {
        let f = HubFixture()
        let token = JWTSigner.hs256(Claims(subject: "mallory", expiresAt: exp), secret: HubFixture.secret)
        f.hub.connectionOpened(1, token: token)
        #expect(f.transport.closed[1] == .unauthorized)
        let request = HTTPRequest(method: "GET", path: "/v1/me", authorization: "Bearer " + token)
        #expect(status(f, request, id: 1) == 401)
    }

    /// Defect 4: `victim\0evil` acted as `victim` once libpq cut it at NUL.
    /// Defect 5: `system` and `backend:<name>` are the hub's own identities.
    @Test(arguments: [
        "victim\u{0}evil", "sys\u{1b}[0m", "system", "backend:dev", "line\nbreak", String(repeating: "x", count: 257),
    ])
    func reservedOrControlCharacterSubjectsAreRefused(subject: String) {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token(subject))
        #expect(f.transport.closed[1] == .unauthorized)
        #expect(f.transport.lastError(to: 1) == "unauthorized")
        #expect(status(f, HTTPRequest(method: "GET", path: "/v1/me", authorization: "Bearer " + f.token(subject)), id: 1) == 401)
    }

    @Test func tokensWithoutExpAreRefusedUnlessAllowed() {
        let strict = HubFixture()
        let forever = JWTSigner.hs256(Claims(subject: "alice"), secret: HubFixture.secret)
        strict.hub.connectionOpened(1, token: forever)
        #expect(strict.transport.closed[1] == .unauthorized)
        let lenient = HubFixture { $0.jwt.requireExpiry = false }
        lenient.hub.connectionOpened(1, token: forever)
        #expect(lenient.transport.closed[1] == nil)
        #expect(lenient.transport.types(to: 1) == ["welcome"])
    }

    @Test func refreshMayNotChangeTheRole() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice", role: "client"))
        f.send(1, #"{"type":"refresh","id":"r1","token":"\#(f.token("alice", ttl: 900, role: "admin"))"}"#)
        #expect(f.transport.lastError(to: 1) == "forbidden")
        f.send(1, #"{"type":"refresh","id":"r2","token":"\#(f.token("alice", ttl: 900, role: "client"))"}"#)
        #expect(f.transport.types(to: 1).last == "refreshed")
    }

    @Test func aUserMayHoldOnlyTheConfiguredNumberOfConnections() {
        let f = HubFixture { $0.maxConnectionsPerUser = 2 }
        for id: ConnectionID in 1...3 { f.hub.connectionOpened(id, token: f.token("alice")) }
        #expect(f.transport.closed[1] == nil && f.transport.closed[2] == nil)
        #expect(f.transport.closed[3] == .tooManyConnections)
        #expect(f.transport.lastError(to: 3) == "too_many_connections")
        f.hub.connectionClosed(3)
        f.hub.connectionClosed(1)
        f.hub.connectionOpened(4, token: f.token("alice"))
        #expect(f.transport.closed[4] == nil)
        #expect(f.hub.connectionCount(of: "alice") == 2)
    }

    /// Defect 4: NUL in a query value acted as the value cut at NUL.
    @Test func nulInAQueryOrAnIdempotencyKeyIs400() {
        let f = HubFixture()
        let owner = HTTPRequest(method: "GET", path: "/v1/qr-codes", query: ["owner": "alice\u{0}x"], apiKey: HubFixture.apiKey)
        #expect(status(f, owner, id: 1) == 400)
        let key = HTTPRequest(
            method: "POST", path: "/v1/notify", apiKey: HubFixture.apiKey, idempotencyKey: "k\u{1}",
            body: Array(#"{"user_ids":["bob"],"kind":"project_update","title":"t"}"#.utf8))
        #expect(status(f, key, id: 2) == 400)
    }

    /// Defect 5: the hub's own identities cannot be named as users by anyone.
    @Test(arguments: ["system", "backend:dev", "bo\u{0}b"])
    func reservedUserIdsInBodiesAre400(user: String) {
        let f = HubFixture()
        let json = JSON.string(user).bytes
        let quoted = String(decoding: json, as: UTF8.self)
        let notify = HTTPRequest(
            method: "POST", path: "/v1/notify", apiKey: HubFixture.apiKey,
            body: Array(#"{"user_ids":[\#(quoted)],"kind":"project_update","title":"t"}"#.utf8))
        #expect(status(f, notify, id: 1) == 400)
        let project = HTTPRequest(
            method: "POST", path: "/v1/projects", apiKey: HubFixture.apiKey,
            body: Array(#"{"client":"alice","craftsman":\#(quoted),"title":"t"}"#.utf8))
        #expect(status(f, project, id: 2) == 400)
        let conversation = HTTPRequest(
            method: "POST", path: "/v1/conversations", authorization: "Bearer " + f.token("alice"),
            body: Array(#"{"participants":[\#(quoted)]}"#.utf8))
        #expect(status(f, conversation, id: 3) == 400)
    }

    /// Defect 8: a publication larger than the queue bound disconnected every subscriber.
    @Test func aPublicationThatCannotFitASubscribersQueueIs413() {
        let f = HubFixture { $0.maxPublicationBytes = 4_096 }
        f.hub.connectionOpened(1, token: f.token("alice"))
        func publish(_ size: Int, id: HTTPRequestID) -> Int? {
            let body = #"{"channel":"user:alice","data":""# + String(repeating: "x", count: size) + #""}"#
            return status(
                f, HTTPRequest(method: "POST", path: "/v1/publish", apiKey: HubFixture.apiKey, body: Array(body.utf8)), id: id)
        }
        #expect(publish(5_000, id: 1) == 413)
        #expect(f.transport.types(to: 1) == ["welcome"])
        #expect(publish(3_000, id: 2) == 200)
        #expect(f.transport.types(to: 1) == ["welcome", "publication"])
    }

    /// A quote's `valid_until` is range-checked where it enters (it became a
    /// timestamptz and took part in time arithmetic unchecked).
    @Test(arguments: ["9223372036854775807", "-1", "253402300800000"])
    func aQuoteValidUntilOutOfRangeIsABadFrame(until: String) {
        let f = HubFixture()
        f.chat.members[1] = ["alice", "bob"]
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(
            1,
            #"{"type":"send","id":"q","conversation":"1","client_msg_id":"q1","kind":"quote","body":{"amount":100,"currency":"RON","valid_until":\#(until)}}"#
        )
        f.chat.flush()
        #expect(f.transport.lastError(to: 1) == "bad_frame")
        #expect(f.chat.messages[1] == nil)
    }

    // MARK: Found by the attack on the hardened hub

    /// Any member could disconnect the others (4009) with 1 MiB REST messages or edits.
    @Test func messageBodiesHaveOneSizeLimitEverywhere() {
        let f = HubFixture()
        f.chat.members[1] = ["alice", "bob"]
        let big = String(repeating: "F", count: SendRequest.maxBodyBytes)
        let auth = "Bearer " + f.token("alice")
        let send = HTTPRequest(
            method: "POST", path: "/v1/conversations/1/messages", authorization: auth,
            body: Array(#"{"client_msg_id":"c1","body":{"text":"\#(big)"}}"#.utf8))
        #expect(status(f, send, id: 1) == 413)
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(1, #"{"type":"send","id":"s","conversation":"1","client_msg_id":"c2","kind":"text","body":{"text":"\#(big)"}}"#)
        #expect(f.transport.lastError(to: 1) == "payload_too_large")
        f.chat.commit(
            NewMessage(conversation: 1, sender: "alice", clientMessageID: "c3", kind: .text, body: Array(#"{"text":"hi"}"#.utf8)))
        let id = f.chat.messages[1]!.last!.id
        let editing = HTTPRequest(
            method: "PATCH", path: "/v1/messages/\(id)", authorization: auth,
            body: Array(#"{"body":{"text":"\#(big)"}}"#.utf8))
        #expect(status(f, editing, id: 2) == 413)
        #expect(f.chat.messages[1]?.count == 1)
    }

    /// A replay that cannot fit half the queue bound is `recovered: false`,
    /// instead of a 4009 on every reconnect.
    @Test func aReplayLargerThanHalfTheQueueBoundIsNotSent() {
        let f = HubFixture { $0.maxPublicationBytes = 8_192 }
        f.chat.members[1] = ["alice", "bob"]
        let text = String(repeating: "x", count: 1_000)
        for i in 1...10 {
            f.chat.commit(
                NewMessage(
                    conversation: 1, sender: "bob", clientMessageID: "m\(i)", kind: .text,
                    body: Array(#"{"text":"\#(text)"}"#.utf8)))
        }
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(1, #"{"type":"subscribe","id":"s","channel":"conversation:1","since":0}"#)
        f.chat.flush()
        #expect(!f.transport.types(to: 1).contains("message"))
        let subscribed = f.transport.frames(to: 1).first { $0["type"]?.stringValue == "subscribed" }
        #expect(subscribed?["recovered"] == .bool(false))
        #expect(subscribed?["last_seq"] == .int(10))
        f.send(1, #"{"type":"subscribe","id":"t","channel":"conversation:1","since":8}"#)
        f.chat.flush()
        #expect(f.transport.types(to: 1).filter { $0 == "message" }.count == 2)
    }

    /// Subscriptions cost memory for the connection's life: capped.
    @Test func subscriptionsPerConnectionAreCapped() {
        let f = HubFixture { $0.maxSubscriptionsPerConnection = 3 }
        f.hub.connectionOpened(1, token: f.token("alice"))  // user:alice is one
        for i in 1...3 { f.send(1, #"{"type":"subscribe","id":"\#(i)","channel":"topic:t\#(i)"}"#) }
        #expect(f.transport.types(to: 1).filter { $0 == "subscribed" }.count == 2)
        #expect(f.transport.lastError(to: 1) == "too_many_subscriptions")
        f.send(1, #"{"type":"subscribe","id":"again","channel":"topic:t1"}"#)  // already subscribed: fine
        #expect(f.transport.types(to: 1).last == "subscribed")
        f.send(1, #"{"type":"unsubscribe","id":"u","channel":"topic:t1"}"#)
        f.send(1, #"{"type":"subscribe","id":"4","channel":"topic:t4"}"#)
        #expect(f.transport.types(to: 1).last == "subscribed")
    }

    /// Subscribes still waiting for the store (a conversation's membership
    /// and replay) count against the cap: pipelined, they cannot pass it.
    @Test func pipelinedConversationSubscribesAreCapped() {
        let f = HubFixture { $0.maxSubscriptionsPerConnection = 3 }
        for c in 1...5 { f.chat.members[Int64(c)] = ["alice", "bob"] }
        f.hub.connectionOpened(1, token: f.token("alice"))  // user:alice is one
        for c in 1...5 { f.send(1, #"{"type":"subscribe","id":"\#(c)","channel":"conversation:\#(c)"}"#) }
        f.chat.flush()
        #expect(f.transport.types(to: 1).filter { $0 == "subscribed" }.count == 2)
        #expect(f.transport.types(to: 1).filter { $0 == "error" }.count == 3)
        #expect(f.transport.lastError(to: 1) == "too_many_subscriptions")
        // Resubscribing to a conversation already held (or still opening) is not one more.
        f.send(1, #"{"type":"subscribe","id":"again","channel":"conversation:1","since":0}"#)
        f.chat.flush()
        #expect(f.transport.types(to: 1).last == "subscribed")
    }

    /// The redirect service sends scanners to `target`.
    @Test(arguments: [
        "javascript:alert(1)", "data:text/html,<script>x</script>", "file:///etc/passwd", "//evil.example",
        "https://x\r\nSet-Cookie: a=b", "https://", "https:///path", "ftp://x.example", "https://a b.example",
    ])
    func aQRTargetMustBeAnAbsoluteHTTPURL(target: String) {
        let f = HubFixture()
        let body = #"{"label":"door","target":"# + String(decoding: JSON.string(target).bytes, as: UTF8.self) + "}"
        let request = HTTPRequest(
            method: "POST", path: "/v1/qr-codes", authorization: "Bearer " + f.token("alice"), body: Array(body.utf8))
        #expect(status(f, request, id: 1) == 400)
        #expect(ScansFeature.isRedirectTarget("https://example.com/a?b=c") && ScansFeature.isRedirectTarget("HTTP://x.example"))
    }

    @Test(arguments: ["limit=abc", "limit=1.5", "limit=0", "limit=-1", "limit=99999999999999999999"])
    func aLimitThatIsNotAnIntegerInRangeIs400(query: String) {
        let f = HubFixture()
        let request = HTTPRequest(
            method: "GET", path: "/v1/notifications", query: HTTPResponse.parseQuery(query),
            authorization: "Bearer " + f.token("alice"))
        #expect(status(f, request, id: 1) == 400)
    }

    @Test func aConversationProjectIdFollowsTheIdRules() {
        let f = HubFixture()
        let request = HTTPRequest(
            method: "POST", path: "/v1/conversations", authorization: "Bearer " + f.token("alice"),
            body: Array(#"{"participants":["bob"],"project_id":"\u001b[2J\r\nx"}"#.utf8))
        #expect(status(f, request, id: 1) == 400)
    }

    @Test func aSinceOnTheURLThatIsNotAnIdIsAnswered() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice"), since: -1)
        #expect(f.transport.types(to: 1) == ["welcome", "error"])
        #expect(f.transport.lastError(to: 1) == "bad_request")
    }
}
