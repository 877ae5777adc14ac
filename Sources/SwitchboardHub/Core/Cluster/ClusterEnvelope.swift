// What one node tells the others, as text for a `ClusterLink`: a header of
// one JSON line, a newline, then the body — a publication's frame exactly as
// subscribers get it (encoded once, on the publishing node), or a control
// message's JSON. Nothing here trusts the bytes: a malformed message is
// refused, never trapped on.
import SwitchboardWire

/// A message between nodes.
enum ClusterEnvelope: Sendable {
    /// A publication for the subscribers on every other node.
    case publication(Publication)
    /// A message between the nodes' features (presence heartbeats).
    case control(topic: String, JSON)

    /// Longest channel, stream, user or topic name a header may carry.
    static let maxNameBytes = 512

    /// The first bytes of every message `origin` sends: a node skips its
    /// own messages by them without parsing anything.
    static func originPrefix(_ origin: String) -> [UInt8] {
        var header = JSONWriter(capacity: 32)
        header.raw("{")
        header.key("o", first: true)
        header.string(origin)
        header.raw(",")
        return header.bytes
    }

    /// The envelope as link text (it starts with `originPrefix(origin)`). `origin` lets a node skip its own
    /// messages; `sentMicros` measures the link's lag.
    func encoded(origin: String, sentMicros: Int64) -> [UInt8] {
        var header = JSONWriter(capacity: 160)
        header.raw("{")
        header.key("o", first: true)
        header.string(origin)
        header.key("t")
        header.int(sentMicros)
        switch self {
        case .publication(let publication):
            header.key("k")
            header.raw("\"p\"")
            header.key("c")
            header.string(publication.channel)
            if let position = publication.position {
                header.key("s")
                header.string(position.stream)
                header.key("q")
                header.int(position.seq)
                if position.contiguous { header.raw(",\"qc\":true") }
            }
            // A connection exclusion names a connection of this node: the
            // other nodes have nobody to skip.
            if case .user(let user)? = publication.excluding {
                header.key("xu")
                header.string(user)
            }
            if let watched = publication.unlessWatching {
                header.key("uw")
                header.string(watched)
            }
            header.raw("}\n")
            let frame = publication.frame
            return header.bytes + frame.storage[OutboundFrame.headroom...]
        case .control(let topic, let body):
            header.key("k")
            header.raw("\"c\"")
            header.key("tp")
            header.string(topic)
            header.raw("}\n")
            return header.bytes + body.bytes
        }
    }

    /// A decoded message with who sent it and when.
    struct Received: Sendable {
        var origin: String
        var sentMicros: Int64
        var envelope: ClusterEnvelope
    }

    /// The message in `bytes`, or nil when it is not one a node sends.
    static func decode(_ bytes: [UInt8]) -> Received? {
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")),
            let header = try? JSON.parse(bytes[..<newline], maxDepth: 2),
            let origin = name(header["o"]), let sent = header["t"]?.intValue, let kind = header["k"]?.stringValue
        else { return nil }
        let body = bytes[(newline + 1)...]
        switch kind {
        case "p":
            guard let channel = name(header["c"]), !body.isEmpty else { return nil }
            var position: StreamPosition?
            if let stream = header["s"] {
                guard let stream = name(stream), let seq = header["q"]?.intValue else { return nil }
                position = StreamPosition(stream: stream, seq: seq, contiguous: header["qc"]?.boolValue == true)
            }
            var excluding: PublicationExclusion?
            if let user = header["xu"] {
                guard let user = name(user) else { return nil }
                excluding = .user(user)
            }
            var watched: String?
            if let w = header["uw"] {
                guard let w = name(w) else { return nil }
                watched = w
            }
            var writer = JSONWriter(headroom: OutboundFrame.headroom, capacity: body.count)
            writer.raw(body)
            let publication = Publication(
                channel: channel, frame: OutboundFrame(writer: writer), position: position, excluding: excluding,
                unlessWatching: watched)
            return Received(origin: origin, sentMicros: sent, envelope: .publication(publication))
        case "c":
            guard let topic = name(header["tp"]), let json = try? JSON.parse(body, maxDepth: 8) else { return nil }
            return Received(origin: origin, sentMicros: sent, envelope: .control(topic: topic, json))
        default:
            return nil
        }
    }

    private static func name(_ json: JSON?) -> String? {
        guard let text = json?.stringValue, !text.isEmpty, text.utf8.count <= maxNameBytes else { return nil }
        return text
    }
}
