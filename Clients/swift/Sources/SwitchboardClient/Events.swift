/// What the client yields from ``SwitchboardClient/events``.
public enum SwitchboardEvent: Sendable, Equatable {
    /// A chat message, once per (conversation, seq), in seq order per
    /// conversation — live, replayed, or paged from REST after a reconnect.
    case message(ChatMessage)
    /// The hub committed one of this client's sends (once per `client_msg_id`).
    case ack(Ack)
    /// A send the hub refused for good (it left the outbox).
    case sendFailed(clientMsgID: String, error: SwitchboardError)
    case typing(Typing)
    case receipt(Receipt)
    case presence(Presence)
    /// A QR-scan `counter` frame, as sent.
    case counter(JSONValue)
    /// A notification, once per id.
    case notification(HubNotification)
    /// A backend's `publication` (at most once, live only).
    case publication(Publication)
    /// A compact `notice` of a message in a conversation this connection is not subscribed to.
    case notice(JSONValue)
    /// `message_edited` / `message_deleted` and any frame type this client does not know, as sent.
    case other(JSONValue)
    /// An `error` frame that answers no request of this client (e.g. `rate_limited`).
    case error(SwitchboardError)
    /// The connection's state changed.
    case connectionState(ConnectionState)
}

/// The connection as the app sees it.
public enum ConnectionState: Sendable, Equatable {
    case connecting
    /// Authenticated (after `welcome`), before the resume has been answered.
    case connected
    /// Every channel resumed (and paged where the hub could not replay).
    case resumed
    /// Lost; the next attempt comes after `afterMilliseconds`.
    case waitingToReconnect(attempt: Int, afterMilliseconds: Int64)
    /// Stopped by ``SwitchboardClient/stop()`` or by a refusal no retry can fix (a bad token).
    case stopped(reason: String)
}

/// A chat message (the `message` frame, or an entry of a REST page).
public struct ChatMessage: Sendable, Equatable {
    public let conversation: String
    public let messageID: String
    public let seq: Int64
    public let sender: String
    public let clientMsgID: String?
    public let kind: String
    public let body: JSONValue
    /// Server time, ms since the epoch.
    public let createdAt: Int64
    /// This user's own message (sent from this or another device).
    public let isOwn: Bool

    init?(_ f: JSONValue, me: String?) {
        guard let conversation = f["conversation"]?.string, let seq = f["seq"]?.int,
            let messageID = f["message_id"]?.string, let sender = f["sender"]?.string
        else { return nil }
        self.conversation = conversation
        self.messageID = messageID
        self.seq = seq
        self.sender = sender
        clientMsgID = f["client_msg_id"]?.string
        kind = f["kind"]?.string ?? "text"
        body = f["body"] ?? .null
        createdAt = f["created_at"]?.int ?? 0
        isOwn = sender == me
    }
}

/// The hub's answer to a send.
public struct Ack: Sendable, Equatable {
    public let clientMsgID: String
    public let conversation: String
    public let messageID: String
    public let seq: Int64
    /// Server time, ms since the epoch.
    public let createdAt: Int64
}

public struct Typing: Sendable, Equatable {
    public let conversation: String
    public let user: String
    public let active: Bool
}

public struct Receipt: Sendable, Equatable {
    public let conversation: String
    public let user: String
    public let seq: Int64
}

/// One user's presence (a push, or an entry of a `presence` answer).
public struct Presence: Sendable, Equatable {
    public let user: String
    public let online: Bool
    /// ms since the epoch; nil while online or never seen.
    public let lastSeen: Int64?

    init?(_ f: JSONValue) {
        guard let user = f["user"]?.string, let online = f["online"]?.bool else { return nil }
        self.user = user
        self.online = online
        lastSeen = f["last_seen"]?.int
    }
}

public struct HubNotification: Sendable, Equatable {
    /// A string of decimal digits; ids increase.
    public let id: String
    public let kind: String
    public let title: String
    /// The whole frame (body, data, entity, created_at, read_at).
    public let frame: JSONValue

    init?(_ f: JSONValue) {
        guard let id = f["notification_id"], let n = id.decimalID else { return nil }
        self.id = String(n)
        kind = f["kind"]?.string ?? ""
        title = f["title"]?.string ?? ""
        frame = f
    }
}

public struct Publication: Sendable, Equatable {
    public let channel: String
    /// Publish time, ms since the epoch.
    public let ts: Int64
    public let data: JSONValue
}

/// An error: the hub's (`code` from Protocol/README.md) or the client's own.
public struct SwitchboardError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The hub's error code, or `timeout`, `disconnected`, `stopped` for the client's own.
    public let code: String
    public let message: String
    /// Seconds the hub asked to wait before a retry.
    public let retryAfter: Double?
    /// The channel a refused subscribe or unsubscribe named.
    public let channel: String?

    public init(code: String, message: String, retryAfter: Double? = nil, channel: String? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
        self.channel = channel
    }

    init(frame f: JSONValue) {
        let retry: Double? = f["retry_after"].flatMap { v in
            if case .double(let d) = v { return d }
            return v.int.map(Double.init)
        }
        self.init(
            code: f["code"]?.string ?? "internal", message: f["message"]?.string ?? "", retryAfter: retry,
            channel: f["channel"]?.string)
    }

    static let timeout = SwitchboardError(code: "timeout", message: "no answer within the request timeout")
    static let stopped = SwitchboardError(code: "stopped", message: "the client was stopped")

    /// Errors after which the same request may succeed later.
    var isTransient: Bool {
        ["unavailable", "overloaded", "rate_limited", "internal", "timeout", "disconnected"].contains(code)
    }

    public var description: String { "\(code): \(message)" }
}
