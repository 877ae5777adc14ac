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
}

struct ChatWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat-worker", abstract: "(internal)", shouldDisplay: false)
    @Option var host: String
    @Option var port: Int
    @Option var pairs: Int
    @Option var rate: Double
    @Option var duration: Double
    @Option var source: String
    @Option var userPrefix: String
    @Option var secret: String
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
    /// Client message id → when it was sent and by which pair.
    var inFlight: [String: (sent: Int64, pair: Int)] = [:]
    /// Pairs whose sender connection closed: no more sends from them.
    var senderClosed = Set<Int>()
    /// Recipient connections that closed: their deliveries are not awaited.
    var recipientsClosed = 0
    var commands: StdinCommands?

    init(_ options: ChatWorkerCommand) throws {
        o = options
        pool = try LWSClientPool()
        pool.delegate = self
    }

    func run() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let secret = Array(o.secret.utf8)
        func token(_ user: String) -> String { JWTSigner.hs256(Claims(subject: user, expiresAt: now + 3600), secret: secret) }
        let http = try Publisher(host: o.host, port: o.port, apiKey: "")
        for i in 0..<o.pairs {
            let a = "\(o.userPrefix)-a\(i)", b = "\(o.userPrefix)-b\(i)"
            senderTokens.append(token(a))
            recipientTokens.append(token(b))
            let r = try http.post(
                "/v1/conversations", headers: ["Authorization": "Bearer " + senderTokens[i]],
                body: #"{"participants":["\#(b)"]}"#)
            guard let json = try? JSON.parse(r.body), let id = json["id"]?.stringValue, let number = Int64(id) else {
                throw ExitCode(3)
            }
            conversations.append(id)
            ledger.conversations.append(number)
        }
        let waker = pool.waker
        Thread { while true { usleep(50_000); waker.wake() } }.start()
        commands = StdinCommands.start()
        // Senders are ids 0..<pairs, recipients pairs..<2*pairs.
        for i in 0..<o.pairs {
            pool.connect(id: i, host: o.host, port: o.port, path: "/?token=" + senderTokens[i], sourceAddress: o.source)
            pool.connect(
                id: o.pairs + i, host: o.host, port: o.port, path: "/?token=" + recipientTokens[i], sourceAddress: o.source)
        }
        while !(welcomed == 2 * o.pairs && subscribed == o.pairs) {
            pool.service()
            if current() == "STOP" { finish() }
        }
        emit("READY")
        while current() != "GO" && current() != "STOP" { pool.service() }
        let start = Date()
        report.firstSendMicros = nowMicros()
        // `issued` paces the sends; the turn of a pair whose sender closed
        // passes unsent. The run ends early when every sender closed (the
        // hub went away).
        var issued = 0
        while Date().timeIntervalSince(start) < o.duration && current() != "STOP" && senderClosed.count < o.pairs {
            let due = Int(Date().timeIntervalSince(start) * o.rate)
            while issued < due {
                let pair = issued % o.pairs
                issued += 1
                if senderClosed.contains(pair) { continue }
                let cid = "\(o.userPrefix)-\(issued)"
                let sent = nowMicros()
                inFlight[cid] = (sent, pair)
                pool.send(
                    pair,
                    text:
                        #"{"type":"send","id":"\#(cid)","conversation":"\#(conversations[pair])","client_msg_id":"\#(cid)","kind":"text","body":{"text":"load","sent_us":\#(sent)}}"#
                )
                report.sent += 1
            }
            pool.service()
        }
        // Answers still due, and deliveries while every recipient is connected.
        let drainUntil = Date().addingTimeInterval(10)
        while (!inFlight.isEmpty || (recipientsClosed == 0 && report.delivered < report.acked)) && Date() < drainUntil {
            pool.service()
        }
        report.unanswered += inFlight.count
        finish()
    }

    func current() -> String { commands?.latest ?? "" }

    /// Writes the ledger, reports DONE and exits.
    func finish() -> Never {
        do { try ledger.write(to: o.ledger) } catch { report.errorCodes["ledger not written", default: 0] += 1 }
        emit("DONE")
        exit(0)
    }

    func emit(_ tag: String) {
        let data = (try? JSONEncoder().encode(report)) ?? Data()
        FileHandle.standardOutput.write(Data((tag + " ").utf8) + data + Data("\n".utf8))
    }

    func clientOpened(_ id: Int) { report.connected += 1 }

    func clientReceived(_ id: Int, _ message: UnsafeRawBufferPointer) {
        let now = nowMicros()
        guard let json = try? JSON.parse(message), let type = json["type"]?.stringValue else { return }
        switch type {
        case "welcome":
            welcomed += 1
            if id >= o.pairs {
                pool.send(id, text: #"{"type":"subscribe","channel":"conversation:\#(conversations[id - o.pairs])"}"#)
            }
        case "subscribed":
            subscribed += 1
        case "ack":
            guard let cid = json["id"]?.stringValue, let sent = inFlight.removeValue(forKey: cid) else { return }
            _ = report.ack.record(UInt64(max(0, now - sent.sent)))
            report.acked += 1
            report.lastAckMicros = now
            if let conversation = json["conversation"]?.stringValue.flatMap({ Int64($0) }), let seq = json["seq"]?.intValue {
                ledger.acks.append(ChatLedger.Ack(conversation: conversation, seq: seq, clientMessageID: cid))
            } else {
                // Not checkable in SQL: shown, so that a check that passes is not taken for more than it is.
                report.errorCodes["ack without conversation or seq", default: 0] += 1
            }
        case "message":
            if let sent = json["body"]?["sent_us"]?.intValue {
                _ = report.delivery.record(UInt64(max(0, now - sent)))
                report.delivered += 1
            }
        case "error":
            // Errors to a send carry its id (the hub answers with the request id).
            let code = json["code"]?.stringValue ?? "?"
            let send = json["id"]?.stringValue.flatMap { cid in inFlight.removeValue(forKey: cid).map { (cid, $0) } }
            report.errorCodes[code, default: 0] += 1
            if code == "overloaded" {
                report.overloaded += 1
                if json["retry_after"]?.intValue == nil { report.overloadedWithoutRetryAfter += 1 }
                if let (cid, send) = send {
                    _ = report.refusal.record(UInt64(max(0, now - send.sent)))
                    if let conversation = Int64(conversations[send.pair]) {
                        ledger.refusals.append(ChatLedger.Refusal(conversation: conversation, clientMessageID: cid))
                    }
                }
            } else {
                report.errors += 1
            }
        default:
            break
        }
    }

    func clientClosed(_ id: Int, failed: Bool, reason: String) {
        report.closed += 1
        report.closeReasons[String(reason.prefix(40)), default: 0] += 1
        guard id < o.pairs else { recipientsClosed += 1; return }
        senderClosed.insert(id)
        // Its sends will get no answer: stop waiting for them.
        let lost = inFlight.filter { $0.value.pair == id }
        report.unanswered += lost.count
        for cid in lost.keys { inFlight.removeValue(forKey: cid) }
    }
}
