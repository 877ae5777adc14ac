// REST routes for QR codes: register and list codes, ingest scans (backends),
// read a code's statistics (its owner or an admin).
import SwitchboardWire

extension Hub {
    /// Most codes listed by `GET /v1/qr-codes`.
    static let codeListCap = 1_000
    /// Most points in one stats answer.
    static let statsPointCap = 10_080

    /// Routes under /v1/scans and /v1/qr-codes; nil when the path is neither.
    func scanRoute(_ request: HTTPRequest, id: HTTPRequestID) -> HTTPResponse?? {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0] == "v1", parts[1] == "scans" || parts[1] == "qr-codes" else { return nil }
        let caller: RESTCaller
        switch self.caller(of: request) {
        case .failure(let response): return .some(response)
        case .success(let c): caller = c
        }
        switch (request.method, parts.count, parts[1]) {
        case ("POST", 2, "scans"): return .some(ingestRoute(request, caller: caller, id: id))
        case ("POST", 2, "qr-codes"): return .some(createCodeRoute(request, caller: caller, id: id))
        case ("GET", 2, "qr-codes"): return .some(listCodesRoute(request, caller: caller, id: id))
        case ("GET", 4, "qr-codes") where parts[3] == "stats":
            guard let qr = Int64(parts[2]), qr > 0 else { return .some(.error(404, .notFound, "no such QR code")) }
            return .some(statsRoute(request, qr: qr, caller: caller, id: id))
        case (_, 2, _), (_, 4, "qr-codes"): return .some(.error(405, .methodNotAllowed, "method not allowed"))
        default: return .some(.error(404, .notFound, "no such endpoint"))
        }
    }

    static func storeFailure(_ error: StoreError) -> HTTPResponse {
        switch error.code {
        case .unavailable: return unavailable
        case .overloaded: return .error(503, .overloaded, "the store is busy; retry later", headers: ["Retry-After": "1"])
        case .failed: return .error(500, .internalError, "the store failed")
        case .invalidValue: return .error(400, .badRequest, "a value cannot be stored (NUL characters and out-of-range numbers are refused)")
        }
    }

    private func ingestRoute(_ request: HTTPRequest, caller: RESTCaller, id: HTTPRequestID) -> HTTPResponse? {
        guard case .backend = caller else { return .error(403, .forbidden, "scans are reported with a backend API key") }
        guard let body = try? JSON.parse(request.body, maxDepth: 16) else { return .error(400, .badJSON, "body must be JSON") }
        let scans: [ScanInput]
        do {
            scans = try ScanRequest.decode(body, nowMillis: clock.nowMillis())
        } catch {
            return .error(400, error.code, error.message)
        }
        guard store.isAvailable else { return Self.unavailable }
        self.scans.ingest(scans) { [weak self] result in
            guard let self else { return }
            let response: HTTPResponse
            switch result {
            case .success(let outcome):
                scansCommitted(outcome.counts)
                metrics.scansIngested.increment(by: outcome.accepted)
                response = .json(200, .object([
                    "accepted": .int(Int64(outcome.accepted)),
                    "duplicates": .int(Int64(outcome.duplicates)),
                    "rejected": .array(outcome.unknownCodes.map { index in
                        .object(["index": .int(Int64(index)), "code": .string(ErrorCode.unknownQRCode.rawValue)])
                    }),
                ]))
            case .failure(let error):
                response = Self.storeFailure(error)
            }
            transport?.respond(id, response)
        }
        return nil
    }

    private func createCodeRoute(_ request: HTTPRequest, caller: RESTCaller, id: HTTPRequestID) -> HTTPResponse? {
        guard let body = try? JSON.parse(request.body, maxDepth: 8), body.isObject else {
            return .error(400, .badJSON, "body must be a JSON object")
        }
        func field(_ name: String, max: Int) -> String?? {
            guard let value = body[name] else { return .some(nil) }
            guard let text = value.stringValue, !text.isEmpty, text.utf8.count <= max else { return nil }
            return .some(text)
        }
        guard let labelField = field("label", max: 200), let label = labelField, Identifier.isValid(label, maxBytes: 200) else {
            return .error(400, .badRequest, "'label' must be a string of 1 to 200 bytes")
        }
        guard let targetField = field("target", max: 2048), let target = targetField, Self.isRedirectTarget(target) else {
            return .error(400, .badRequest, "'target' must be an absolute http(s) URL of at most 2048 bytes without spaces or control characters")
        }
        guard let ownerField = field("owner", max: 256), ownerField.map(Identifier.isUserID) ?? true else {
            return .error(400, .badRequest, "'owner' must be a user id")
        }
        let owner: String
        switch caller {
        case .user(let principal):
            guard ownerField == nil || ownerField == principal.user || principal.isAdmin else {
                return .error(403, .forbidden, "users register codes for themselves")
            }
            owner = ownerField ?? principal.user
        case .backend:
            guard let given = ownerField else { return .error(400, .missingField, "missing field 'owner'") }
            owner = given
        }
        guard store.isAvailable else { return Self.unavailable }
        scans.createCode(owner: owner, label: label, target: target) { [weak self] result in
            self?.transport?.respond(id, result.map { .json(201, Self.codeJSON($0)) }.get(or: Self.storeFailure))
        }
        return nil
    }

    private func listCodesRoute(_ request: HTTPRequest, caller: RESTCaller, id: HTTPRequestID) -> HTTPResponse? {
        let owner: String
        switch caller {
        case .user(let principal):
            owner = request.query["owner"] ?? principal.user
            guard owner == principal.user || principal.isAdmin else {
                return .error(403, .forbidden, "users list their own codes")
            }
        case .backend:
            guard let given = request.query["owner"], !given.isEmpty else {
                return .error(400, .missingField, "missing query parameter 'owner'")
            }
            owner = given
        }
        guard store.isAvailable else { return Self.unavailable }
        scans.listCodes(owner: owner, limit: Self.codeListCap) { [weak self] result in
            self?.transport?.respond(id, result.map { .json(200, .object(["codes": .array($0.map(Self.codeJSON))])) }
                .get(or: Self.storeFailure))
        }
        return nil
    }

    private func statsRoute(_ request: HTTPRequest, qr: QRCodeID, caller: RESTCaller, id: HTTPRequestID) -> HTTPResponse? {
        guard case .user(let principal) = caller else { return .error(403, .forbidden, "stats are for the code's owner") }
        let bucketName = request.query["bucket"] ?? "minute"
        guard let bucket = ScanBucket(rawValue: bucketName) else {
            return .error(400, .badRequest, "'bucket' must be minute, hour or day")
        }
        func roundDown(_ t: Int64) -> Int64 { t - ((t % bucket.millis) + bucket.millis) % bucket.millis }
        // `to` is exclusive; by default it ends the current bucket. Ranges
        // are widened to whole buckets.
        var to = clock.nowMillis() + 1
        if let text = request.query["to"] {
            guard let value = Timestamp.parseMillis(text) else { return .error(400, .badRequest, "'to' must be ms since the epoch (up to year 9999) or RFC 3339") }
            to = value
        }
        to = roundDown(to + bucket.millis - 1)
        var from = to - bucket.millis * (bucket == .day ? 30 : bucket == .hour ? 24 : 60)
        if let text = request.query["from"] {
            guard let value = Timestamp.parseMillis(text) else { return .error(400, .badRequest, "'from' must be ms since the epoch (up to year 9999) or RFC 3339") }
            from = roundDown(value)
        }
        guard from < to else { return .error(400, .badRequest, "'from' must be before 'to'") }
        guard (to - from) / bucket.millis <= Int64(Self.statsPointCap) else {
            return .error(400, .badRequest, "at most \(Self.statsPointCap) buckets per request; use a larger bucket")
        }
        guard store.isAvailable else { return Self.unavailable }
        scans.stats(qr: qr, fromMillis: from, toMillis: to, bucket: bucket) { [weak self] result in
            let response: HTTPResponse
            switch result {
            case .success(let stats?) where stats.owner == principal.user || principal.isAdmin:
                response = .json(200, .object([
                    "qr": .string(String(qr)), "bucket": .string(bucket.rawValue), "from": .int(from), "to": .int(to),
                    "total": .int(stats.points.reduce(0) { $0 + $1.count }),
                    "points": .array(stats.points.map { .object(["at": .int($0.atMillis), "count": .int($0.count)]) }),
                ]))
            case .success(.some):
                response = .error(403, .forbidden, "only the code's owner or an admin may read its stats")
            case .success(nil):
                response = .error(404, .notFound, "no such QR code")
            case .failure(let error):
                response = Self.storeFailure(error)
            }
            self?.transport?.respond(id, response)
        }
        return nil
    }

    /// True for an absolute http(s) URL with a host and no space or control
    /// character: the redirect service sends scanners there, so `javascript:`,
    /// `data:`, `file:`, scheme-relative `//host` and header-splitting CR/LF
    /// are refused where they enter.
    static func isRedirectTarget(_ target: String) -> Bool {
        let lower = target.lowercased()
        guard let rest = ["https://", "http://"].first(where: lower.hasPrefix).map({ lower.dropFirst($0.count) }),
              let first = rest.utf8.first, first != UInt8(ascii: "/") else { return false }
        return target.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7F }
    }

    static func codeJSON(_ code: QRCode) -> JSON {
        .object(["id": .string(String(code.id)), "owner": .string(code.owner), "label": .string(code.label),
                 "target": .string(code.target), "total": .int(code.total), "created_at": .int(code.createdAtMillis),
                 "channel": .string(ScanChannel.code(code.id).name)])
    }
}

extension Result {
    /// The success value, or the failure turned into one.
    func get(or transform: (Failure) -> Success) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let error): return transform(error)
        }
    }
}
