// The fault tests' chat: a client as an SDK would be (it resends a send
// that was answered `unavailable`, or not answered, with the same
// client_msg_id, and keeps every `message` frame it reads on the way), and
// three of them on three nodes in one conversation, so that a test can check
// at the end that each subscriber got every seq once, in order.
import Foundation
import Testing

/// One user on one node, subscribed to one conversation.
final class ChatPeer {
    let client: WebSocketTestClient
    let conversation: String
    /// The seqs of the `message` frames read, in arrival order.
    private(set) var seqs: [Int] = []
    /// Error codes the sends were answered with (`unavailable`, …).
    private(set) var refusals: [String] = []

    /// What one attempt of a send came to.
    enum Outcome: Equatable {
        case acked(seq: Int)
        case refused(code: String)
        /// Nothing within the wait: its fate is unknown (resend it).
        case silent
    }

    /// Connects `user` to `node` and subscribes to `conversation`.
    init(_ node: HubProcess, _ user: String, conversation: String) throws {
        client = try joined(node, user)
        self.conversation = conversation
        try watch(client, "conversation:\(conversation)")
    }

    /// Sends `key` once and reads until its answer (or `timeout`).
    func attempt(_ key: String, timeout: TimeInterval = 5) throws -> Outcome {
        try client.sendText(sendFrame(conversation, key, key))
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let frame: [String: Any]
            do {
                frame = try client.receiveJSON(timeout: max(0.01, deadline.timeIntervalSinceNow))
            } catch TestClientError.timeout {
                return .silent
            }
            switch frame["type"] as? String {
            case "message": seqs.append(frame["seq"] as? Int ?? -1)
            case "ack" where frame["id"] as? String == key: return .acked(seq: frame["seq"] as? Int ?? -1)
            case "error" where frame["id"] as? String == key:
                let code = frame["code"] as? String ?? "?"
                refusals.append(code)
                return .refused(code: code)
            default: continue
            }
        }
    }

    /// Sends `key` until it is acked (as an SDK would: the same
    /// client_msg_id each time, a short pause after a refusal); its seq.
    func send(_ key: String, within seconds: TimeInterval = 30) throws -> Int {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            switch try attempt(key) {
            case .acked(let seq): return seq
            case .refused, .silent: usleep(100_000)
            }
        }
        throw TestClientError.timeout
    }

    /// Reads `message` frames until `count` were read in all (or `timeout`).
    func drain(until count: Int, timeout: TimeInterval = 15) {
        let deadline = Date().addingTimeInterval(timeout)
        while seqs.count < count, Date() < deadline {
            guard let frame = try? client.receiveJSON(timeout: max(0.01, deadline.timeIntervalSinceNow)) else { break }
            if frame["type"] as? String == "message" { seqs.append(frame["seq"] as? Int ?? -1) }
        }
    }

    /// Expects seqs 1…`count`, each once: no gap, no duplicate. Not in
    /// arrival order: a live message can overtake the repair of a hole
    /// before it (the protocol's clients order a conversation by seq).
    func expectEveryMessageOnce(_ count: Int, _ who: String, sourceLocation: SourceLocation = #_sourceLocation) {
        drain(until: count)
        #expect(seqs.count == count && seqs.sorted() == Array(1...count), "\(who): \(seqs)", sourceLocation: sourceLocation)
    }
}

/// Expects every acked key stored once, with seqs 1…`count` and no gap.
func expectStoredOnce(
    _ keys: Set<String>, in conversation: String, query: (String, [String?]) throws -> [[String?]],
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let rows = try query(
        "SELECT count(*), count(DISTINCT client_msg_id), min(seq), max(seq) FROM messages WHERE conversation_id = $1",
        [conversation])
    let n = String(keys.count)
    #expect(rows.first == [n, n, "1", n], "stored \(rows)", sourceLocation: sourceLocation)
    let stored = try query("SELECT client_msg_id FROM messages WHERE conversation_id = $1", [conversation])
    #expect(Set(stored.compactMap { $0.first ?? nil }) == keys, sourceLocation: sourceLocation)
}

/// Three users on three nodes in one conversation, chatting round by round.
final class CrossNodeChat {
    let nodes: [HubProcess]
    let conversation: String
    let peers: [ChatPeer]
    private(set) var acked: Set<String> = []

    init(_ nodes: [HubProcess]) throws {
        self.nodes = nodes
        let users = ["alice", "bob", "carol"].map(uniqueUser)
        let conversation = try nodes[0].conversation(users[0], with: Array(users.dropFirst()))
        self.conversation = conversation
        peers = try (0..<3).map { try ChatPeer(nodes[$0 % nodes.count], users[$0], conversation: conversation) }
    }

    /// Peer `index` sends `key` (resending until acked).
    func send(from index: Int, _ key: String) throws {
        _ = try peers[index].send(key)
        acked.insert(key)
    }

    /// Each peer sends one message.
    func round(_ name: String) throws {
        for i in peers.indices { try send(from: i, "\(name)-\(i)") }
    }

    /// Rounds until `done()` is true after at least `atLeast` of them (≤ 60 s).
    func rounds(_ prefix: String, atLeast: Int, until done: () -> Bool = { true }) throws {
        let deadline = Date().addingTimeInterval(60)
        var n = 0
        while n < atLeast || (!done() && Date() < deadline) {
            try round("\(prefix)\(n)")
            n += 1
        }
    }

    /// Every subscriber got every message once.
    func expectEveryMessageOnce(sourceLocation: SourceLocation = #_sourceLocation) {
        for (i, peer) in peers.enumerated() {
            peer.expectEveryMessageOnce(acked.count, "peer \(i)", sourceLocation: sourceLocation)
        }
    }

    var refusals: [String] { peers.flatMap(\.refusals) }
}

/// GET /readyz's status on `node`.
func readiness(_ node: HubProcess) -> Int {
    (try? httpRequest(host: node.host, port: node.port, "GET", "/readyz").status) ?? 0
}
