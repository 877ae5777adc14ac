// REST routes for QR codes: register and list codes, ingest scans (backends),
// read a code's statistics (its owner or an admin).
import SwitchboardWire

extension ScansFeature {
    /// Most codes listed by `GET /v1/qr-codes`.
    static let codeListCap = 1_000
    /// Most points in one stats answer.
    static let statsPointCap = 10_080

    func installRoutes(on hub: Hub) {
        hub.route("POST", "/v1/scans", caller: .backend) { [unowned self] call throws(HubError) in try ingestRoute(call) }
        hub.route("POST", "/v1/qr-codes", caller: .userOrBackend) { [unowned self] call throws(HubError) in
            try createCodeRoute(call)
        }
        hub.route("GET", "/v1/qr-codes", caller: .userOrBackend) { [unowned self] call throws(HubError) in
            try listCodesRoute(call)
        }
        // Backends reach the handler: it answers 404 for a path naming no
        // code first, then refuses them in its own words (as it always did).
        hub.route("GET", "/v1/qr-codes/{qr}/stats", caller: .userOrBackend) { [unowned self] call throws(HubError) in
            try statsRoute(call)
        }
    }

    /// POST /v1/scans: one scan or `{"scans": [...]}`; answers what was
    /// stored, skipped as a duplicate, or refused per item.
    private func ingestRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let scans = try ScanRequest.decode(try call.json(), nowMillis: hub.clock.nowMillis())
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.ingest(
            scans,
            reply: Reply(on: hub.loop, to: self) { me, result in
                let response: HTTPResponse
                switch result {
                case .success(let outcome):
                    me.committed(outcome.counts)
                    me.ingested.increment(by: outcome.accepted)
                    response = .json(
                        200,
                        .object([
                            "accepted": .int(Int64(outcome.accepted)),
                            "duplicates": .int(Int64(outcome.duplicates)),
                            "rejected": .array(
                                outcome.unknownCodes.map { index in
                                    .object(["index": .int(Int64(index)), "code": .string(ErrorCode.unknownQRCode.rawValue)])
                                }),
                        ]))
                case .failure(let error):
                    response = .error(error)
                }
                me.hub.respond(id, response)
            })
        return nil
    }

    /// POST /v1/qr-codes: a user registers a code for themselves (an admin
    /// for anyone); a backend names the owner.
    private func createCodeRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let body = try call.jsonObject()
        func field(_ name: String, max: Int) -> String?? {
            guard let value = body[name] else { return .some(nil) }
            guard let text = value.stringValue, !text.isEmpty, text.utf8.count <= max else { return nil }
            return .some(text)
        }
        guard let labelField = field("label", max: 200), let label = labelField, Identifier.isValid(label, maxBytes: 200) else {
            throw HubError(.badRequest, "'label' must be a string of 1 to 200 bytes")
        }
        guard let targetField = field("target", max: 2048), let target = targetField, Self.isRedirectTarget(target) else {
            throw HubError(
                .badRequest,
                "'target' must be an absolute http(s) URL of at most 2048 bytes without spaces or control characters")
        }
        guard let ownerField = field("owner", max: 256), ownerField.map(Identifier.isUserID) ?? true else {
            throw HubError(.badRequest, "'owner' must be a user id")
        }
        let owner: String
        switch call.caller {
        case .user(let principal)?:
            guard ownerField == nil || ownerField == principal.user || principal.isAdmin else {
                throw HubError(.forbidden, "users register codes for themselves")
            }
            owner = ownerField ?? principal.user
        case .backend?, nil:
            guard let given = ownerField else { throw HubError(.missingField, "missing field 'owner'") }
            owner = given
        }
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.createCode(
            owner: owner, label: label, target: target,
            reply: Reply(on: hub.loop, to: self) { me, result in
                me.hub.respond(id, result.map { .json(201, Self.codeJSON($0)) }.get(or: { .error($0) }))
            })
        return nil
    }

    /// GET /v1/qr-codes[?owner=]: a user's own codes (an admin's or a
    /// backend's choice of owner), oldest first.
    private func listCodesRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let owner: String
        switch call.caller {
        case .user(let principal)?:
            owner = call.request.query["owner"] ?? principal.user
            guard owner == principal.user || principal.isAdmin else { throw HubError(.forbidden, "users list their own codes") }
        case .backend?, nil:
            guard let given = call.request.query["owner"], !given.isEmpty else {
                throw HubError(.missingField, "missing query parameter 'owner'")
            }
            owner = given
        }
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.listCodes(
            owner: owner, limit: Self.codeListCap,
            reply: Reply(on: hub.loop, to: self) { me, result in
                me.hub.respond(
                    id,
                    result.map { .json(200, .object(["codes": .array($0.map(Self.codeJSON))])) }
                        .get(or: { .error($0) }))
            })
        return nil
    }

    /// GET /v1/qr-codes/{qr}/stats?bucket=&from=&to=: scans per bucket over
    /// a range widened to whole buckets.
    private func statsRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let qr = try call.id("qr", notFound: "no such QR code")
        guard case .user(let principal)? = call.caller else { throw HubError(.forbidden, "stats are for the code's owner") }
        let bucketName = call.request.query["bucket"] ?? "minute"
        guard let bucket = ScanBucket(rawValue: bucketName) else {
            throw HubError(.badRequest, "'bucket' must be minute, hour or day")
        }
        func roundDown(_ t: Int64) -> Int64 { t - ((t % bucket.millis) + bucket.millis) % bucket.millis }
        // `to` is exclusive; by default it ends the current bucket. Every
        // parsed time lies in 0...Timestamp.maxMillis, so this cannot overflow.
        var to = hub.clock.nowMillis() + 1
        if let text = call.request.query["to"] {
            guard let value = Timestamp.parseMillis(text) else {
                throw HubError(.badRequest, "'to' must be ms since the epoch (up to year 9999) or RFC 3339")
            }
            to = value
        }
        to = roundDown(to + bucket.millis - 1)
        var from = to - bucket.millis * (bucket == .day ? 30 : bucket == .hour ? 24 : 60)
        if let text = call.request.query["from"] {
            guard let value = Timestamp.parseMillis(text) else {
                throw HubError(.badRequest, "'from' must be ms since the epoch (up to year 9999) or RFC 3339")
            }
            from = roundDown(value)
        }
        guard from < to else { throw HubError(.badRequest, "'from' must be before 'to'") }
        guard (to - from) / bucket.millis <= Int64(Self.statsPointCap) else {
            throw HubError(.badRequest, "at most \(Self.statsPointCap) buckets per request; use a larger bucket")
        }
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.stats(
            qr: qr, fromMillis: from, toMillis: to, bucket: bucket,
            reply: Reply(on: hub.loop, to: self) { [from, to] me, result in
                let response: HTTPResponse
                switch result {
                case .success(let stats?) where stats.owner == principal.user || principal.isAdmin:
                    response = .json(
                        200,
                        .object([
                            "qr": .string(String(qr)), "bucket": .string(bucket.rawValue), "from": .int(from), "to": .int(to),
                            "total": .int(stats.points.reduce(0) { $0 + $1.count }),
                            "points": .array(stats.points.map { .object(["at": .int($0.atMillis), "count": .int($0.count)]) }),
                        ]))
                case .success(.some):
                    response = .error(HubError(.forbidden, "only the code's owner or an admin may read its stats"))
                case .success(nil):
                    response = .error(HubError(.notFound, "no such QR code"))
                case .failure(let error):
                    response = .error(error)
                }
                me.hub.respond(id, response)
            })
        return nil
    }

    /// True for an absolute http(s) URL with a host and no space or control
    /// character: the redirect service sends scanners there, so `javascript:`,
    /// `data:`, `file:`, scheme-relative `//host` and header-splitting CR/LF
    /// are refused where they enter.
    static func isRedirectTarget(_ target: String) -> Bool {
        let lower = target.lowercased()
        guard let rest = ["https://", "http://"].first(where: lower.hasPrefix).map({ lower.dropFirst($0.count) }),
            let first = rest.utf8.first, first != UInt8(ascii: "/")
        else { return false }
        return target.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7F }
    }

    static func codeJSON(_ code: QRCode) -> JSON {
        .object([
            "id": .string(String(code.id)), "owner": .string(code.owner), "label": .string(code.label),
            "target": .string(code.target), "total": .int(code.total), "created_at": .int(code.createdAtMillis),
            "channel": .string(ScanChannel.code(code.id).name),
        ])
    }
}
