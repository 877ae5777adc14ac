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
    var errors = 0
    var errorCodes: [String: Int] = [:]
    var delivered = 0
    var firstSendMicros: Int64 = 0
    var lastAckMicros: Int64 = 0
    var ack = Histogram<UInt64>(highestTrackableValue: 60_000_000)
    var delivery = Histogram<UInt64>(highestTrackableValue: 60_000_000)
    /// Conversation id → number of acked (new or duplicate) messages.
    var ackedPerConversation: [String: Int] = [:]
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

    func run() throws { try ChatWorker(self).run() }
}

final class ChatWorker: LWSClientDelegate {
    let o: ChatWorkerCommand
    let pool: LWSClientPool
    var report = ChatWorkerReport()
    var conversations: [String] = []
    var senderTokens: [String] = []
    var recipientTokens: [String] = []
    var welcomed = 0
    var subscribed = 0
    var inFlight: [String: Int64] = [:]
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
            guard let json = try? JSON.parse(r.body), let id = json["id"]?.stringValue else { throw ExitCode(3) }
            conversations.append(id)
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
            if current() == "STOP" { emit("DONE"); exit(0) }
        }
        emit("READY")
        while current() != "GO" && current() != "STOP" { pool.service() }
        let start = Date()
        report.firstSendMicros = nowMicros()
        var next = 0
        while Date().timeIntervalSince(start) < o.duration && current() != "STOP" {
            let due = Int(Date().timeIntervalSince(start) * o.rate)
            while report.sent < due {
                let pair = next % o.pairs
                next += 1
                let cid = "\(o.userPrefix)-\(report.sent)"
                let sent = nowMicros()
                inFlight[cid] = sent
                pool.send(
                    pair,
                    text:
                        #"{"type":"send","id":"\#(cid)","conversation":"\#(conversations[pair])","client_msg_id":"\#(cid)","kind":"text","body":{"text":"load","sent_us":\#(sent)}}"#
                )
                report.sent += 1
            }
            pool.service()
        }
        let drainUntil = Date().addingTimeInterval(10)
        while (!inFlight.isEmpty || report.delivered < report.acked) && Date() < drainUntil { pool.service() }
        emit("DONE")
        exit(0)
    }

    func current() -> String { commands?.latest ?? "" }

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
            _ = report.ack.record(UInt64(max(0, now - sent)))
            report.acked += 1
            report.lastAckMicros = now
            if let conversation = json["conversation"]?.stringValue { report.ackedPerConversation[conversation, default: 0] += 1 }
        case "message":
            if let sent = json["body"]?["sent_us"]?.intValue {
                _ = report.delivery.record(UInt64(max(0, now - sent)))
                report.delivered += 1
            }
        case "error":
            if let cid = json["id"]?.stringValue { inFlight.removeValue(forKey: cid) }
            report.errors += 1
            report.errorCodes[json["code"]?.stringValue ?? "?", default: 0] += 1
        default:
            break
        }
    }

    func clientClosed(_ id: Int, failed: Bool, reason: String) {
        report.errors += 1
        report.errorCodes["closed: " + String(reason.prefix(40)), default: 0] += 1
    }
}
