// Channels: a name is `kind:rest`; each kind is registered by the feature
// that owns it (`conversation:` by Chat, `scans:` by Scans) and decides who
// may subscribe. The core knows only the syntax and its own two kinds:
// `user:` (every connection of a user is in it) and `topic:` (broadcasts).
import SwitchboardWire

/// A kind of channel, registered with `Hub.register(_:)`.
public protocol ChannelKind: AnyObject {
    /// The text before the first colon (`conversation`).
    var prefix: String { get }
    /// Whether `rest` (after `prefix:`) names a channel of this kind.
    func accepts(_ rest: String) -> Bool
    /// Subscribes `request.connection`, now or after a store answer: it
    /// answers with `subscribed` (or its kind's own confirmation) or an error.
    func subscribe(_ request: SubscribeRequest)
    /// Whether a backend may publish here through `POST /v1/publish`.
    var acceptsServerPublish: Bool { get }
}

extension ChannelKind {
    /// Only committed events reach a feature's channels, unless it says otherwise.
    public var acceptsServerPublish: Bool { false }
}

/// A subscribe frame whose channel parsed and whose caller is authenticated.
public struct SubscribeRequest: Sendable {
    /// The connection.
    public var connection: ConnectionID
    /// Who is subscribing.
    public var principal: Principal
    /// The whole channel name.
    public var channel: String
    /// The name after `kind:`.
    public var rest: String
    /// Where to resume an ordered stream, if asked.
    public var since: Int64?
    /// The frame's id, echoed in the answer.
    public var requestID: RequestID?
}

/// Channel name syntax, shared by every kind.
public enum ChannelName {
    /// Longest accepted channel name, in bytes.
    public static let maxLength = 200

    /// `kind` and `rest` of a well-formed name: at most `maxLength` bytes,
    /// only `[A-Za-z0-9_.:@=+-]`, non-empty parts before and after the first
    /// colon. The one rule for every kind, the same as Protocol/schemas'
    /// channel pattern and limit (ChannelNameTests holds them together).
    public static func split(_ name: String) -> (kind: String, rest: String)? {
        guard name.utf8.count <= maxLength, name.utf8.allSatisfy(isAllowed),
            let colon = name.firstIndex(of: ":"), colon != name.startIndex
        else { return nil }
        let rest = String(name[name.index(after: colon)...])
        guard !rest.isEmpty else { return nil }
        return (String(name[..<colon]), rest)
    }

    /// A positive decimal id with no sign, leading zeros or spaces.
    public static func positiveID(_ text: String) -> Int64? {
        guard let id = Int64(text), id > 0, String(id) == text else { return nil }
        return id
    }

    /// `user:<id>`: the private channel of one user.
    public static func user(_ id: String) -> String { "user:" + id }

    private static func isAllowed(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "_.:@=+-".utf8.contains(c)
        }
    }
}

/// `user:<id>`: one user's private channel; every admitted connection of the
/// user is in it; only that user may subscribe; backends publish to it.
final class UserChannels: ChannelKind {
    unowned let hub: Hub
    init(hub: Hub) { self.hub = hub }
    let prefix = "user"
    func accepts(_ rest: String) -> Bool { true }
    var acceptsServerPublish: Bool { true }
    func subscribe(_ request: SubscribeRequest) {
        guard request.rest == request.principal.user else {
            hub.refuse(HubError(.forbidden, "not allowed to subscribe to this channel"), request)
            return
        }
        // With a cursor: the notification catch-up (the notifications
        // feature); the channel itself is held since `welcome`.
        if request.since != nil, let resume = hub.userChannelResume {
            resume(request)
            return
        }
        hub.confirm(request)
    }
}

/// `topic:<name>`: a broadcast channel any authenticated user may subscribe
/// to and only backends publish to.
final class TopicChannels: ChannelKind {
    unowned let hub: Hub
    init(hub: Hub) { self.hub = hub }
    let prefix = "topic"
    func accepts(_ rest: String) -> Bool { true }
    var acceptsServerPublish: Bool { true }
    func subscribe(_ request: SubscribeRequest) { hub.confirm(request) }
}
