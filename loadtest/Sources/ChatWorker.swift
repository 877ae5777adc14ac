// A chat worker: creates its pairs' conversations over REST, connects a
// sender and a recipient per pair, then (after GO) sends at its rate and
// times every ack and every delivery.
import ArgumentParser
import Foundation
import Histogram
import SwitchboardAuth
import SwitchboardWire

struct ChatWorkerReport: Codable {
    var connected = 0
    var sent = 0
    var acked = 0
    /// Error frames other than `overloaded`.
    var errors = 0
    /// Sends refused with `overloaded`, and those of them without a
    /// `retry_after` hint.
    var overloaded = 0
    var overloadedWithoutRetryAfter = 0
    /// Codes of every error frame, `overloaded` included.
    var errorCodes: [String: Int] = [:]
    /// Sends answered neither by an ack nor by an error (their connection
    /// closed, or the drain after the run timed out).
    var unanswered = 0
    /// Connections that closed during the run.
    var closed = 0
    var closeReasons: [String: Int] = [:]
    var delivered = 0
    var firstSendMicros: Int64 = 0
    var lastAckMicros: Int64 = 0
    var ack = Histogram<UInt64>(highestTrackableValue: 60_000_000)
    var delivery = Histogram<UInt64>(highestTrackableValue: 60_000_000)
    /// From a send to its `overloaded` error.
    var refusal = Histogram<UInt64>(highestTrackableValue: 60_000_000)
    /// Per target: acks by the sender's node, deliveries by the recipient's.
    var nodes: [ChatNodeFigures] = []
    /// Ack and delivery latency by the time they were measured (HTML report).
    var ackTimeline = LatencyTimeline()
    var deliveryTimeline = LatencyTimeline()
}

/// One target's share of a chat worker's figures.
struct ChatNodeFigures: Codable {
    /// Sends from senders connected to this node, and their acks.
    var sent = 0
    var acked = 0
    /// Messages received by recipients connected to this node.
    var delivered = 0
    var ack = Histogram<UInt64>(highestTrackableValue: 60_000_000)
    var delivery = Histogram<UInt64>(highestTrackableValue: 60_000_000)

    mutating func add(_ other: ChatNodeFigures) {
        sent += other.sent
        acked += other.acked
        delivered += other.delivered
        ack.add(other.ack)
        delivery.add(other.delivery)
    }
}

struct ChatWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat-worker", abstract: "(internal)", shouldDisplay: false)
    @Option(help: "Comma list of host:port. Pair g of the run: sender on target g % count, recipient on the next one.")
    var targets: String
    @Option var firstPair = 0
    @Option var pairs: Int
    @Option var rate: Double
    @Option var duration: Double
    @Option var source: String
    @Option var userPrefix: String
    @Option var secret: String
    @Option(help: "Connections per second while connecting (0: all at once).") var ramp = 0.0
    @Option(help: "The latency timelines' bucket.") var bucketMs = 1000
    @Option(help: "Where to write this worker's ledger (ChatLedger.swift) before DONE.") var ledger: String

    func run() throws { try ChatWorker(self).run() }
}

final class ChatWorker: LWSClientDelegate {
    let o: ChatWorkerCommand
    let pool: LWSClientPool
    var report = ChatWorkerReport()
    var ledger = ChatLedger()
    var conversations: [String] = []
    var senderTokens: [String] = []
    var recipientTokens: [String] = []
    var welcomed = 0
    var subscribed = 0
    /// Sends by number (their client_msg_id is `<user prefix>-<number>`,
    /// numbers from 1): when each was sent (µs, 0 once answered or given up)
    /// and by which pair. Flat arrays, not a dictionary keyed by id: no
    /// String per send.
    var sentAt: [Int64] = []
    var sentBy: [Int32] = []
    var inFlight = 0
    /// `<user prefix>-`: what every id of this worker starts with.
    var idPrefix: [UInt8] = []
    /// Acks (conversation, seq, send number) and refusals (conversation,
    /// send number), turned into the ledger's text ids at the end.
    var acks: [(conversation: Int64, seq: Int64, send: Int)] = []
    var refusals: [(conversation: Int64, send: Int)] = []
    /// Pairs whose sender connection closed: no more sends from them.
    var senderClosed: [Bool] = []
    var sendersClosed = 0
    /// Recipient connections that closed: their deliveries are not awaited.
    var recipientsClosed = 0
    var commands: StdinCommands?
    let targets: [Endpoint]

    init(_ options: ChatWorkerCommand) throws {
        o = options
        targets = try Endpoint.parseList(options.targets)
        guard !targets.isEmpty, options.firstPair >= 0, options.pairs > 0 else { throw ExitCode(2) }
        pool = try LWSClientPool(epoll: true)
        pool.delegate = self
        report.nodes = Array(repeating: ChatNodeFigures(), count: targets.count)
        let bucket = Int64(max(1, min(options.bucketMs, 3_600_000))) * 1000
        (report.ackTimeline, report.deliveryTimeline) = (
            LatencyTimeline(bucketMicros: bucket), LatencyTimeline(bucketMicros: bucket)
        )
    }

    /// The target of pair `pair`'s sender: round-robin over the targets.
    func senderNode(_ pair: Int) -> Int { (o.firstPair % targets.count + pair % targets.count) % targets.count }

    /// Its recipient's: the next target, so that with several every pair
    /// crosses nodes.
    func recipientNode(_ pair: Int) -> Int { (senderNode(pair) + 1) % targets.count }

    func run() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let secret = Array(o.secret.utf8)
        func token(_ user: String) -> String { JWTSigner.hs256(Claims(subject: user, expiresAt: now + 3600), secret: secret) }
        // Each conversation is created through its sender's node.
        let http = try targets.map { try Publisher(host: $0.host, port: $0.port, apiKey: "") }
        for i in 0..<o.pairs {
            let a = "\(o.userPrefix)-a\(i)", b = "\(o.userPrefix)-b\(i)"
            senderTokens.append(token(a))
            recipientTokens.append(token(b))
            let r = try http[senderNode(i)].post(
                "/v1/conversations", headers: ["Authorization": "Bearer " + senderTokens[i]],
                body: #"{"participants":["\#(b)"]}"#)
            guard let json = try? JSON.parse(r.body), let id = json["id"]?.stringValue, let number = Int64(id) else {
                throw ExitCode(3)
            }
            conversations.append(id)
            ledger.conversations.append(number)
        }
        idPrefix = Array("\(o.userPrefix)-".utf8)
        senderClosed = Array(repeating: false, count: o.pairs)
        let expected = Int(min(o.rate * o.duration, 50_000_000)) + 1
        sentAt.reserveCapacity(expected)
        sentBy.reserveCapacity(expected)
        acks.reserveCapacity(expected)
        let waker = pool.waker
        Thread { while true { usleep(50_000); waker.wake() } }.start()
        commands = StdinCommands.start()
        // Senders are ids 0..<pairs, recipients pairs..<2*pairs; with a
        // ramp, pair by pair at `ramp` connections per second.
        let rampStart = monotonicMicros()
        var connecting = 0
        while !(welcomed == 2 * o.pairs && subscribed == o.pairs) {
            let due =
                o.ramp > 0 ? min(o.pairs, Int(Double(monotonicMicros() - rampStart) / 1e6 * o.ramp / 2) + 1) : o.pairs
            while connecting < due {
                let i = connecting
                connecting += 1
                let sender = targets[senderNode(i)], recipient = targets[recipientNode(i)]
                pool.connect(
                    id: i, host: sender.host, port: sender.port, path: "/?token=" + senderTokens[i], sourceAddress: o.source)
                pool.connect(
                    id: o.pairs + i, host: recipient.host, port: recipient.port, path: "/?token=" + recipientTokens[i],
                    sourceAddress: o.source)
            }
            pool.service()
            if current() == "STOP" { finish() }
        }
        emit("READY")
        while current() != "GO" && current() != "STOP" { pool.service() }
        let start = monotonicMicros()
        let durationMicros = Int64(o.duration * 1e6)
        report.firstSendMicros = nowMicros()
        // `issued` paces the sends; the turn of a pair whose sender closed
        // passes unsent. The run ends early when every sender closed (the
        // hub went away).
        let conversationBytes = conversations.map { Array($0.utf8) }
        var frame: [UInt8] = []
        frame.reserveCapacity(256)
        var issued = 0
        while monotonicMicros() - start < durationMicros && current() != "STOP" && sendersClosed < o.pairs {
            let due = Int(Double(monotonicMicros() - start) / 1e6 * o.rate)
            while issued < due {
                let pair = issued % o.pairs
                issued += 1
                if senderClosed[pair] { continue }
                let sent = nowMicros()
                sentAt.append(sent)
                sentBy.append(Int32(pair))
                inFlight += 1
                // The id of send n is `<prefix>-n`: sentAt[n - 1].
                frame.removeAll(keepingCapacity: true)
                frame.appendLiteral(#"{"type":"send","id":""#)
                frame.append(contentsOf: idPrefix)
                frame.appendDecimal(Int64(sentAt.count))
                frame.appendLiteral(#"","conversation":""#)
                frame.append(contentsOf: conversationBytes[pair])
                frame.appendLiteral(#"","client_msg_id":""#)
                frame.append(contentsOf: idPrefix)
                frame.appendDecimal(Int64(sentAt.count))
                frame.appendLiteral(#"","kind":"text","body":{"text":"load","sent_us":"#)
                frame.appendDecimal(sent)
                frame.appendLiteral("}}")
                pool.send(pair, bytes: frame)
                report.sent += 1
                report.nodes[senderNode(pair)].sent += 1
            }
            pool.service()
        }
        // Answers still due, and deliveries while every recipient is connected.
        let drainUntil = monotonicMicros() + 10_000_000
        while (inFlight > 0 || (recipientsClosed == 0 && report.delivered < report.acked)) && monotonicMicros() < drainUntil {
            pool.service()
        }
        report.unanswered += inFlight
        finish()
    }

    func current() -> String { commands?.latest ?? "" }

    /// The client_msg_id of send `number`.
    func clientMessageID(_ number: Int) -> String { "\(o.userPrefix)-\(number)" }

    /// Writes the ledger, reports DONE and exits.
    func finish() -> Never {
        ledger.acks = acks.map {
            ChatLedger.Ack(conversation: $0.conversation, seq: $0.seq, clientMessageID: clientMessageID($0.send))
        }
        ledger.refusals = refusals.map {
            ChatLedger.Refusal(conversation: $0.conversation, clientMessageID: clientMessageID($0.send))
        }
        do { try ledger.write(to: o.ledger) } catch { report.errorCodes["ledger not written", default: 0] += 1 }
        emit("DONE")
        exit(0)
    }

    func emit(_ tag: String) {
        let data = (try? JSONEncoder().encode(report)) ?? Data()
        writeReportLine(Data((tag + " ").utf8) + data + Data("\n".utf8))
    }

    func clientOpened(_ id: Int) { report.connected += 1 }

    /// The send a frame's `id` names, still awaiting its answer: its number.
    func pendingSend(_ bytes: UnsafeRawBufferPointer, _ id: ByteSpan?) -> Int? {
        guard let id, id.end - id.start >= 2, bytes[id.start] == UInt8(ascii: "\""),
            let digits = bytes.span(ByteSpan(start: id.start + 1, end: id.end - 1), droppingPrefix: idPrefix),
            let n = bytes.integer(digits), n >= 1, n <= sentAt.count, sentAt[Int(n) - 1] != 0
        else { return nil }
        return Int(n)
    }

    /// Marks send `n` answered; when it was sent and by which pair.
    func answer(_ n: Int) -> (sent: Int64, pair: Int) {
        let sent = sentAt[n - 1]
        sentAt[n - 1] = 0
        inFlight -= 1
        return (sent, Int(sentBy[n - 1]))
    }

    func clientReceived(_ id: Int, _ message: UnsafeRawBufferPointer) {
        let now = nowMicros()
        guard var scanner = ObjectScanner(message) else { return }
        var type: ByteSpan?, requestID: ByteSpan?, conversation: ByteSpan?, seq: ByteSpan?, body: ByteSpan?
        var code: ByteSpan?, retryAfter: ByteSpan?
        while let (key, value) = scanner.next() {
            switch key.end - key.start {
            case 2 where message.span(key, is: "id"): requestID = value
            case 3 where message.span(key, is: "seq"): seq = value
            case 4 where message.span(key, is: "type"): type = value
            case 4 where message.span(key, is: "body"): body = value
            case 4 where message.span(key, is: "code"): code = value
            case 11 where message.span(key, is: "retry_after"): retryAfter = value
            case 12 where message.span(key, is: "conversation"): conversation = value
            default: break
            }
        }
        guard let type else { return }
        if message.span(type, is: #""message""#) {
            guard let body, var inner = ObjectScanner(message, body) else { return }
            while let (key, value) = inner.next() {
                guard message.span(key, is: "sent_us") else { continue }
                if let sent = message.integer(value) {
                    let latency = UInt64(max(0, now - sent))
                    _ = report.delivery.record(latency)
                    report.deliveryTimeline.record(latency, at: now)
                    report.delivered += 1
                    // By the node of the connection it came in on.
                    let node = id >= o.pairs ? recipientNode(id - o.pairs) : senderNode(id)
                    _ = report.nodes[node].delivery.record(latency)
                    report.nodes[node].delivered += 1
                }
                break
            }
        } else if message.span(type, is: #""ack""#) {
            guard let n = pendingSend(message, requestID) else { return }
            let send = answer(n)
            let latency = UInt64(max(0, now - send.sent))
            _ = report.ack.record(latency)
            report.ackTimeline.record(latency, at: now)
            report.acked += 1
            _ = report.nodes[senderNode(send.pair)].ack.record(latency)
            report.nodes[senderNode(send.pair)].acked += 1
            report.lastAckMicros = now
            if let conversation = conversation.flatMap({ message.quotedInteger($0) }),
                let seq = seq.flatMap({ message.integer($0) })
            {
                acks.append((conversation, seq, n))
            } else {
                // Not checkable in SQL: shown, so that a check that passes is not taken for more than it is.
                report.errorCodes["ack without conversation or seq", default: 0] += 1
            }
        } else if message.span(type, is: #""error""#) {
            // Errors to a send carry its id (the hub answers with the request id).
            let codeText =
                code.map { span in
                    message.plainString(span)
                        ?? (try? JSON.parse(UnsafeRawBufferPointer(rebasing: message[span.start..<span.end])))?.stringValue ?? "?"
                } ?? "?"
            let send = pendingSend(message, requestID).map { ($0, answer($0)) }
            report.errorCodes[codeText, default: 0] += 1
            if codeText == "overloaded" {
                report.overloaded += 1
                if retryAfter.flatMap({ message.integer($0) }) == nil { report.overloadedWithoutRetryAfter += 1 }
                if let (n, send) = send {
                    _ = report.refusal.record(UInt64(max(0, now - send.sent)))
                    if let conversation = Int64(conversations[send.pair]) { refusals.append((conversation, n)) }
                }
            } else {
                report.errors += 1
            }
        } else if message.span(type, is: #""welcome""#) {
            welcomed += 1
            if id >= o.pairs {
                pool.send(id, text: #"{"type":"subscribe","channel":"conversation:\#(conversations[id - o.pairs])"}"#)
            }
        } else if message.span(type, is: #""subscribed""#) {
            subscribed += 1
        }
    }

    func clientClosed(_ id: Int, failed: Bool, reason: String) {
        report.closed += 1
        report.closeReasons[String(reason.prefix(40)), default: 0] += 1
        guard id < o.pairs else { recipientsClosed += 1; return }
        if !senderClosed[id] {
            senderClosed[id] = true
            sendersClosed += 1
        }
        // Its sends will get no answer: stop waiting for them.
        for n in sentAt.indices where sentAt[n] != 0 && sentBy[n] == Int32(id) {
            sentAt[n] = 0
            inFlight -= 1
            report.unanswered += 1
        }
    }
}

extension [UInt8] {
    /// Appends the bytes of a static string.
    mutating func appendLiteral(_ s: StaticString) {
        append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// Appends `v` in decimal.
    mutating func appendDecimal(_ v: Int64) {
        if v < 0 { append(UInt8(ascii: "-")) }
        var m = v.magnitude
        let first = count
        repeat {
            append(UInt8(ascii: "0") + UInt8(m % 10))
            m /= 10
        } while m > 0
        self[first...].reverse()
    }
}

/// Microseconds on the monotonic clock (pacing: not moved by clock changes).
func monotonicMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}
