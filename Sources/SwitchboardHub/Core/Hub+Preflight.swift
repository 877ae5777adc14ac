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
            _ = try admit(request)
            return nil
        } catch {
            return refusal(error, to: request)
        }
    }
}
