// RedisLink against a real, throwaway redis-server: delivery and order,
// sizes, bytes that look like protocol, a Redis that dies or freezes, the
// queue's bounds, URLs, and a stop() that returns.
import Foundation
import Logging
import SwitchboardHub
import Testing

@testable import SwitchboardRedis

/// Records what a link delivers and reports.
final class LinkRecorder: Sendable {
    let messages = Locked<[[UInt8]]>([])
    let events = Locked<[Bool]>([])

    var texts: [String] { messages.withLock { $0 }.map { String(decoding: $0, as: UTF8.self) } }
    var count: Int { messages.withLock { $0.count } }
    var reports: [Bool] { events.withLock { $0 } }

    func start(_ link: RedisLink) {
        link.start(
            receive: { message in self.messages.withLock { $0.append(message) } },
            changed: { up in self.events.withLock { $0.append(up) } })
    }
}

/// A started link and its recorder; waits (bounded) until it is up.
func startedLink(_ url: String, options: RedisLink.Options = .init()) throws -> (RedisLink, LinkRecorder) {
    let link = try RedisLink(url: url, logger: Logger(label: "test.redis"), options: options)
    let recorder = LinkRecorder()
    recorder.start(link)
    guard eventually({ recorder.reports == [true] }) else {
        link.stop()
        throw TestClientError.handshake("the Redis link did not come up")
    }
    return (link, recorder)
}

@Suite(.serialized) struct RedisLinkTests {
    @Test func twoLinksGetEveryMessageInEachSendersOrder() throws {
        let redis = try RedisServer()
        let (a, aGot) = try startedLink(redis.url)
        let (b, bGot) = try startedLink(redis.url)
        defer {
            a.stop()
            b.stop()
        }
        var accepted = 0
        for i in 0..<1000 {
            if a.send(Array("A:\(i)".utf8)) { accepted += 1 }
            if b.send(Array("B:\(i)".utf8)) { accepted += 1 }
        }
        #expect(accepted == 2000)
        #expect(eventually { aGot.count >= 2000 && bGot.count >= 2000 })
        for got in [aGot, bGot] {
            let texts = got.texts
            #expect(texts.count == 2000)
            for sender in ["A:", "B:"] {
                #expect(firstDifference(texts.filter { $0.hasPrefix(sender) }, (0..<1000).map { "\(sender)\($0)" }) == nil)
            }
        }
    }

    @Test func aMessageOfTheLargestSizeArrivesWholeAndALargerOneIsRefused() throws {
        let redis = try RedisServer()
        let (a, _) = try startedLink(redis.url)
        let (b, bGot) = try startedLink(redis.url)
        defer {
            a.stop()
            b.stop()
        }
        let largest = (0..<ClusterLinkLimits.maxMessageBytes).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        // Bools, not arrays, in the expectations: a failure must not print a megabyte.
        let refusedLarger = !a.send(largest + [UInt8(ascii: "z")])
        #expect(refusedLarger)
        let acceptedLargest = a.send(largest)
        #expect(acceptedLargest)
        #expect(eventually { bGot.count == 1 })
        let arrivedWhole = bGot.messages.withLock { $0 } == [largest]
        #expect(arrivedWhole)
    }

    @Test func textThatLooksLikeTheProtocolSurvives() throws {
        let redis = try RedisServer()
        let (a, _) = try startedLink(redis.url)
        let (b, bGot) = try startedLink(redis.url)
        defer {
            a.stop()
            b.stop()
        }
        let texts = [
            "", " ", "\"quoted\" 'single' `back`", "line\nbreak\r\nand \\r\\n", "*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n",
            "%b %s %d %%", "NUL \u{0} inside (the hub sends none; the wire carries it)", "Grüße, 你好, مرحبا, 🎉👩‍🔧",
            "\u{7f}\u{1}\u{1b}[31m", String(repeating: "€", count: 5000),
        ]
        for text in texts { #expect(a.send(Array(text.utf8))) }
        #expect(eventually { bGot.count == texts.count })
        #expect(bGot.texts == texts)
    }

    @Test func aRestartIsReportedOnceEachWayAndMessagesFlowAgain() throws {
        let redis = try RedisServer()
        let (a, aGot) = try startedLink(redis.url)
        let (b, bGot) = try startedLink(redis.url)
        defer {
            a.stop()
            b.stop()
        }
        redis.stop()
        #expect(eventually { aGot.reports == [true, false] && bGot.reports == [true, false] })
        #expect(!a.isHealthy)
        #expect(!a.send(Array("while down".utf8)))
        try redis.restart()
        #expect(eventually { aGot.reports == [true, false, true] && bGot.reports == [true, false, true] })
        #expect(a.isHealthy)
        #expect(a.send(Array("after".utf8)))
        #expect(eventually { bGot.texts.contains("after") && aGot.texts.contains("after") })
        #expect(!bGot.texts.contains("while down"))
        #expect(aGot.reports == [true, false, true])
    }

    @Test func aFrozenRedisCountsAsLostAndIsRejoined() throws {
        let redis = try RedisServer()
        var options = RedisLink.Options()
        options.pingInterval = 0.2
        options.silenceLimit = 1
        options.timeoutMs = 500
        let (a, aGot) = try startedLink(redis.url, options: options)
        defer { a.stop() }
        redis.suspend()
        #expect(eventually { aGot.reports == [true, false] })
        redis.resume()
        #expect(eventually { aGot.reports == [true, false, true] })
        #expect(a.send(Array("thawed".utf8)))
        #expect(eventually { aGot.texts == ["thawed"] })
    }

    @Test func aFullQueueRefusesWhileTheLinkStaysUp() throws {
        let redis = try RedisServer()
        var options = RedisLink.Options()
        options.maxQueuedMessages = 3
        options.maxQueuedBytes = 1000
        options.timeoutMs = 10_000
        options.silenceLimit = 20
        let (a, aGot) = try startedLink(redis.url, options: options)
        defer { a.stop() }
        #expect(!a.send([UInt8](repeating: 65, count: 1001)))
        // Frozen, Redis answers no PUBLISH: the sender waits on its batch and the queue fills.
        redis.suspend()
        var sent: [String] = []
        var refusedWhileUp = false
        for i in 0..<200 {
            if a.send(Array("m\(i)".utf8)) {
                sent.append("m\(i)")
            } else {
                refusedWhileUp = a.isHealthy
                break
            }
        }
        #expect(refusedWhileUp)
        // At most a batch in flight and a full queue.
        #expect(sent.count <= 3 + 3)
        redis.resume()
        #expect(eventually { aGot.texts == sent })
        #expect(aGot.reports == [true])
    }

    @Test func aPasswordIsSentAndAWrongOneRefused() throws {
        let redis = try RedisServer(password: "s3cret p@ss")
        let escaped = "redis://:s3cret%20p%40ss@127.0.0.1:\(redis.port)"
        let (a, aGot) = try startedLink(escaped)
        defer { a.stop() }
        #expect(a.send(Array("authenticated".utf8)))
        #expect(eventually { aGot.texts == ["authenticated"] })
        let wrong = try RedisURL("redis://:nope@127.0.0.1:\(redis.port)")
        #expect {
            try RedisConnection(url: wrong, timeoutMs: 2000)
        } throws: { error in
            "\(error)".contains("AUTH refused") && !"\(error)".contains("nope")
        }
    }

    @Test func stopReturnsPromptlyAndNothingArrivesAfterIt() throws {
        let redis = try RedisServer()
        let (a, aGot) = try startedLink(redis.url)
        let (b, bGot) = try startedLink(redis.url)
        defer { b.stop() }
        #expect(a.send(Array("before".utf8)))
        #expect(eventually { aGot.count == 1 && bGot.count == 1 })
        #expect(stopsWithin(5, a))
        #expect(!a.send(Array("after stop".utf8)))
        #expect(b.send(Array("to b".utf8)))
        #expect(eventually { bGot.texts == ["before", "to b"] })
        #expect(aGot.texts == ["before"])

        // Also while it is reconnecting to a Redis that is gone.
        let (c, cGot) = try startedLink(redis.url)
        redis.stop()
        #expect(eventually { cGot.reports == [true, false] })
        #expect(stopsWithin(5, c))
    }

    /// nil when equal, else where and how `got` first differs from `want` (short, for a failure message).
    private func firstDifference(_ got: [String], _ want: [String]) -> String? {
        for (index, pair) in zip(got, want).enumerated() where pair.0 != pair.1 {
            return "at \(index): got \(pair.0), want \(pair.1)"
        }
        return got.count == want.count ? nil : "got \(got.count) messages, want \(want.count)"
    }

    /// Runs `link.stop()` on another thread; true when it returned within `seconds`.
    private func stopsWithin(_ seconds: Double, _ link: RedisLink) -> Bool {
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            link.stop()
            done.signal()
        }
        return done.wait(timeout: .now() + seconds) == .success
    }
}
