// The hub over fakes: auth paths, channels, publication, limits, shutdown.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct HubAuthTests {
    @Test func handshakeTokenAdmitsAndSubscribesToTheUserChannel() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        #expect(f.transport.types(to: 1) == ["welcome"])
        #expect(f.transport.frames(to: 1)[0]["channel"]?.stringValue == "user:alice")
        #expect(f.hub.registry.subscribers(of: "user:alice") == [1])
        #expect(f.store.connects == ["alice"])
    }

    @Test func authFrameWithinTheWindow() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: nil)
        f.send(1, #"{"type":"ping","id":"p"}"#)
        f.send(1, #"{"type":"subscribe","id":"s","channel":"topic:x"}"#)
        #expect(f.transport.lastError(to: 1) == "not_authenticated")
        f.clock.advance(seconds: 4)
        f.send(1, #"{"type":"auth","id":"a","token":"\#(f.token("alice"))"}"#)
        #expect(f.transport.frames(to: 1).last?["id"]?.stringValue == "a")
        #expect(f.transport.types(to: 1).last == "welcome")
        f.clock.advance(seconds: 2)
        f.hub.tick()
        #expect(f.transport.closed[1] == nil)
    }

    @Test func noAuthWithinFiveSecondsCloses4001() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: nil)
        f.clock.advance(seconds: 4.9)
        f.hub.tick()
        #expect(f.transport.closed[1] == nil)
        // Sessions are checked every 250 ms of loop time.
        f.clock.advance(seconds: 0.25)
        f.hub.tick()
        #expect(f.transport.closed[1] == .unauthorized)
    }

    @Test func badTokenGetsErrorThenClose() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: "garbage")
        #expect(f.transport.lastError(to: 1) == "unauthorized")
        #expect(f.transport.closed[1] == .unauthorized)
        #expect(f.store.connects.isEmpty)
    }

    @Test func expiredTokenAtHandshakeSaysTokenExpired() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice", ttl: -10))
        #expect(f.transport.lastError(to: 1) == "token_expired")
        #expect(f.transport.closed[1] == .unauthorized)
    }

    @Test func expiryClosesUnlessRefreshed() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice", ttl: 60))
        f.hub.connectionOpened(2, token: f.token("bob", ttl: 60))
        f.clock.advance(seconds: 30)
        f.send(1, #"{"type":"refresh","id":"r","token":"\#(f.token("alice", ttl: 600))"}"#)
        #expect(f.transport.types(to: 1).last == "refreshed")
        f.clock.advance(seconds: 31)
        f.hub.tick()
        #expect(f.transport.closed[1] == nil)
        #expect(f.transport.closed[2] == .tokenExpired)
    }

    @Test func lastSeenIsRecordedWhenTheLastConnectionCloses() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("alice"))
        #expect(f.store.connects == ["alice"])
        f.hub.connectionClosed(1)
        #expect(f.store.disconnects.isEmpty)
        f.hub.connectionClosed(2)
        #expect(f.store.disconnects == ["alice"])
    }
}

@Suite struct HubChannelTests {
    @Test func publicationIsEncodedOnceAndReachesEveryConnectionOfTheUser() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("alice"))
        f.hub.connectionOpened(3, token: f.token("bob"))
        f.transport.sent.removeAll()
        let count = f.hub.publish(channel: "user:alice", data: Array(#"{"n":1}"#.utf8))
        #expect(count == 2)
        #expect(Set(f.transport.sent.map(\.0)) == [1, 2])
        #expect(f.transport.sent[0].1 === f.transport.sent[1].1)
        #expect(f.transport.frames(to: 1)[0]["data"] == .object(["n": .int(1)]))
        #expect(f.transport.frames(to: 3).isEmpty)
    }

    @Test func usersCannotSubscribeToOtherUsers() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("mallory"))
        f.send(1, #"{"type":"subscribe","id":"s","channel":"user:alice"}"#)
        #expect(f.transport.lastError(to: 1) == "forbidden")
        f.send(1, #"{"type":"subscribe","id":"s2","channel":"bogus:1"}"#)
        #expect(f.transport.lastError(to: 1) == "bad_channel")
        #expect(f.hub.publish(channel: "user:alice", data: Array("1".utf8)) == 0)
    }

    @Test func topicSubscribeAndUnsubscribe() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(1, #"{"type":"subscribe","id":"s","channel":"topic:news"}"#)
        #expect(f.transport.types(to: 1).last == "subscribed")
        #expect(f.hub.publish(channel: "topic:news", data: Array("true".utf8)) == 1)
        f.send(1, #"{"type":"unsubscribe","id":"u","channel":"topic:news"}"#)
        #expect(f.hub.publish(channel: "topic:news", data: Array("true".utf8)) == 0)
        f.send(1, #"{"type":"unsubscribe","id":"u2","channel":"user:alice"}"#)
        #expect(f.transport.lastError(to: 1) == "forbidden")
    }

    @Test func closedConnectionsLeaveNoSubscriptions() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(1, #"{"type":"subscribe","channel":"topic:news"}"#)
        f.hub.connectionClosed(1)
        #expect(f.hub.registry.channelCount == 0)
    }
}

@Suite struct HubLimitTests {
    @Test func badInputGetsErrorsThenACloseAfterTheLimit() {
        let f = HubFixture {
            $0.badFrameLimit = 3; $0.frameBurst = 1000
        }
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.send(1, "not json")
        #expect(f.transport.lastError(to: 1) == "bad_json")
        f.send(1, #"{"type":"nope"}"#)
        #expect(f.transport.lastError(to: 1) == "unknown_type")
        f.hub.binaryReceived(1)
        #expect(f.transport.lastError(to: 1) == "binary_not_supported")
        #expect(f.transport.closed[1] == nil)
        f.send(1, "{}")
        #expect(f.transport.lastError(to: 1) == "missing_field")
        #expect(f.transport.closed[1] == .badFrames)
    }

    @Test func floodIsRateLimitedThenClosed() {
        let f = HubFixture {
            $0.framesPerSecond = 10; $0.frameBurst = 20; $0.rateLimitGrace = 50
        }
        f.hub.connectionOpened(1, token: f.token("alice"))
        for _ in 0..<20 { f.send(1, #"{"type":"ping"}"#) }
        #expect(f.transport.types(to: 1).filter { $0 == "pong" }.count == 20)
        f.send(1, #"{"type":"ping"}"#)
        #expect(f.transport.lastError(to: 1) == "rate_limited")
        #expect(f.transport.closed[1] == nil)
        for _ in 0..<50 { f.send(1, #"{"type":"ping"}"#) }
        #expect(f.transport.closed[1] == .rateLimited)
    }

    @Test func bucketRefillsWithTime() {
        var bucket = TokenBucket(ratePerSecond: 10, burst: 2, nowMillis: 0)
        let first = bucket.take(nowMillis: 0), second = bucket.take(nowMillis: 0), third = bucket.take(nowMillis: 0)
        #expect(first && second && !third)
        let refilled = bucket.take(nowMillis: 100), again = bucket.take(nowMillis: 100)
        #expect(refilled && !again)
    }

    @Test func shutdownClosesEveryoneWith1001AndRefusesNewcomers() {
        let f = HubFixture()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: nil)
        f.hub.beginShutdown()
        #expect(f.transport.closed == [1: .goingAway, 2: .goingAway])
        f.hub.connectionOpened(3, token: f.token("bob"))
        #expect(f.transport.closed[3] == .goingAway)
    }
}
