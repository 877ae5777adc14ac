// REST on the loop: every request goes through the route table (404/405
// from it), the caller is authenticated against the route's rule, and the
// handler answers now or later; errors are `HubError`s rendered one way.
import SwitchboardAuth
import SwitchboardWire

/// Who made a REST call.
public enum RESTCaller: Equatable, Sendable {
    /// A user with a valid JWT.
    case user(Principal)
    /// A backend with an API key (its configured name).
    case backend(String)
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
        do throws(HubError) {
            let (route, parameters, caller) = try admit(request)
            return try route.handler(RouteCall(request: request, id: id, caller: caller, parameters: parameters))
        } catch {
            return refusal(error, to: request)
        }
    }

    /// Everything decided before a handler runs: the request's own checks,
    /// the route, the caller. Shared by routing and by the preflight, so
    /// that an answer given from the headers is the one routing would give.
    func admit(_ request: HTTPRequest) throws(HubError) -> (Route, [String: String], RESTCaller?) {
        try check(request)
        let match = routes.match(method: request.method, path: request.path)
        // Under /v1 every caller authenticates first, even for a path or a
        // method the hub does not have: it tells a stranger nothing.
        var caller: RESTCaller?
        if request.path.hasPrefix("/v1/") { caller = try authenticate(request) }
        switch match {
        case .notFound:
            throw HubError(.notFound, "no such endpoint")
        case .methodNotAllowed:
            throw HubError(.methodNotAllowed, "method not allowed")
        case .found(let route, let parameters):
            switch (route.caller, caller) {
            case (.anyone, _): break
            case (_, nil): caller = try authenticate(request)
            default: break
            }
            switch (route.caller, caller) {
            case (.user, .backend?): throw HubError(.forbidden, "this endpoint is for users")
            case (.backend, .user?): throw HubError(.forbidden, "this endpoint needs a backend API key")
            default: return (route, parameters, caller)
            }
        }
    }

    /// The checks every request passes whatever its route.
    func check(_ request: HTTPRequest) throws(HubError) {
        // One check at the edge for every route: libpq cuts text at NUL, so
        // `owner=alice%00x` would act as `alice`.
        guard request.query.allSatisfy({ Identifier.hasNoNUL($0.key) && Identifier.hasNoNUL($0.value) }) else {
            throw HubError(.badRequest, "query parameters may not contain NUL")
        }
        if let key = request.idempotencyKey, !Identifier.isValid(key, maxBytes: 255) {
            throw HubError(.badRequest, "Idempotency-Key must be 1 to 255 bytes with no control characters")
        }
    }

    /// A refusal before the handler: credentials refused carry the scheme to
    /// use, a 405 the methods the path has (RFC 9110 §15.5.6).
    func refusal(_ error: HubError, to request: HTTPRequest) -> HTTPResponse {
        var headers: [String: String] = [:]
        if error.code == .unauthorized || error.code == .tokenExpired { headers["WWW-Authenticate"] = "Bearer" }
        if error.code == .methodNotAllowed,
            case .methodNotAllowed(let allowed) = routes.match(method: request.method, path: request.path)
        {
            headers["Allow"] = allowed.joined(separator: ", ")
        }
        return .error(error, headers: headers)
    }

    /// Authenticates a REST caller from `Authorization: Bearer` (JWT or API
    /// key) or `X-API-Key`.
    func authenticate(_ request: HTTPRequest) throws(HubError) -> RESTCaller {
        if let key = request.apiKey {
            if let name = try? configuration.apiKeys.authenticate(key) { return .backend(name) }
            throw HubError(.unauthorized, "API key is not recognised")
        }
        guard let header = request.authorization, header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw HubError(.unauthorized, "missing Authorization: Bearer credentials")
        }
        let credential = String(header.dropFirst(7)).trimmingSpaces()
        if let name = try? configuration.apiKeys.authenticate(credential) { return .backend(name) }
        switch verify(credential, now: clock.nowMillis()) {
        case .success(let claims): return .user(Principal(claims: claims))
        case .failure(let error): throw HubError(error.code == .expired ? .tokenExpired : .unauthorized, error.description)
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
