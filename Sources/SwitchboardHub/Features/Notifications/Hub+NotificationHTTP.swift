// REST routes for notifications: the notify API for backends, and a user's
// own list, unread count and read marks.
import SwitchboardWire

extension Hub {
    /// Most recipients of one `POST /v1/notify`.
    static let notifyRecipientCap = 10_000

    /// Routes under /v1/notify and /v1/notifications; nil otherwise.
    func notificationRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse?? {
        switch request.path {
        case "/v1/notify":
            guard request.method == "POST" else { return .some(.error(405, .methodNotAllowed, "method not allowed")) }
            return .some(notifyRoute(request, id: id))
        case "/v1/notifications":
            guard request.method == "GET" else { return .some(.error(405, .methodNotAllowed, "method not allowed")) }
            return .some(listNotificationsRoute(request, id: id))
        case "/v1/notifications/read":
            guard request.method == "POST" else { return .some(.error(405, .methodNotAllowed, "method not allowed")) }
            return .some(markReadRoute(request, id: id))
        default:
            return nil
        }
    }

    /// The caller as a user, or the response refusing it.
    func requireUser(_ request: HTTPRequest) -> Result<Principal, HTTPResponse> {
        switch caller(of: request) {
        case .failure(let response): return .failure(response)
        case .success(.backend): return .failure(.error(403, .forbidden, "this endpoint is for users"))
        case .success(.user(let principal)): return .success(principal)
        }
    }

    /// The caller as a backend, or the response refusing it.
    func requireBackend(_ request: HTTPRequest) -> HTTPResponse? {
        switch caller(of: request) {
        case .failure(let response): return response
        case .success(.user): return .error(403, .forbidden, "this endpoint needs a backend API key")
        case .success(.backend): return nil
        }
    }

    static func jsonBody(_ request: HTTPRequest) -> JSON? {
        guard let json = try? JSON.parse(request.body, maxDepth: 32), json.isObject else { return nil }
        return json
    }

    private func notifyRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse? {
        if let refusal = requireBackend(request) { return refusal }
        guard let body = Self.jsonBody(request) else { return .error(400, .badJSON, "body must be a JSON object") }
        let notify: NotifyRequest
        do {
            notify = try NotifyRequestDecoder.decode(body, idempotencyKey: request.idempotencyKey)
        } catch {
            return .error(400, error.code, error.message)
        }
        guard store.isAvailable else { return Self.unavailable }
        notifications.notify(notify) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let outcome):
                pushNotifications(outcome.created)
                transport?.respond(id, .json(outcome.duplicate ? 200 : 201, .object([
                    "notified": .int(Int64(outcome.notified)), "duplicate": .bool(outcome.duplicate),
                ])))
            case .failure(let failure):
                transport?.respond(id, failure.response)
            }
        }
        return nil
    }

    private func listNotificationsRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse? {
        let principal: Principal
        switch requireUser(request) {
        case .failure(let response): return response
        case .success(let p): principal = p
        }
        var after: Int64?
        if let text = request.query["after"] {
            guard let value = Int64(text), value >= 0 else { return .error(400, .badRequest, "'after' must be a notification id") }
            after = value
        }
        let limit = request.query["limit"].map { Int($0) ?? 0 } ?? 50
        guard (1...200).contains(limit) else { return .error(400, .badRequest, "'limit' must be 1 to 200") }
        let unreadText = request.query["unread"] ?? "false"
        guard unreadText == "true" || unreadText == "false" else { return .error(400, .badRequest, "'unread' must be true or false") }
        guard store.isAvailable else { return Self.unavailable }
        notifications.notifications(user: principal.user, after: after, unreadOnly: unreadText == "true", limit: limit) { [weak self] result in
            let response: HTTPResponse
            switch result {
            case .success(let page):
                var w = JSONWriter(capacity: 256 + page.items.count * 300)
                w.raw("{\"notifications\":[")
                for (i, n) in page.items.enumerated() {
                    w.raw(i == 0 ? "{" : ",{")
                    w.raw("\"user\":"); w.string(n.user)
                    ServerFrame.writeNotification(n, into: &w)
                    w.raw("}")
                }
                w.raw("]")
                w.key("unread_count"); w.int(Int64(page.unread))
                w.key("last_id"); if let last = page.items.last { w.int(last.id) } else { w.raw("null") }
                w.raw("}")
                response = HTTPResponse(status: 200, body: w.bytes)
            case .failure(let error):
                response = Self.storeFailure(error)
            }
            self?.transport?.respond(id, response)
        }
        return nil
    }

    private func markReadRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse? {
        let principal: Principal
        switch requireUser(request) {
        case .failure(let response): return response
        case .success(let p): principal = p
        }
        guard let body = Self.jsonBody(request) else { return .error(400, .badJSON, "body must be a JSON object") }
        var ids: [Int64]?
        var upTo: Int64?
        if case .array(let list)? = body["ids"] {
            let values = list.compactMap { $0.intValue ?? $0.stringValue.flatMap { Int64($0) } }
            guard values.count == list.count, !values.isEmpty, values.count <= 1000 else {
                return .error(400, .badRequest, "'ids' must be 1 to 1,000 notification ids")
            }
            ids = values
        } else if let field = body["up_to"] {
            guard let value = field.intValue ?? field.stringValue.flatMap({ Int64($0) }), value > 0 else {
                return .error(400, .badRequest, "'up_to' must be a notification id")
            }
            upTo = value
        } else {
            return .error(400, .missingField, "give 'ids' or 'up_to'")
        }
        guard store.isAvailable else { return Self.unavailable }
        notifications.markNotificationsRead(user: principal.user, ids: ids, upTo: upTo) { [weak self] result in
            self?.transport?.respond(id, result.map { .json(200, .object(["marked": .int(Int64($0.marked)),
                                                                         "unread_count": .int(Int64($0.unread))])) }
                .get(or: Self.storeFailure))
        }
        return nil
    }
}

/// Decodes `POST /v1/notify` bodies.
enum NotifyRequestDecoder {
    struct Failure: Error { var code: ErrorCode; var message: String }

    static func decode(_ body: JSON, idempotencyKey: String?) throws(Failure) -> NotifyRequest {
        guard case .array(let list)? = body["user_ids"] else { throw Failure(code: .missingField, message: "missing array 'user_ids'") }
        let users = list.compactMap(\.stringValue)
        guard users.count == list.count, !users.isEmpty, users.count <= Hub.notifyRecipientCap,
              users.allSatisfy(Identifier.isUserID) else {
            throw Failure(code: .badRequest, message: "'user_ids' must be 1 to \(Hub.notifyRecipientCap) user ids")
        }
        guard let kindText = body["kind"]?.stringValue, let kind = NotificationKind(rawValue: kindText) else {
            throw Failure(code: .badRequest, message: "'kind' must be one of " + NotificationKind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard let title = body["title"]?.stringValue, !title.isEmpty, title.utf8.count <= 200 else {
            throw Failure(code: .badRequest, message: "'title' must be a string of 1 to 200 bytes")
        }
        let text = body["body"]?.stringValue ?? ""
        guard text.utf8.count <= 4000 else { throw Failure(code: .badRequest, message: "'body' must be at most 4,000 bytes") }
        var data: [UInt8] = Array("{}".utf8)
        if let field = body["data"], field != .null {
            guard field.isObject else { throw Failure(code: .badRequest, message: "'data' must be a JSON object") }
            data = field.bytes
            guard data.count <= 16_384 else { throw Failure(code: .badRequest, message: "'data' must be at most 16 KiB") }
        }
        func optionalText(_ name: String) throws(Failure) -> String? {
            guard let field = body[name], field != .null else { return nil }
            guard let value = field.stringValue, !value.isEmpty, value.utf8.count <= 128 else {
                throw Failure(code: .badRequest, message: "'\(name)' must be a string of 1 to 128 bytes")
            }
            return value
        }
        let key = try optionalText("idempotency_key") ?? idempotencyKey
        if let key, key.isEmpty || key.utf8.count > 128 {
            throw Failure(code: .badRequest, message: "the idempotency key must be 1 to 128 bytes")
        }
        // Deduplicated, order kept: a user listed twice is notified once.
        var seen = Set<String>()
        let recipients = users.filter { seen.insert($0).inserted }
        var request = NotifyRequest(recipients: recipients, kind: kind, title: title, body: text, data: data,
                                    entityType: try optionalText("entity_type"), entityID: try optionalText("entity_id"),
                                    idempotencyKey: key)
        // The key itself is not part of what a retry must repeat.
        var rest = body
        if case .object(var members) = rest { members["idempotency_key"] = nil; rest = .object(members) }
        request.fingerprint = RequestFingerprint.of(rest)
        return request
    }
}
