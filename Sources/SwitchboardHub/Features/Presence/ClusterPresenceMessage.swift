// What the nodes of a cluster tell each other about presence, as the JSON
// body of a control message on the `presence` topic. Another node's bytes
// are hostile like any input: every field is type-, range- and size-checked,
// and a message that fails is dropped (its sender is asked for a snapshot
// when the next good message shows the gap).
import SwitchboardWire

/// A presence message between nodes.
enum ClusterPresenceMessage: Equatable {
    /// The sender is alive; its last delta had `seq`.
    case heartbeat(incarnation: Int64, seq: Int64)
    /// Users who became online / offline on the sender since its last delta.
    case delta(incarnation: Int64, seq: Int64, on: [String], off: [Departure])
    /// Part `part` (from 0) of `parts` of the sender's online users as of `seq`.
    case snapshot(incarnation: Int64, seq: Int64, part: Int, parts: Int, users: [String])
    /// Asks `target` (every node when nil) for a snapshot.
    case request(target: String?)

    /// A user no longer online on the sender.
    struct Departure: Equatable {
        var user: String
        /// When their last connection there closed.
        var atMillis: Int64
        /// Whether the sender told their contacts (it saw nobody else hold them).
        var announced: Bool
    }

    /// Bytes of names a delta or snapshot part carries at most: with its
    /// header it stays under PostgreSQL NOTIFY's 8,000-byte payload.
    static let chunkBytes = 6_000
    /// Most entries one message may carry (a name is at least one byte).
    static let maxEntries = chunkBytes
    /// Most parts of one snapshot (a node with more online users sends a
    /// snapshot nobody accepts, and is asked again).
    static let maxParts = 10_000
    /// Longest user or node name.
    static let maxNameBytes = ClusterEnvelope.maxNameBytes

    /// The message as a control body.
    var json: JSON {
        switch self {
        case .heartbeat(let incarnation, let seq):
            return .object(["k": .string("h"), "i": .int(incarnation), "s": .int(seq)])
        case .delta(let incarnation, let seq, let on, let off):
            return .object([
                "k": .string("d"), "i": .int(incarnation), "s": .int(seq), "on": .array(on.map(JSON.string)),
                "off": .array(off.map { .array([.string($0.user), .int($0.atMillis), .bool($0.announced)]) }),
            ])
        case .snapshot(let incarnation, let seq, let part, let parts, let users):
            return .object([
                "k": .string("s"), "i": .int(incarnation), "s": .int(seq), "p": .int(Int64(part)),
                "n": .int(Int64(parts)), "u": .array(users.map(JSON.string)),
            ])
        case .request(let target):
            return .object(["k": .string("q"), "n": target.map(JSON.string) ?? .null])
        }
    }

    /// The message in `json`, or nil when it is not one a node sends.
    init?(_ json: JSON) {
        guard let kind = json["k"]?.stringValue else { return nil }
        if kind == "q" {
            switch json["n"] {
            case .null?: self = .request(target: nil)
            case let name?:
                guard let name = Self.name(name) else { return nil }
                self = .request(target: name)
            case nil: return nil
            }
            return
        }
        guard let incarnation = json["i"]?.intValue, let seq = json["s"]?.intValue, seq >= 0 else { return nil }
        switch kind {
        case "h":
            self = .heartbeat(incarnation: incarnation, seq: seq)
        case "d":
            guard let on = Self.names(json["on"]), case .array(let entries)? = json["off"],
                entries.count <= Self.maxEntries
            else { return nil }
            var off: [Departure] = []
            off.reserveCapacity(entries.count)
            for entry in entries {
                guard let user = entry[0].flatMap(Self.name), let at = entry[1]?.intValue, at >= 0,
                    let announced = entry[2]?.boolValue
                else { return nil }
                off.append(Departure(user: user, atMillis: at, announced: announced))
            }
            self = .delta(incarnation: incarnation, seq: seq, on: on, off: off)
        case "s":
            guard let part = json["p"]?.intValue, let parts = json["n"]?.intValue,
                (1...Int64(Self.maxParts)).contains(parts), (0..<parts).contains(part), let users = Self.names(json["u"])
            else { return nil }
            self = .snapshot(incarnation: incarnation, seq: seq, part: Int(part), parts: Int(parts), users: users)
        default:
            return nil
        }
    }

    private static func name(_ json: JSON) -> String? {
        guard let text = json.stringValue, !text.isEmpty, text.utf8.count <= maxNameBytes else { return nil }
        return text
    }

    private static func names(_ json: JSON?) -> [String]? {
        guard case .array(let elements)? = json, elements.count <= maxEntries else { return nil }
        var out: [String] = []
        out.reserveCapacity(elements.count)
        for element in elements {
            guard let name = name(element) else { return nil }
            out.append(name)
        }
        return out
    }

    /// `items` cut into runs of at most `chunkBytes` (by `bytes` of each).
    static func chunks<T>(_ items: [T], bytes: (T) -> Int) -> [[T]] {
        var out: [[T]] = []
        var current: [T] = []
        var size = 0
        for item in items {
            let cost = bytes(item)
            if !current.isEmpty && size + cost > chunkBytes {
                out.append(current)
                current = []
                size = 0
            }
            current.append(item)
            size += cost
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}
