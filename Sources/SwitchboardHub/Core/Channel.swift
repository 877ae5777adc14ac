// Channel names and who may subscribe or publish to them.

/// A parsed channel name.
public enum Channel: Hashable, Sendable {
    /// `user:<id>`: one user's private channel; every connection of the user
    /// is subscribed to it automatically.
    case user(String)
    /// `topic:<name>`: a broadcast channel any authenticated user may
    /// subscribe to and only backends publish to.
    case topic(String)
    /// `conversation:<id>`: a conversation's messages, typing and receipts;
    /// members only (checked against the store on subscribe).
    case conversation(Int64)
    /// `scans:<qr id>`: live counters of one QR code (its owner or an admin).
    case scans(Int64)
    /// `scans:owner:<user id>`: live counters of every code of a user (that
    /// user or an admin).
    case scansOwner(String)

    /// Longest accepted channel name, in bytes.
    public static let maxLength = 200

    /// Parses `kind:name`; nil for unknown kinds, empty names, names over
    /// `maxLength` or with characters outside `[A-Za-z0-9_.:@=+-]`.
    public init?(_ name: String) {
        guard name.utf8.count <= Self.maxLength, let colon = name.firstIndex(of: ":") else { return nil }
        let kind = name[..<colon]
        let rest = String(name[name.index(after: colon)...])
        guard !rest.isEmpty, rest.utf8.allSatisfy(Self.isAllowed) else { return nil }
        switch kind {
        case "user": self = .user(rest)
        case "topic": self = .topic(rest)
        case "conversation":
            guard let id = Int64(rest), id > 0, String(id) == rest else { return nil }
            self = .conversation(id)
        case "scans":
            if rest.hasPrefix("owner:") {
                let owner = String(rest.dropFirst(6))
                guard !owner.isEmpty else { return nil }
                self = .scansOwner(owner)
            } else {
                guard let id = Int64(rest), id > 0, String(id) == rest else { return nil }
                self = .scans(id)
            }
        default: return nil
        }
    }

    private static func isAllowed(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "_.:@=+-".utf8.contains(c)
        }
    }

    /// The wire name.
    public var name: String {
        switch self {
        case .user(let id): return "user:" + id
        case .topic(let t): return "topic:" + t
        case .conversation(let id): return "conversation:" + String(id)
        case .scans(let id): return "scans:" + String(id)
        case .scansOwner(let owner): return "scans:owner:" + owner
        }
    }

    /// Whether a user may subscribe without asking the store
    /// (conversations are decided by membership, codes by ownership).
    public func maySubscribe(user: String) -> Bool {
        switch self {
        case .user(let id): return id == user
        case .topic: return true
        case .conversation, .scans, .scansOwner: return false
        }
    }

    /// Whether a backend may publish here through `POST /v1/publish`
    /// (conversations only carry committed messages, scan channels only
    /// counters of committed scans).
    public var acceptsServerPublish: Bool {
        switch self {
        case .user, .topic: return true
        case .conversation, .scans, .scansOwner: return false
        }
    }
}
