// REST routes for chat: create a conversation, read history, send.
import SwitchboardWire

extension Hub {
    /// Routes under /v1/conversations; nil when the path is not a chat route.
    func chatRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse?? {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0] == "v1", parts[1] == "conversations" else { return nil }
        let conversation: ConversationID?
        if parts.count >= 3 {
            guard let value = Int64(parts[2]), value > 0 else { return .some(.error(404, .notFound, "no such conversation")) }
            conversation = value
        } else {
            conversation = nil
        }
        let user: String
        switch caller(of: request) {
        case .failure(let response): return .some(response)
        case .success(.backend): return .some(.error(403, .forbidden, "this endpoint is for users"))
        case .success(.user(let principal)): user = principal.user
        }
        switch (request.method, parts.count, conversation) {
        case ("POST", 2, nil): return .some(createConversationRoute(request, user: user, id: id))
        case ("GET", 2, nil): return .some(listConversationsRoute(request, user: user, id: id))
        case ("POST", 4, let c?) where parts[3] == "read": return .some(readRoute(request, conversation: c, user: user, id: id))
        case ("GET", 4, let c?) where parts[3] == "messages": return .some(historyRoute(request, conversation: c, user: user, id: id))
        case ("POST", 4, let c?) where parts[3] == "messages": return .some(sendRoute(request, conversation: c, user: user, id: id))
        case (_, 2, _), (_, 4, _): return .some(.error(405, .methodNotAllowed, "method not allowed"))
        default: return .some(.error(404, .notFound, "no such endpoint"))
        }
    }

    private func body(_ request: HTTPRequest) -> JSON? {
        guard let json = try? JSON.parse(request.body, maxDepth: 32), json.isObject else { return nil }
        return json
    }

    private func createConversationRoute(_ request: HTTPRequest, user: String, id: HTTPRequestID) -> HTTPResponse? {
        guard let json = body(request) else { return .error(400, .badJSON, "body must be a JSON object") }
        guard case .array(let list)? = json["participants"] else { return .error(400, .missingField, "missing array 'participants'") }
        let participants = list.compactMap(\.stringValue)
        guard participants.count == list.count, !participants.isEmpty, participants.count <= 50,
              participants.allSatisfy(Identifier.isUserID) else {
            return .error(400, .badRequest, "'participants' must be 1 to 50 user ids")
        }
        var project: String?
        if let p = json["project_id"], p != .null {
            guard let text = p.stringValue, Identifier.isValid(text, maxBytes: 128) else {
                return .error(400, .badRequest, "'project_id' must be a string of 1 to 128 bytes")
            }
            project = text
        }
        guard store.isAvailable else { return Self.unavailable }
        chat.createConversation(creator: user, participants: participants, projectID: project,
                                reply: Reply(on: loop) { [weak self] result in
            let response: HTTPResponse
            switch result {
            case .success(let created):
                let memberIDs = Array(Set(participants + [user])).sorted()
                self?.tookPart(user, members: memberIDs)
                let members = memberIDs.map(JSON.string)
                var fields: [String: JSON] = ["id": .string(String(created.id)), "members": .array(members),
                                              "created": .bool(created.created)]
                fields["project_id"] = project.map(JSON.string) ?? .null
                response = .json(created.created ? 201 : 200, .object(fields))
            case .failure(let error):
                response = .error(error)
            }
            self?.transport?.respond(id, response)
        })
        return nil
    }

    private func historyRoute(_ request: HTTPRequest, conversation: ConversationID, user: String, id: HTTPRequestID) -> HTTPResponse? {
        func cursor(_ name: String) -> Int64?? {
            guard let text = request.query[name] else { return .some(nil) }
            guard let value = Int64(text), value >= 0 else { return nil }
            return .some(value)
        }
        guard let before = cursor("before"), let after = cursor("after") else {
            return .error(400, .badRequest, "'before' and 'after' must be non-negative integers")
        }
        let limit = request.query["limit"].map { Int($0) ?? 0 } ?? 50
        guard (1...200).contains(limit) else { return .error(400, .badRequest, "'limit' must be 1 to 200") }
        guard store.isAvailable else { return Self.unavailable }
        chat.history(conversation, user: user, before: before, after: after, limit: limit, reply: Reply(on: loop) { [weak self] result in
            let response: HTTPResponse
            switch result {
            case .success(let messages):
                let items: [JSON] = messages.map { m in
                    let frame = ServerFrame.message(m, replay: false)
                    return (try? JSON.parse(frame.storage[OutboundFrame.headroom...])) ?? .null
                }
                var page: [String: JSON] = ["conversation": .string(String(conversation)), "messages": .array(items)]
                page["first_seq"] = messages.first.map { .int($0.seq) } ?? .null
                page["last_seq"] = messages.last.map { .int($0.seq) } ?? .null
                response = .json(200, .object(page))
            case .failure(let error):
                response = .error(error)
            }
            self?.transport?.respond(id, response)
        })
        return nil
    }

    private func sendRoute(_ request: HTTPRequest, conversation: ConversationID, user: String, id: HTTPRequestID) -> HTTPResponse? {
        guard let json = body(request) else { return .error(400, .badJSON, "body must be a JSON object") }
        let send: SendRequest
        do {
            send = try SendRequest.decode(json, conversation: conversation, requestID: nil)
        } catch {
            return .error(error.code == .payloadTooLarge ? 413 : 400, error.code, error.message)
        }
        self.send(send, from: user, connection: nil, requestID: nil) { [weak self] result in
            let response: HTTPResponse
            switch result {
            case .success(let outcome):
                response = .json(outcome.duplicate ? 200 : 201, .object([
                    "conversation": .string(String(outcome.conversation)), "message_id": .string(String(outcome.id)),
                    "seq": .int(outcome.seq), "created_at": .int(outcome.createdAtMillis), "duplicate": .bool(outcome.duplicate),
                ]))
            case .failure(let error):
                response = .error(error)
            }
            self?.transport?.respond(id, response)
        }
        return nil
    }
}
