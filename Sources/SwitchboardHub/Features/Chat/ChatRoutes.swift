// Chat's REST routes (users only): create and list conversations, read
// history, send, mark read, edit and delete one's own messages.
import SwitchboardWire

extension ChatFeature {
    func installRoutes(on hub: Hub) {
        hub.route("POST", "/v1/conversations", caller: .user) { [unowned self] call throws(HubError) in try create(call) }
        hub.route("GET", "/v1/conversations", caller: .user) { [unowned self] call throws(HubError) in try list(call) }
        hub.route("GET", "/v1/conversations/{conversation}/messages", caller: .user) { [unowned self] call throws(HubError) in
            try history(call)
        }
        hub.route("POST", "/v1/conversations/{conversation}/messages", caller: .user) { [unowned self] call throws(HubError) in
            try send(call)
        }
        hub.route("POST", "/v1/conversations/{conversation}/read", caller: .user) { [unowned self] call throws(HubError) in
            try read(call)
        }
        hub.route("PATCH", "/v1/messages/{message}", caller: .user) { [unowned self] call throws(HubError) in try edit(call) }
        hub.route("DELETE", "/v1/messages/{message}", caller: .user) { [unowned self] call throws(HubError) in try delete(call) }
    }

    private func conversation(_ call: RouteCall) throws(HubError) -> ConversationID {
        try call.id("conversation", notFound: "no such conversation")
    }

    /// The reply to a store call made for `call`: on the loop, `render`
    /// makes the response from the answer (and may act on the feature), an
    /// error is answered as itself.
    private func reply<T: Sendable>(_ call: RouteCall, _ render: @escaping @Sendable (ChatFeature, T) -> HTTPResponse) -> Reply<T>
    {
        let id = call.id
        return Reply(on: hub.loop, to: self) { chat, result in
            let response: HTTPResponse =
                switch result {
                case .success(let value): render(chat, value)
                case .failure(let error): .error(error)
                }
            chat.hub.respond(id, response)
        }
    }

    /// POST /v1/conversations {participants, project_id?}
    private func create(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let json = try call.jsonObject()
        guard case .array(let list)? = json["participants"] else { throw HubError(.missingField, "missing array 'participants'") }
        let participants = list.compactMap(\.stringValue)
        guard participants.count == list.count, !participants.isEmpty, participants.count <= 50,
            participants.allSatisfy(Identifier.isUserID)
        else {
            throw HubError(.badRequest, "'participants' must be 1 to 50 user ids")
        }
        var project: String?
        if let p = json["project_id"], p != .null {
            guard let text = p.stringValue, Identifier.isValid(text, maxBytes: 128) else {
                throw HubError(.badRequest, "'project_id' must be a string of 1 to 128 bytes")
            }
            project = text
        }
        guard hub.isStoreAvailable else { throw .unavailable }
        let user = call.user
        let done = reply(call) { [project] (chat, created: CreatedConversation) -> HTTPResponse in
            let memberIDs = Array(Set(participants + [user])).sorted()
            // Creating a conversation is taking part in it.
            chat.tookPart(user, members: memberIDs)
            var fields: [String: JSON] = [
                "id": .string(String(created.id)), "members": .array(memberIDs.map(JSON.string)),
                "created": .bool(created.created),
            ]
            fields["project_id"] = project.map(JSON.string) ?? .null
            return .json(created.created ? 201 : 200, .object(fields))
        }
        store.createConversation(creator: user, participants: participants, projectID: project, reply: done)
        return nil
    }

    /// GET /v1/conversations?cursor=&limit=
    private func list(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        var cursor: (activityMicros: Int64, id: ConversationID)?
        if let text = call.request.query["cursor"] {
            let parts = text.split(separator: "_")
            guard parts.count == 2, let activity = Int64(parts[0]), let conversation = Int64(parts[1]) else {
                throw HubError(.badRequest, "malformed 'cursor'")
            }
            cursor = (activity, conversation)
        }
        let limit = call.request.query["limit"].map { Int($0) ?? 0 } ?? 20
        guard (1...100).contains(limit) else { throw HubError(.badRequest, "'limit' must be 1 to 100") }
        guard hub.isStoreAvailable else { throw .unavailable }
        let done = reply(call) { (_, list: [ConversationSummary]) -> HTTPResponse in
            let items: [JSON] = list.map { c in
                var fields: [String: JSON] = [
                    "id": .string(String(c.id)), "members": .array(c.members.map(JSON.string)),
                    "last_seq": .int(c.lastSeq), "last_read_seq": .int(c.lastReadSeq), "unread": .int(c.unread),
                ]
                fields["project_id"] = c.projectID.map(JSON.string) ?? .null
                fields["last_message"] = c.lastMessage.map(Self.messageJSON) ?? .null
                return .object(fields)
            }
            var page: [String: JSON] = ["conversations": .array(items)]
            page["next_cursor"] =
                list.count == limit ? list.last.map { .string("\($0.activityMicros)_\($0.id)") } ?? .null : .null
            return .json(200, .object(page))
        }
        store.listConversations(user: call.user, after: cursor, limit: limit, reply: done)
        return nil
    }

    /// GET /v1/conversations/{id}/messages?before=&after=&limit=
    private func history(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let conversation = try conversation(call)
        func cursor(_ name: String) throws(HubError) -> Int64? {
            guard let text = call.request.query[name] else { return nil }
            guard let value = Int64(text), value >= 0 else {
                throw HubError(.badRequest, "'before' and 'after' must be non-negative integers")
            }
            return value
        }
        let before = try cursor("before"), after = try cursor("after")
        let limit = call.request.query["limit"].map { Int($0) ?? 0 } ?? 50
        guard (1...200).contains(limit) else { throw HubError(.badRequest, "'limit' must be 1 to 200") }
        guard hub.isStoreAvailable else { throw .unavailable }
        let done = reply(call) { (_, messages: [StoredMessage]) -> HTTPResponse in
            var page: [String: JSON] = [
                "conversation": .string(String(conversation)), "messages": .array(messages.map(Self.messageJSON)),
            ]
            page["first_seq"] = messages.first.map { .int($0.seq) } ?? .null
            page["last_seq"] = messages.last.map { .int($0.seq) } ?? .null
            return .json(200, .object(page))
        }
        store.history(conversation, user: call.user, before: before, after: after, limit: limit, reply: done)
        return nil
    }

    /// POST /v1/conversations/{id}/messages {client_msg_id, kind, body}
    private func send(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let conversation = try conversation(call)
        let json = try call.jsonObject()
        let request: SendRequest
        do {
            request = try SendRequest.decode(json, conversation: conversation, requestID: nil)
        } catch {
            throw HubError(error.code, error.message)
        }
        send(request, from: call.user, for: .request(call.id))
        return nil
    }

    /// POST /v1/conversations/{id}/read {seq}
    private func read(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let conversation = try conversation(call)
        let json = try call.jsonObject()
        guard let seq = json["seq"]?.intValue, seq >= 0 else {
            throw HubError(.missingField, "'seq' must be a non-negative integer")
        }
        markRead(conversation: conversation, seq: seq, user: call.user, for: .request(call.id))
        return nil
    }

    /// PATCH /v1/messages/{id} {body} (the sender only).
    private func edit(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let message = try call.id("message", notFound: "no such message")
        let json = try call.jsonObject()
        guard let body = json["body"], body.isObject else { throw HubError(.missingField, "missing object 'body'") }
        let bytes = body.bytes
        guard bytes.count <= SendRequest.maxBodyBytes else {
            throw HubError(.payloadTooLarge, "a message body is at most \(SendRequest.maxBodyBytes) bytes of JSON")
        }
        store.editMessage(message, sender: call.user, body: bytes, reply: changed(call))
        return nil
    }

    /// DELETE /v1/messages/{id} (the sender only).
    private func delete(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let message = try call.id("message", notFound: "no such message")
        store.deleteMessage(message, sender: call.user, reply: changed(call))
        return nil
    }

    /// The answer to an edit or delete: the changed message, to the caller
    /// and to the conversation's subscribers.
    private func changed(_ call: RouteCall) -> Reply<StoredMessage> {
        reply(call) { (chat, message: StoredMessage) -> HTTPResponse in
            let frame = ServerFrame.messageChanged(message)
            chat.hub.publish(Publication(channel: ConversationChannel.name(message.conversation), frame: frame))
            return HTTPResponse(status: 200, body: Array(frame.storage[OutboundFrame.headroom...]))
        }
    }

    /// A stored message as the JSON of its `message` frame.
    static func messageJSON(_ m: StoredMessage) -> JSON {
        (try? JSON.parse(ServerFrame.message(m, replay: false).storage[OutboundFrame.headroom...])) ?? .null
    }
}
