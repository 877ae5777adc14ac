// Deciding a REST request from its headers alone, before its body is read:
// a caller without valid credentials, or of the wrong kind for the route, is
// answered at once instead of holding a connection (and memory) while a body
// it could never use arrives.

extension Hub {
    /// The answer to send instead of reading the body of `request` (headers
    /// only, body still empty), or nil to read the body and route as usual.
    /// Every `/v1` route authenticates; the kind of caller is checked here
    /// only for routes that take exactly one kind.
    public func preflightHTTP(_ request: HTTPRequest) -> HTTPResponse? {
        // Outside /v1 no route takes a body (health, readiness, metrics, or
        // 404/405): answered from the headers, so an unauthenticated caller
        // cannot make the hub buffer a body first.
        guard request.path.hasPrefix("/v1/") else {
            let known = ["/healthz", "/readyz", "/metrics"].contains(request.path)
            return .error(known ? 405 : 404, known ? .methodNotAllowed : .notFound, "this endpoint takes no request body")
        }
        let caller: RESTCaller
        switch self.caller(of: request) {
        case .failure(let response): return response
        case .success(let c): caller = c
        }
        switch (Self.requiredCaller(request.method, request.path), caller) {
        case (.backend?, .user): return .error(403, .forbidden, "this endpoint needs a backend API key")
        case (.user?, .backend): return .error(403, .forbidden, "this endpoint is for users")
        default: return nil
        }
    }

    private enum CallerKind { case user, backend }

    /// The one kind of caller a body-carrying route accepts, if only one.
    private static func requiredCaller(_ method: String, _ path: String) -> CallerKind? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard method == "POST", parts.count >= 2 else { return nil }
        switch parts[1] {
        case "publish", "notify", "scans", "quote-requests": return .backend
        case "conversations", "messages", "notifications", "quote-matches": return .user
        default: return nil
        }
    }
}
