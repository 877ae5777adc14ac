// Frames a client sends, decoded from JSON text with stable error codes.

/// A frame received from a client (protocol `switchboard.v1`).
public enum ClientFrame: Equatable, Sendable {
    /// First-frame authentication with a JWT; `since` asks for the user's
    /// notifications after that id before live ones.
    case auth(id: String?, token: String, since: Int64? = nil)
    /// Replaces the connection's token before it expires.
    case refresh(id: String?, token: String)
    /// Application-level ping; answered with `pong`.
    case ping(id: String?)
    /// Subscribes to a channel; for conversations, `since` asks for the
    /// messages after that seq first.
    case subscribe(id: String?, channel: String, since: Int64?)
    /// Unsubscribes from a channel.
    case unsubscribe(id: String?, channel: String)
    /// Sends a chat message.
    case send(id: String?, SendRequest)
    /// Typing started (`active`) or stopped in a conversation.
    case typing(conversation: Int64, active: Bool)
    /// Marks a conversation read up to `seq`.
    case read(id: String?, conversation: Int64, seq: Int64)
    /// Asks for the presence of users (those sharing a conversation are answered).
    case presence(id: String?, users: [String])

    /// The wire `type`.
    public var typeName: String {
        switch self {
        case .auth: return "auth"
        case .refresh: return "refresh"
        case .ping: return "ping"
        case .subscribe: return "subscribe"
        case .unsubscribe: return "unsubscribe"
        case .send: return "send"
        case .typing: return "typing"
        case .read: return "read"
        case .presence: return "presence"
        }
    }

    /// The request id the reply echoes.
    public var requestID: String? {
        switch self {
        case .auth(let id, _, _), .refresh(let id, _), .ping(let id),
            .subscribe(let id, _, _), .unsubscribe(let id, _), .send(let id, _), .read(let id, _, _), .presence(let id, _):
            return id
        case .typing:
            return nil
        }
    }
}

/// Why a client frame could not be decoded; carries the wire error code.
public struct FrameDecodingError: Error, Equatable, Sendable {
    /// The stable code sent in the `error` frame.
    public let code: ErrorCode
    /// A message safe to send to the client.
    public let message: String
    /// The request id, when it could be read.
    public let requestID: String?
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
        var id: String?
        switch json["id"] {
        case nil, .null?: id = nil
        case .string(let s)?: id = s
        case .int(let i)?: id = String(i)
        default:
            throw FrameDecodingError(code: .badFrame, message: "id must be a string or integer", requestID: nil)
        }
        if let candidate = id, candidate.utf8.count > 128 {
            throw FrameDecodingError(code: .badFrame, message: "id longer than 128 bytes", requestID: nil)
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
        switch type {
        case "auth": return .auth(id: id, token: try requiredString("token"), since: try optionalSeq("since"))
        case "refresh": return .refresh(id: id, token: try requiredString("token"))
        case "ping": return .ping(id: id)
        case "subscribe": return .subscribe(id: id, channel: try requiredString("channel"), since: try optionalSeq("since"))
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
