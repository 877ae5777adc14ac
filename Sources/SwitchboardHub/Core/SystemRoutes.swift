// The core's own routes: health, readiness, metrics, the server publish
// API and the caller's own user record.
import SwitchboardWire

extension Hub {
    func installSystemRoutes() {
        let health: RouteHandler = { _ in .json(200, .object(["status": .string("ok")])) }
        route("GET", "/healthz", caller: .anyone, health)
        route("HEAD", "/healthz", caller: .anyone, health)
        let ready: RouteHandler = { [unowned self] _ in readiness() }
        route("GET", "/readyz", caller: .anyone, ready)
        route("HEAD", "/readyz", caller: .anyone, ready)
        route("GET", "/metrics", caller: .anyone) { [unowned self] _ in
            HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: Array((metricsRenderer?() ?? "").utf8))
        }
        route("POST", "/v1/publish", caller: .backend) { [unowned self] call throws(HubError) in
            try serverPublish(call)
        }
        route("GET", "/v1/me", caller: .user) { [unowned self] call throws(HubError) in try me(call) }
    }

    private func readiness() -> HTTPResponse {
        let database = store.isAvailable
        // A node cut off from the others still serves its own clients, but
        // a load balancer should prefer nodes that see the whole cluster.
        let linked = broker.isHealthy
        let up = database && linked
        return .json(
            up ? 200 : 503,
            .object([
                "status": .string(up ? "ready" : "not_ready"),
                "database": .string(database ? "up" : "down"),
                "broker": .object(["kind": .string(broker.kind), "state": .string(linked ? "up" : "down")]),
                "node": .string(broker.node),
                "connections": .int(Int64(connections.count)),
            ]))
    }

    /// POST /v1/publish: a backend's publication to `user:` or `topic:` channels.
    private func serverPublish(_ call: RouteCall) throws(HubError) -> HTTPResponse {
        let body = try call.jsonObject()
        guard let name = body["channel"] else { throw HubError(.missingField, "missing field 'channel'") }
        guard let nameText = name.stringValue, let (kind, _) = channelKind(of: nameText), kind.acceptsServerPublish else {
            throw HubError(.badChannel, "channel must be user:<id> or topic:<name>")
        }
        guard let data = body["data"] else { throw HubError(.missingField, "missing field 'data'") }
        let frame = ServerFrame.publication(channel: nameText, data: data.bytes, sentAtMillis: clock.nowMillis())
        guard frame.payloadCount <= configuration.maxPublicationBytes else {
            throw HubError(
                .payloadTooLarge,
                "the publication frame would be \(frame.payloadCount) bytes; subscribers queue at most \(configuration.maxPublicationBytes)"
            )
        }
        let delivered = publish(Publication(channel: nameText, frame: frame))
        return .json(200, .object(["channel": .string(nameText), "subscribers": .int(Int64(delivered))]))
    }

    /// GET /v1/me: the caller's user record.
    private func me(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        guard store.isAvailable else { throw .unavailable }
        let id = call.id
        store.fetchUser(
            id: call.user,
            reply: Reply(on: loop, to: self) { hub, result in
                let response: HTTPResponse
                switch result {
                case .success(let record?):
                    var fields: [String: JSON] = [
                        "id": .string(record.id), "role": .string(record.role),
                        "created_at": .int(record.createdAtMillis),
                        "online": .bool(hub.connectionCount(of: record.id) > 0),
                    ]
                    fields["last_seen_at"] = record.lastSeenAtMillis.map(JSON.int) ?? .null
                    response = .json(200, .object(fields))
                case .success(nil):
                    response = .error(HubError(.notFound, "user has not connected yet"))
                case .failure(let error):
                    response = .error(error)
                }
                hub.respond(id, response)
            })
        return nil
    }
}
