// Target `http`: one REST request through `Hub.handleHTTP` over the fakes.
// The input reads like an HTTP/1.1 request, so that the corpus stays legible:
//
//     GET /v1/qr-codes/1/stats?from=0&to=9223372036854775807
//     Authorization: Bearer $alice
//     Content-Type: application/json
//
//     {"body": "..."}
//
// Line 1 is method and target; header lines follow up to an empty line; the
// rest is the body. Credentials are placeholders so that mutations keep them
// valid: `$alice`, `$bob`, `$admin` become tokens, `$key` the backend key (in
// `Authorization: Bearer` or `X-API-Key`); `X-Sign: <claims JSON>` becomes a
// bearer token signed with the right key. `X-Market: ok` makes the market
// store answer 200 and create payments (so the provider is charged). After
// the request, every deferred store reply runs and time passes; the request
// must have been answered by then.
import SwitchboardAuth
import SwitchboardHub
import SwitchboardWire

enum HTTPFuzz {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let f = FuzzHub()
        guard let request = decode(Array(bytes), f) else { return }
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.hub.connectionOpened(2, token: f.token("bob"))
        f.settle()
        f.hub.handleHTTP(request, id: 1)
        f.settle()
        f.passTime()
        // A request left unanswered hangs its client until the transport's
        // timeout: a defect as much as a crash.
        if f.transport.responses[1] == nil {
            fatalError("no answer to \(request.method) \(request.path) \(request.query)")
        }
    }

    static func decode(_ bytes: [UInt8], _ f: FuzzHub) -> HTTPRequest? {
        let newline = UInt8(ascii: "\n")
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var bodyStart = bytes.count
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: newline) ?? bytes.count
            var line = bytes[start..<end]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            start = end + 1
            if line.isEmpty && !lines.isEmpty { bodyStart = min(start, bytes.count); break }
            lines.append(line)
        }
        guard let first = lines.first else { return nil }
        let requestLine = String(decoding: first, as: UTF8.self).split(separator: " ", maxSplits: 2)
        guard requestLine.count >= 2 else { return nil }
        let target = requestLine[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var request = HTTPRequest(
            method: String(requestLine[0]), path: String(target[0]),
            query: target.count > 1 ? HTTPResponse.parseQuery(String(target[1])) : [:],
            clientAddress: "192.0.2.1", body: Array(bytes[bodyStart...]))
        for line in lines.dropFirst() {
            let text = String(decoding: line, as: UTF8.self)
            guard let colon = text.firstIndex(of: ":") else { continue }
            let name = text[..<colon].lowercased()
            let value = substitute(text[text.index(after: colon)...].drop { $0 == " " }, f)
            switch name {
            case "authorization": request.authorization = value
            case "x-api-key": request.apiKey = value
            case "content-type": request.contentType = value
            case "idempotency-key": request.idempotencyKey = value
            case "x-sign":
                guard let claims = try? JSON.parse(value) else { continue }
                request.authorization =
                    "Bearer " + JWTSigner.hs256(header: JWTFuzz.header, payload: claims, secret: FuzzHub.secret)
            case "x-market" where value == "ok":
                f.market.refusal = nil
                f.market.paymentStart = .created(id: 1, currency: "EUR")
            default: continue
            }
        }
        return request
    }

    static func substitute(_ value: Substring, _ f: FuzzHub) -> String {
        var out = String(value)
        for user in ["alice", "bob", "admin"] where out.contains("$" + user) {
            out = out.replacing("$" + user, with: f.token(user, role: user == "admin" ? "admin" : "user"))
        }
        return out.replacing("$key", with: FuzzHub.apiKey)
    }
}
