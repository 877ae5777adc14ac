// Deciding a REST request from its headers alone, before its body is read:
// a caller without valid credentials, or of the wrong kind for the route, or
// a path or method the hub does not have, is answered at once instead of
// holding a connection (and memory) while a body it could never use arrives.

extension Hub {
    /// The answer to send instead of reading the body of `request` (headers
    /// only, body still empty), or nil to read the body and route as usual.
    /// It is the route table's own decision (`admit`), so it cannot disagree
    /// with the answer routing would give after the body.
    public func preflightHTTP(_ request: HTTPRequest) -> HTTPResponse? {
        do throws(HubError) {
            if request.path.hasPrefix("/v1/"), case .notFound = routes.match(method: request.method, path: request.path) {
                return try legacyPreflight(request)
            }
            _ = try admit(request)
            return nil
        } catch {
            return .error(error, headers: error.code == .unauthorized || error.code == .tokenExpired
                          ? ["WWW-Authenticate": "Bearer"] : [:])
        }
    }
}

extension Hub {
    /// Transitional, for routes still served by the old routers: credentials
    /// and the one caller kind of body-carrying routes.
    private func legacyPreflight(_ request: HTTPRequest) throws(HubError) -> HTTPResponse? {
        try check(request)
        let caller = try authenticate(request)
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true)
        guard request.method == "POST", parts.count >= 2 else { return nil }
        switch (parts[1], caller) {
        default: return nil
        }
    }
}
