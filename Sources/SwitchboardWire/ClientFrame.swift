// Frames a client sends, decoded from JSON text with stable error codes.

/// A frame received from a client (protocol `switchboard.v1`).
public enum ClientFrame: Equatable, Sendable {
    /// First-frame authentication with a JWT; `since` asks for the user's
    /// notifications after that id before live ones.
    case auth(id: RequestID?, token: String, since: Int64? = nil)
    /// Replaces the connection's token before it expires.
    case refresh(id: RequestID?, token: String)
    /// Application-level ping; answered with `pong`.
    case ping(id: RequestID?)
    /// Subscribes to a channel; for conversations, `since` asks for the
    /// messages after that seq first.
    case subscribe(id: RequestID?, channel: String, since: Int64?)
    /// Subscribes to several channels, each with its own cursor, in order:
    /// each entry is answered as a single `subscribe` with the frame's id.
    case subscribeMany(id: RequestID?, [SubscribeEntry])
    /// Unsubscribes from a channel.
    case unsubscribe(id: RequestID?, channel: String)
    /// Sends a chat message.
    case send(id: RequestID?, SendRequest)
    /// Typing started (`active`) or stopped in a conversation.
    case typing(conversation: Int64, active: Bool)
    /// Marks a conversation read up to `seq`.
    case read(id: RequestID?, conversation: Int64, seq: Int64)
    /// Asks for the presence of users (those sharing a conversation are answered).
    case presence(id: RequestID?, users: [String])

    /// The wire `type`.
    public var typeName: String {
        switch self {
        case .auth: return "auth"
        case .refresh: return "refresh"
        case .ping: return "ping"
        case .subscribe, .subscribeMany: return "subscribe"
        case .unsubscribe: return "unsubscribe"
        case .send: return "send"
        case .typing: return "typing"
        case .read: return "read"
        case .presence: return "presence"
        }
    }

    /// The channel of a single subscribe or an unsubscribe (an error
    /// answering it names it).
    public var channel: String? {
        switch self {
        case .subscribe(_, let channel, _), .unsubscribe(_, let channel): return channel
        default: return nil
        }
    }

    /// The request id the reply echoes.
    public var requestID: RequestID? {
        switch self {
        case .auth(let id, _, _), .refresh(let id, _), .ping(let id),
            .subscribe(let id, _, _), .subscribeMany(let id, _), .unsubscribe(let id, _), .send(let id, _), .read(let id, _, _),
            .presence(let id, _):
            return id
        case .typing:
            return nil
        }
    }
}

/// One channel of a batch `subscribe`, with its cursor.
public struct SubscribeEntry: Equatable, Sendable {
    /// The channel name.
    public var channel: String
    /// Where to resume it (a conversation's seq, a notification id), if asked.
    public var since: Int64?

    /// An entry.
    public init(channel: String, since: Int64? = nil) {
        self.channel = channel
        self.since = since
    }

    /// Most entries in one frame.
    public static let maxCount = 100
}

/// Why a client frame could not be decoded; carries the wire error code.
public struct FrameDecodingError: Error, Equatable, Sendable {
    /// The stable code sent in the `error` frame.
    public let code: ErrorCode
    /// A message safe to send to the client.
    public let message: String
    /// The request id, when it could be read.
    public let requestID: RequestID?
}

extension ClientFrame {
    /// Decodes one text frame.
    public static func decode<Bytes: Collection>(_ bytes: Bytes) throws(FrameDecodingError) -> ClientFrame
    where Bytes.Element == UInt8 {
        let json: JSON
        do {
            json = try JSON.parse(bytes, maxDepth: 32)
        } catch {
            throw badJSON(error)
        }
        return try decode(json)
    }

    /// Decodes one text frame from the transport's buffer. Not generic: the
    /// generic form, called from another module, runs unspecialized (the
    /// parse entered through protocol witnesses for every frame).
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(FrameDecodingError) -> ClientFrame {
        let json: JSON
        do {
            json = try JSON.parse(bytes.assumingMemoryBound(to: UInt8.self), maxDepth: 32)
        } catch {
            throw badJSON(error)
        }
        return try decode(json)
    }

    private static func badJSON(_ error: any Error) -> FrameDecodingError {
        FrameDecodingError(
            code: .badJSON, message: "frame is not valid JSON: \((error as? JSONError)?.reason ?? "unreadable")",
            requestID: nil)
    }

    /// Decodes a parsed frame.
    public static func decode(_ json: JSON) throws(FrameDecodingError) -> ClientFrame {
        guard json.isObject else {
            throw FrameDecodingError(code: .badFrame, message: "frame must be a JSON object", requestID: nil)
        }
        let id: RequestID?
        do {
            id = try RequestID.read(json["id"])
        } catch {
            throw FrameDecodingError(code: .badFrame, message: error.reason, requestID: nil)
        }
        guard let typeValue = json["type"] else {
            throw FrameDecodingError(code: .missingField, message: "missing field 'type'", requestID: id)
        }
        guard let type = typeValue.stringValue else {
            throw FrameDecodingError(code: .badFrame, message: "'type' must be a string", requestID: id)
        }
        func requiredString(_ name: String) throws(FrameDecodingError) -> String {
            guard let value = json[name] else {
                throw FrameDecodingError(code: .missingField, message: "missing field '\(name)'", requestID: id)
            }
            guard let s = value.stringValue, !s.isEmpty else {
                throw FrameDecodingError(code: .badFrame, message: "'\(name)' must be a non-empty string", requestID: id)
            }
            return s
        }
        func conversationID() throws(FrameDecodingError) -> Int64 {
            switch json["conversation"] {
            case nil: throw FrameDecodingError(code: .missingField, message: "missing field 'conversation'", requestID: id)
            case .string(let s)?: if let v = Int64(s), v > 0 { return v }
            case .int(let v)? where v > 0: return v
            default: break
            }
            throw FrameDecodingError(code: .badFrame, message: "'conversation' must be a conversation id", requestID: id)
        }
        func optionalSeq(_ name: String) throws(FrameDecodingError) -> Int64? {
            guard let value = json[name], value != .null else { return nil }
            guard let seq = value.intValue, seq >= 0 else {
                throw FrameDecodingError(code: .badFrame, message: "'\(name)' must be a non-negative integer", requestID: id)
            }
            return seq
        }
        // A cursor: a notification id (a string of digits or an integer) or
        // a conversation's seq (an integer; its digits as a string are read too).
        func optionalCursor(_ name: String) throws(FrameDecodingError) -> Int64? {
            guard let value = json[name], value != .null else { return nil }
            guard let cursor = NotificationID.read(value) else {
                throw FrameDecodingError(
                    code: .badFrame, message: "'\(name)' must be a non-negative integer or a string of digits",
                    requestID: id)
            }
            return cursor
        }
        switch type {
        case "auth": return .auth(id: id, token: try requiredString("token"), since: try optionalCursor("since"))
        case "refresh": return .refresh(id: id, token: try requiredString("token"))
        case "ping": return .ping(id: id)
        case "subscribe":
            guard let list = json["channels"] else {
                return .subscribe(id: id, channel: try requiredString("channel"), since: try optionalCursor("since"))
            }
            return .subscribeMany(id: id, try subscribeEntries(list, alone: json["channel"] == nil, requestID: id))
        case "unsubscribe": return .unsubscribe(id: id, channel: try requiredString("channel"))
        case "send":
            return .send(id: id, try SendRequest.decode(json, conversation: try conversationID(), requestID: id))
        case "typing":
            guard let active = json["active"]?.boolValue else {
                throw FrameDecodingError(code: .missingField, message: "missing boolean 'active'", requestID: id)
            }
            return .typing(conversation: try conversationID(), active: active)
        case "read":
            guard let seq = try optionalSeq("seq") else {
                throw FrameDecodingError(code: .missingField, message: "missing field 'seq'", requestID: id)
            }
            return .read(id: id, conversation: try conversationID(), seq: seq)
        case "presence":
            guard case .array(let list)? = json["users"] else {
                throw FrameDecodingError(code: .missingField, message: "missing array 'users'", requestID: id)
            }
            let users = list.compactMap(\.stringValue)
            guard users.count == list.count, users.count <= 200, users.allSatisfy({ Identifier.isValid($0) }) else {
                throw FrameDecodingError(code: .badFrame, message: "'users' must be at most 200 user ids", requestID: id)
            }
            return .presence(id: id, users: users)
        default:
            let shown = type.count > 40 ? String(type.prefix(40)) + "…" : type
            throw FrameDecodingError(code: .unknownType, message: "unknown frame type '\(shown)'", requestID: id)
        }
    }
}

extension ClientFrame {
    /// The `channels` of a batch `subscribe`: 1 to 100 objects
    /// `{"channel", "since"?}`, and no `channel` beside them.
    private static func subscribeEntries(_ list: JSON, alone: Bool, requestID id: RequestID?) throws(FrameDecodingError)
        -> [SubscribeEntry]
    {
        func refuse(_ message: String) -> FrameDecodingError {
            FrameDecodingError(code: .badFrame, message: message, requestID: id)
        }
        guard alone else { throw refuse("give 'channel' or 'channels', not both") }
        guard case .array(let items) = list, (1...SubscribeEntry.maxCount).contains(items.count) else {
            throw refuse("'channels' must be a list of 1 to \(SubscribeEntry.maxCount) entries")
        }
        var entries: [SubscribeEntry] = []
        entries.reserveCapacity(items.count)
        for item in items {
            guard item.isObject, let channel = item["channel"]?.stringValue, !channel.isEmpty else {
                throw refuse("each entry of 'channels' must be an object with a non-empty string 'channel'")
            }
            var since: Int64?
            if let value = item["since"], value != .null {
                guard let cursor = NotificationID.read(value) else {
                    throw refuse("'since' must be a non-negative integer or a string of digits")
                }
                since = cursor
            }
            entries.append(SubscribeEntry(channel: channel, since: since))
        }
        return entries
    }
}
