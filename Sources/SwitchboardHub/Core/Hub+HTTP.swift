// REST routes as transport-free handlers: health, readiness, metrics, the
// server publish API and the caller's own user record.
import SwitchboardAuth
import SwitchboardWire

/// Who made a REST call.
public enum RESTCaller: Equatable, Sendable {
    /// A user with a valid JWT.
    case user(Principal)
    /// A backend with an API key (its configured name).
    case backend(String)
}

/// The outcome of authenticating a REST caller.
enum CallerCheck {
    case success(RESTCaller)
    case failure(HTTPResponse)
}

extension Hub {
    /// Handles one HTTP request; the answer goes to `transport.respond`,
    /// immediately or when the store replies.
    public func handleHTTP(_ request: HTTPRequest, id: HTTPRequestID) {
        metrics.httpRequests.increment()
        if let response = route(request, id: id) {
            transport?.respond(id, response)
        }
    }

    /// Returns the response, or nil when it will be sent later.
    func route(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse? {
        // One check at the edge for every route: libpq cuts text at NUL, so
        // `owner=alice%00x` would act as `alice`.
        guard request.query.allSatisfy({ Identifier.hasNoNUL($0.key) && Identifier.hasNoNUL($0.value) }) else {
            return .error(400, .badRequest, "query parameters may not contain NUL")
        }
        if let key = request.idempotencyKey, !Identifier.isValid(key, maxBytes: 255) {
            return .error(400, .badRequest, "Idempotency-Key must be 1 to 255 bytes with no control characters")
        }
        if let chat = chatRoute(request, id: id) { return chat }
        if let message = messageRoute(request, id: id) { return message }
        if let scan = scanRoute(request, id: id) { return scan }
        if let notification = notificationRoute(request, id: id) { return notification }
        if let quote = quoteRoute(request, id: id) { return quote }
        if let market = marketRoute(request, id: id) { return market }
        switch (request.method, request.path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            return .json(200, .object(["status": .string("ok")]))
        case ("GET", "/readyz"), ("HEAD", "/readyz"):
            let up = store.isAvailable
            return .json(up ? 200 : 503, .object([
                "status": .string(up ? "ready" : "not_ready"),
                "database": .string(up ? "up" : "down"),
                "connections": .int(Int64(connections.count)),
            ]))
        case ("GET", "/metrics"):
            let text = metricsRenderer?() ?? ""
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: Array(text.utf8))
        case ("POST", "/v1/publish"):
            return publishRoute(request)
        case ("GET", "/v1/me"):
            return meRoute(request, id: id)
        case (_, "/v1/presence"):
            return presenceRoute(request, id: id)
        case (_, "/healthz"), (_, "/readyz"), (_, "/metrics"), (_, "/v1/publish"), (_, "/v1/me"):
            return .error(405, .methodNotAllowed, "method not allowed")
        default:
            return .error(404, .notFound, "no such endpoint")
        }
    }

    /// Authenticates a REST caller from `Authorization: Bearer` (JWT or API
    /// key) or `X-API-Key`.
    func caller(of request: HTTPRequest) -> CallerCheck {
        if let key = request.apiKey {
            if let name = try? configuration.apiKeys.authenticate(key) { return .success(.backend(name)) }
            return .failure(.error(401, .unauthorized, "API key is not recognised", headers: ["WWW-Authenticate": "Bearer"]))
        }
        guard let header = request.authorization, header.count > 7,
              header.prefix(7).lowercased() == "bearer " else {
            return .failure(.error(401, .unauthorized, "missing Authorization: Bearer credentials",
                                   headers: ["WWW-Authenticate": "Bearer"]))
        }
        let credential = String(header.dropFirst(7)).trimmingSpaces()
        if let name = try? configuration.apiKeys.authenticate(credential) { return .success(.backend(name)) }
        switch verify(credential, now: clock.nowMillis()) {
        case .success(let claims): return .success(.user(Principal(claims: claims)))
        case .failure(let error):
            let code: ErrorCode = error.code == .expired ? .tokenExpired : .unauthorized
            return .failure(.error(401, code, error.description, headers: ["WWW-Authenticate": "Bearer"]))
        }
    }

    private func publishRoute(_ request: HTTPRequest) -> HTTPResponse {
        switch caller(of: request) {
        case .failure(let response): return response
        case .success(.user): return .error(403, .forbidden, "publishing requires a backend API key")
        case .success(.backend): break
        }
        guard let body = try? JSON.parse(request.body, maxDepth: 64), body.isObject else {
            return .error(400, .badJSON, "body must be a JSON object")
        }
        guard let name = body["channel"] else { return .error(400, .missingField, "missing field 'channel'") }
        guard let nameText = name.stringValue, let channel = Channel(nameText), channel.acceptsServerPublish else {
            return .error(400, .badChannel, "channel must be user:<id> or topic:<name>")
        }
        guard let data = body["data"] else { return .error(400, .missingField, "missing field 'data'") }
        let frame = ServerFrame.publication(channel: channel.name, data: data.bytes, sentAtMicros: clock.nowMicros())
        guard frame.payloadCount <= configuration.maxPublicationBytes else {
            return .error(413, .payloadTooLarge,
                          "the publication frame would be \(frame.payloadCount) bytes; subscribers queue at most \(configuration.maxPublicationBytes)")
        }
        let delivered = publish(channel: channel.name, frame: frame)
        return .json(200, .object(["channel": .string(channel.name), "subscribers": .int(Int64(delivered))]))
    }

    private func meRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse? {
        let principal: Principal
        switch caller(of: request) {
        case .failure(let response): return response
        case .success(.backend): return .error(403, .forbidden, "this endpoint is for users")
        case .success(.user(let p)): principal = p
        }
        guard store.isAvailable else { return Self.unavailable }
        store.fetchUser(id: principal.user, reply: Reply(on: loop) { [weak self] result in
            let response: HTTPResponse
            switch result {
            case .success(let record?):
                var fields: [String: JSON] = [
                    "id": .string(record.id), "role": .string(record.role),
                    "created_at": .int(record.createdAtMillis),
                    "online": .bool(self?.connectionsPerUserCount(record.id) ?? 0 > 0),
                ]
                fields["last_seen_at"] = record.lastSeenAtMillis.map(JSON.int) ?? .null
                response = .json(200, .object(fields))
            case .success(nil):
                response = .error(404, .notFound, "user has not connected yet")
            case .failure(let error):
                response = .error(error)
            }
            self?.transport?.respond(id, response)
        })
        return nil
    }

    static let unavailable = HTTPResponse.error(503, .unavailable, "database unavailable; retry later",
                                               headers: ["Retry-After": "1"])
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
