// The REST route table: a route is a method, a path pattern with `{name}`
// parameters, the kind of caller it takes and a handler. Matching gives the
// route and its parameters, or 404 (no pattern matches the path) / 405 (one
// does, with another method) — nobody keeps those lists by hand.
import SwitchboardWire

/// Who may call a route.
public enum CallerRule: Sendable, Equatable {
    /// Anyone, unauthenticated (health, readiness, metrics).
    case anyone
    /// Users (a JWT) only.
    case user
    /// Backends (an API key) only.
    case backend
    /// A user or a backend; the handler tells them apart.
    case userOrBackend
}

/// What a route handler answers: a response now, or nil when it answers
/// later through `Hub.respond` (after a store call).
public typealias RouteHandler = (RouteCall) throws(HubError) -> HTTPResponse?

/// One route.
public struct Route {
    /// Upper-case method.
    public let method: String
    /// The pattern, e.g. `/v1/conversations/{conversation}/messages`.
    public let pattern: String
    /// Who may call it.
    public let caller: CallerRule
    let segments: [Segment]
    let handler: RouteHandler

    enum Segment: Equatable {
        case literal(Substring)
        case parameter(String)
    }

    /// How specific the pattern is: literal segments win over parameters
    /// (`/v1/notifications/read-all` over `/v1/notifications/{id}`).
    var literalCount: Int { segments.count { if case .literal = $0 { true } else { false } } }

    func parameters(of parts: [Substring]) -> [String: String]? {
        guard parts.count == segments.count else { return nil }
        var found: [String: String] = [:]
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let text): guard text == part else { return nil }
            case .parameter(let name): found[name] = String(part)
            }
        }
        return found
    }
}

/// Every route of the hub.
public struct RouteTable {
    private var routes: [Route] = []

    /// An empty table.
    public init() {}

    /// Adds a route. Registering the same method and pattern twice is a
    /// programming error.
    public mutating func add(
        _ method: String, _ pattern: String, caller: CallerRule, _ handler: @escaping RouteHandler
    ) {
        let segments = pattern.split(separator: "/").map { part -> Route.Segment in
            part.hasPrefix("{") && part.hasSuffix("}") ? .parameter(String(part.dropFirst().dropLast())) : .literal(part)
        }
        precondition(!routes.contains { $0.method == method && $0.segments == segments }, "duplicate route \(method) \(pattern)")
        routes.append(Route(method: method, pattern: pattern, caller: caller, segments: segments, handler: handler))
    }

    /// The outcome of matching a request line.
    public enum Match {
        /// The route and its path parameters.
        case found(Route, [String: String])
        /// The path exists with other methods (sorted).
        case methodNotAllowed(allowed: [String])
        /// No route has this path.
        case notFound
    }

    /// Matches a method and a path (without the query).
    public func match(method: String, path: String) -> Match {
        guard path.hasPrefix("/") else { return .notFound }
        // Empty segments are kept, and match nothing: `/v1//me`, `/v1/me/`
        // and `/v1/projects//milestones` are not `/v1/me` or `/v1/projects/{id}`.
        let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: \.isEmpty) else { return .notFound }
        var best: (route: Route, parameters: [String: String])?
        var allowed: Set<String> = []
        for route in routes {
            guard let parameters = route.parameters(of: segments) else { continue }
            guard route.method == method else { allowed.insert(route.method); continue }
            if best == nil || route.literalCount > best!.route.literalCount { best = (route, parameters) }
        }
        if let best { return .found(best.route, best.parameters) }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed.sorted())
    }
}

/// One matched request as a handler sees it.
public struct RouteCall {
    /// The request.
    public let request: HTTPRequest
    /// Its id, for `Hub.respond` when the answer comes later.
    public let id: HTTPRequestID
    /// Who called (nil only for `CallerRule.anyone` routes).
    public let caller: RESTCaller?
    /// The path parameters by name.
    public let parameters: [String: String]

    /// The deepest JSON nesting a request body may have (every route).
    public static let maxBodyDepth = 32

    /// The calling user's id; routes for users only are never handed a backend.
    public var user: String {
        if case .user(let principal)? = caller { return principal.user }
        preconditionFailure("a user route was handed a backend caller")
    }

    /// A path parameter that must be a positive id; anything else is 404
    /// with `message` (an id that cannot exist names nothing).
    public func id(_ name: String, notFound message: String) throws(HubError) -> Int64 {
        guard let text = parameters[name], let value = Int64(text), value > 0 else { throw HubError(.notFound, message) }
        return value
    }

    /// The body as any JSON value (a batch may be an array).
    public func json() throws(HubError) -> JSON {
        guard let json = try? JSON.parse(request.body, maxDepth: Self.maxBodyDepth) else {
            throw HubError(.badJSON, "body must be JSON")
        }
        return json
    }

    /// The body as a JSON object: the one body reader of the REST API.
    public func jsonObject() throws(HubError) -> JSON {
        guard let json = try? JSON.parse(request.body, maxDepth: Self.maxBodyDepth), json.isObject else {
            throw HubError(.badJSON, "body must be a JSON object")
        }
        return json
    }
}
