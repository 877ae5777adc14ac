// Frames the hub sends, encoded once into bytes that may be shared by many
// recipients.

/// An encoded outbound frame. Immutable and shared: a publication is encoded
/// once and the same instance is queued for every subscriber.
// Unchecked: its bytes are written once, in init, and only read after; the transport writes its header into the headroom on the loop thread only.
public final class OutboundFrame: @unchecked Sendable {
    /// Bytes reserved in front of the payload for the transport's header
    /// (libwebsockets' LWS_PRE must fit in it; the LWS layer checks).
    public static let headroom = 32

    /// Headroom followed by the UTF-8 JSON payload. The transport may write
    /// into the headroom (single-threaded, one send at a time).
    public var storage: [UInt8]

    /// Payload length in bytes. Stored: computed from `storage` (a class
    /// `var`) it cost an exclusivity check and a call for every frame queued,
    /// written and counted.
    public let payloadCount: Int

    /// Wraps a writer that was created with `OutboundFrame.headroom`.
    public init(writer: JSONWriter) {
        storage = writer.bytes
        payloadCount = storage.count - Self.headroom
    }

    /// The payload as text (tests and logs).
    public var text: String { String(decoding: storage[Self.headroom...], as: UTF8.self) }
}

/// Builders for every frame type the hub sends.
public enum ServerFrame {
    private static func begin(_ type: StaticString, id: RequestID?) -> JSONWriter {
        var w = JSONWriter(headroom: OutboundFrame.headroom)
        w.raw("{\"type\":\"")
        w.raw(type)
        w.raw("\"")
        if let id {
            w.key("id")
            w.requestID(id)
        }
        return w
    }

    private static func end(_ w: inout JSONWriter) -> OutboundFrame {
        w.raw("}")
        return OutboundFrame(writer: w)
    }

    /// `welcome`: authentication succeeded. `expiresAt`: the token's expiry
    /// (ms since the epoch).
    /// `lastNotification`: the user's newest notification id at auth time.
    public static func welcome(
        id: RequestID?, connection: String, user: String, role: String, expiresAt: Int64?,
        lastNotification: LastNotification = .unknown
    ) -> OutboundFrame {
        var w = begin("welcome", id: id)
        w.key("connection"); w.string(connection)
        w.key("user"); w.string(user)
        w.key("role"); w.string(role)
        w.key("channel"); w.string("user:" + user)
        if let expiresAt { w.key("expires_at"); w.int(expiresAt) }
        switch lastNotification {
        case .none: w.key("last_notification_id"); w.raw("null")
        case .id(let last): w.key("last_notification_id"); w.string(String(last))
        case .unknown: break
        }
        w.key("protocol"); w.string("switchboard.v1")
        w.key("revision"); w.int(Self.revision)
        return end(&w)
    }

    /// The protocol's revision (Protocol/README.md, "Revision 2").
    public static let revision: Int64 = 2

    /// A user's newest notification, as `welcome` tells it.
    public enum LastNotification: Equatable, Sendable {
        /// They have none: `null`.
        case none
        /// Its id (written as a string).
        case id(Int64)
        /// Not known (no notifications feature, or its store did not
        /// answer): the field is left out rather than claim they have none.
        case unknown
    }

    /// `refreshed`: a new token was accepted; `expiresAt` in ms since the epoch.
    public static func refreshed(id: RequestID?, expiresAt: Int64?) -> OutboundFrame {
        var w = begin("refreshed", id: id)
        if let expiresAt { w.key("expires_at"); w.int(expiresAt) } else { w.key("expires_at"); w.raw("null") }
        return end(&w)
    }

    /// `pong`: the answer to `ping`.
    public static func pong(id: RequestID?, serverTimeMillis: Int64) -> OutboundFrame {
        var w = begin("pong", id: id)
        w.key("time"); w.int(serverTimeMillis)
        return end(&w)
    }

    /// `subscribed`: the subscription is live.
    public static func subscribed(id: RequestID?, channel: String) -> OutboundFrame {
        var w = begin("subscribed", id: id)
        w.key("channel"); w.string(channel)
        return end(&w)
    }

    /// `unsubscribed`: the subscription ended.
    public static func unsubscribed(id: RequestID?, channel: String) -> OutboundFrame {
        var w = begin("unsubscribed", id: id)
        w.key("channel"); w.string(channel)
        return end(&w)
    }

    /// `publication`: data published to a channel. `data` is already valid
    /// JSON text; `ts`, when the hub published it (ms since the epoch),
    /// lets clients and load tools measure delivery latency.
    public static func publication(channel: String, data: [UInt8], sentAtMillis: Int64) -> OutboundFrame {
        var w = begin("publication", id: nil)
        w.key("channel"); w.string(channel)
        w.key("ts"); w.int(sentAtMillis)
        w.key("data"); w.raw(data)
        return end(&w)
    }

    /// `error`: a request failed or a frame was rejected; `retryAfter`: whole
    /// seconds to wait before retrying (transient errors); `channel`: the
    /// channel of the subscribe or unsubscribe it answers.
    public static func error(
        id: RequestID?, code: ErrorCode, message: String, retryAfter: Int? = nil, channel: String? = nil
    ) -> OutboundFrame {
        var w = begin("error", id: id)
        w.key("code"); w.string(code.rawValue)
        if let channel { w.key("channel"); w.string(channel) }
        w.key("message"); w.string(message)
        if let retryAfter { w.key("retry_after"); w.int(retryAfter) }
        return end(&w)
    }
}
