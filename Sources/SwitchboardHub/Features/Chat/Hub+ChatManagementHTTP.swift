// REST: the conversation list, marking read, editing and deleting messages.
import SwitchboardWire

extension Hub {
    /// GET /v1/conversations?cursor=&limit=
    func listConversationsRoute(_ request: HTTPRequest, user: String, id: HTTPRequestID) -> HTTPResponse? {
        var cursor: (activityMicros: Int64, id: ConversationID)?
        if let text = request.query["cursor"] {
            let parts = text.split(separator: "_")
            guard parts.count == 2, let activity = Int64(parts[0]), let conversation = Int64(parts[1]) else {
                return .error(400, .badRequest, "malformed 'cursor'")
            }
            cursor = (activity, conversation)
        }
        let limit = request.query["limit"].map { Int($0) ?? 0 } ?? 20
        guard (1...100).contains(limit) else { return .error(400, .badRequest, "'limit' must be 1 to 100") }
        guard store.isAvailable else { return Self.unavailable }
        chat.listConversations(user: user, after: cursor, limit: limit, reply: Reply(on: loop) { [weak self] result in
            let response: HTTPResponse
            switch result {
            case .success(let list):
                let items: [JSON] = list.map { c in
                    var fields: [String: JSON] = [
                        "id": .string(String(c.id)), "members": .array(c.members.map(JSON.string)),
                        "last_seq": .int(c.lastSeq), "last_read_seq": .int(c.lastReadSeq), "unread": .int(c.unread),
                    ]
                    fields["project_id"] = c.projectID.map(JSON.string) ?? .null
                    fields["last_message"] = c.lastMessage.map { m in
                        (try? JSON.parse(ServerFrame.message(m, replay: false).storage[OutboundFrame.headroom...])) ?? .null
                    } ?? .null
                    return .object(fields)
                }
                var page: [String: JSON] = ["conversations": .array(items)]
                page["next_cursor"] = list.count == limit ? list.last.map { .string("\($0.activityMicros)_\($0.id)") } ?? .null : .null
                response = .json(200, .object(page))
            case .failure(let error):
                response = .error(error)
            }
            self?.transport?.respond(id, response)
        })
        return nil
    }

    /// POST /v1/conversations/{id}/read {seq}
    func readRoute(_ request: HTTPRequest, conversation: ConversationID, user: String, id: HTTPRequestID) -> HTTPResponse? {
        guard let json = try? JSON.parse(request.body), json.isObject else { return .error(400, .badJSON, "body must be a JSON object") }
        guard let seq = json["seq"]?.intValue, seq >= 0 else { return .error(400, .missingField, "'seq' must be a non-negative integer") }
        markRead(conversation: conversation, seq: seq, user: user, connection: nil, requestID: nil) { [weak self] result in
            let response: HTTPResponse = switch result {
            case .success(let stored): .json(200, .object(["conversation": .string(String(conversation)), "user": .string(user),
                                                          "last_read_seq": .int(stored)]))
            case .failure(let error): .error(error)
            }
            self?.transport?.respond(id, response)
        }
        return nil
    }

    /// PATCH or DELETE /v1/messages/{id} (the sender only).
    func messageRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse?? {
        let parts = request.path.split(separator: "/")
        guard parts.count == 3, parts[0] == "v1", parts[1] == "messages" else { return nil }
        guard let messageID = Int64(parts[2]), messageID > 0 else { return .some(.error(404, .notFound, "no such message")) }
        let user: String
        switch caller(of: request) {
        case .failure(let response): return .some(response)
        case .success(.backend): return .some(.error(403, .forbidden, "this endpoint is for users"))
        case .success(.user(let principal)): user = principal.user
        }
        let done = Reply<StoredMessage>(on: loop) { [weak self] result in
            guard let self else { return }
            let response: HTTPResponse
            switch result {
            case .success(let message):
                let frame = ServerFrame.messageChanged(message)
                publish(Publication(channel: ConversationChannel.name(message.conversation), frame: frame))
                response = HTTPResponse(status: 200, body: Array(frame.storage[OutboundFrame.headroom...]))
            case .failure(let error):
                response = .error(error)
            }
            transport?.respond(id, response)
        }
        switch request.method {
        case "PATCH":
            guard let json = try? JSON.parse(request.body), json.isObject else { return .some(.error(400, .badJSON, "body must be a JSON object")) }
            guard let body = json["body"], body.isObject else { return .some(.error(400, .missingField, "missing object 'body'")) }
            let bytes = body.bytes
            guard bytes.count <= SendRequest.maxBodyBytes else {
                return .some(.error(413, .payloadTooLarge, "a message body is at most \(SendRequest.maxBodyBytes) bytes of JSON"))
            }
            chat.editMessage(messageID, sender: user, body: bytes, reply: done)
            return .some(nil)
        case "DELETE":
            chat.deleteMessage(messageID, sender: user, reply: done)
            return .some(nil)
        default:
            return .some(.error(405, .methodNotAllowed, "method not allowed"))
        }
    }
}
