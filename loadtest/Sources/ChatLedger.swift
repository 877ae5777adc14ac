// What a chat run was told by the hub, kept so that the stored messages can
// be checked against it in SQL: at the end of the run, or later (after the
// hub was killed and restarted) by `chat-verify --acked-file`.
//
// The file is tab-separated text, one fact a line:
//   c <conversation id>                          a conversation of the run
//   a <conversation id> <seq> <client_msg_id>    an acked send
//   r <conversation id> <client_msg_id>          a send refused with `overloaded`
import ArgumentParser
import Foundation
import SwitchboardPostgres

/// The conversations, acks and refusals of a run.
struct ChatLedger {
    /// One acked send.
    struct Ack {
        var conversation: Int64
        var seq: Int64
        var clientMessageID: String
    }
    /// One send refused with `overloaded`.
    struct Refusal {
        var conversation: Int64
        var clientMessageID: String
    }
    var conversations: [Int64] = []
    var acks: [Ack] = []
    var refusals: [Refusal] = []

    mutating func merge(_ other: ChatLedger) {
        conversations += other.conversations
        acks += other.acks
        refusals += other.refusals
    }

    /// The file's text.
    var text: String {
        var out = ""
        for c in conversations { out += "c\t\(c)\n" }
        for a in acks { out += "a\t\(a.conversation)\t\(a.seq)\t\(a.clientMessageID)\n" }
        for r in refusals { out += "r\t\(r.conversation)\t\(r.clientMessageID)\n" }
        return out
    }

    func write(to path: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) }

    /// Reads a file written by `write(to:)`; a malformed line is an error.
    static func read(from path: String) throws -> ChatLedger {
        var ledger = ChatLedger()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for (n, line) in text.split(separator: "\n").enumerated() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            switch (f.first, f.count) {
            case ("c", 2): if let c = Int64(f[1]) { ledger.conversations.append(c); continue }
            case ("a", 4):
                if let c = Int64(f[1]), let s = Int64(f[2]) {
                    ledger.acks.append(Ack(conversation: c, seq: s, clientMessageID: f[3]))
                    continue
                }
            case ("r", 3):
                if let c = Int64(f[1]) { ledger.refusals.append(Refusal(conversation: c, clientMessageID: f[2])); continue }
            default: break
            }
            throw ValidationError("\(path):\(n + 1): not a ledger line")
        }
        return ledger
    }
}

/// The SQL check of a ledger.
struct ChatCheck: Encodable {
    /// Every acked send stored once with its acked seq, and every
    /// conversation's seqs 1...n with distinct client ids.
    var exactlyOnce: Bool
    /// Acked sends not stored (or stored with another seq).
    var ackedMissing: Int
    /// Conversations whose seqs are not 1...n or whose client ids repeat.
    var conversationsBad: Int
    var conversations: Int
    /// Rows stored in the run's conversations (≥ acked: a send whose ack was
    /// lost with its connection may be stored).
    var stored: Int
    /// Sends refused with `overloaded` that are stored all the same.
    var refusedStored: Int

    enum CodingKeys: String, CodingKey {
        case exactlyOnce = "exactly_once", ackedMissing = "acked_missing", conversationsBad = "conversations_bad"
        case conversations, stored, refusedStored = "refused_stored"
    }

    /// Runs the check on `conn`.
    static func run(_ ledger: ChatLedger, on conn: PGConnection) throws -> ChatCheck {
        let conversations = Array(Set(ledger.conversations + ledger.acks.map(\.conversation)))
        let missing = try conn.execute(
            """
            SELECT count(*) FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS a(conversation_id, seq, client_msg_id)
            WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = a.conversation_id AND m.seq = a.seq
                                                         AND m.client_msg_id = a.client_msg_id)
            """,
            [
                SQLValue.int64Array(ledger.acks.map(\.conversation)).wireText,
                SQLValue.int64Array(ledger.acks.map(\.seq)).wireText,
                SQLValue.textArray(ledger.acks.map(\.clientMessageID)).wireText,
            ])
        let shape = try conn.execute(
            """
            SELECT count(*) FILTER (WHERE n <> top OR low <> 1 OR n <> ids), coalesce(sum(n), 0)
            FROM (SELECT count(*) AS n, max(seq) AS top, min(seq) AS low, count(DISTINCT client_msg_id) AS ids
                  FROM messages WHERE conversation_id = ANY($1::bigint[]) GROUP BY conversation_id) AS s
            """, [SQLValue.int64Array(conversations).wireText])
        let refused = try conn.execute(
            """
            SELECT count(*) FROM unnest($1::bigint[], $2::text[]) AS r(conversation_id, client_msg_id)
            WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = r.conversation_id
                                                     AND m.client_msg_id = r.client_msg_id)
            """,
            [
                SQLValue.int64Array(ledger.refusals.map(\.conversation)).wireText,
                SQLValue.textArray(ledger.refusals.map(\.clientMessageID)).wireText,
            ])
        func number(_ rows: [[String?]], _ column: Int = 0) -> Int { Int(rows.first?[column] ?? "") ?? -1 }
        let missingCount = number(missing), badCount = number(shape)
        return ChatCheck(
            exactlyOnce: missingCount == 0 && badCount == 0, ackedMissing: missingCount, conversationsBad: badCount,
            conversations: conversations.count, stored: number(shape, 1), refusedStored: number(refused))
    }

    /// Passed: exactly once, and nothing refused was stored.
    var passed: Bool { exactlyOnce && refusedStored == 0 }

    /// The table's verdict.
    var text: String {
        exactlyOnce
            ? "yes"
            : "NO: \(ackedMissing) acked not stored; \(conversationsBad) of \(conversations) conversations not gapless/unique"
    }
}

/// `chat-verify`: the check of a ledger saved by `chat --acked-file`, e.g.
/// after the hub was killed and restarted on the same cluster.
struct ChatVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-verify",
        abstract:
            "Check in SQL a chat run's saved acks: stored exactly once, gapless, nothing acked lost, nothing refused stored.")
    @OptionGroup var target: TargetOptions
    @Option(name: .customLong("acked-file"), help: "The ledger written by `chat --acked-file`.") var ackedFile: String
    @Option(name: .customLong("database-url"), help: "Default: the embedded cluster in --data-dir.") var databaseURL: String?

    struct Result: Encodable {
        var scenario = "chat-verify"
        var acked: Int
        var refused: Int
        var check: ChatCheck

        enum CodingKeys: String, CodingKey { case scenario, acked, refused, check }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(scenario, forKey: .scenario)
            try c.encode(acked, forKey: .acked)
            try c.encode(refused, forKey: .refused)
            try check.encode(to: encoder)
        }
    }

    func run() throws {
        let ledger = try ChatLedger.read(from: ackedFile)
        let check = try ChatCheck.run(ledger, on: try target.database(databaseURL))
        Report.print(
            title: "chat-verify",
            rows: [
                ("conversations / acked / refused", "\(check.conversations) / \(ledger.acks.count) / \(ledger.refusals.count)"),
                ("rows stored", String(check.stored)),
                ("stored exactly once, gapless", check.text),
                ("refused yet stored", String(check.refusedStored)),
            ],
            result: Result(acked: ledger.acks.count, refused: ledger.refusals.count, check: check), json: target.json)
        if !check.passed { throw ExitCode(1) }
    }
}
