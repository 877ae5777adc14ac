// Transport-free HTTP request and response values for the REST routes.
import SwitchboardWire

/// An HTTP request as the hub sees it.
public struct HTTPRequest: Sendable {
    /// Upper-case method.
    public var method: String
    /// The path without the query.
    public var path: String
    /// Decoded query parameters (last one wins).
    public var query: [String: String]
    /// The `Authorization` header, if any.
    public var authorization: String?
    /// The `X-API-Key` header, if any.
    public var apiKey: String?
    /// The `Content-Type` header, if any.
    public var contentType: String?
    /// The `Idempotency-Key` header, if any.
    public var idempotencyKey: String?
    /// The client's address (audit logs).
    public var clientAddress: String?
    /// The body.
    public var body: [UInt8]

    /// A request.
    public init(
        method: String, path: String, query: [String: String] = [:], authorization: String? = nil,
        apiKey: String? = nil, contentType: String? = nil, idempotencyKey: String? = nil,
        clientAddress: String? = nil, body: [UInt8] = []
    ) {
        self.idempotencyKey = idempotencyKey
        self.clientAddress = clientAddress
        self.method = method
        self.path = path
        self.query = query
        self.authorization = authorization
        self.apiKey = apiKey
        self.contentType = contentType
        self.body = body
    }
}

/// An HTTP response.
public struct HTTPResponse: Sendable, Equatable {
    /// Status code.
    public var status: Int
    /// Content type.
    public var contentType: String
    /// Extra headers.
    public var headers: [String: String]
    /// Body bytes.
    public var body: [UInt8]

    /// A response.
    public init(status: Int, contentType: String = "application/json", headers: [String: String] = [:], body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }

    /// A JSON response.
    public static func json(_ status: Int, _ value: JSON, headers: [String: String] = [:]) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: value.bytes)
    }

    /// The uniform error body: `{"error":{"code","message"}}`.
    public static func error(_ status: Int, _ code: ErrorCode, _ message: String, headers: [String: String] = [:]) -> HTTPResponse
    {
        json(
            status, .object(["error": .object(["code": .string(code.rawValue), "message": .string(message)])]),
            headers: headers)
    }

    /// Parses a query string (`a=1&b=x%20y`).
    public static func parseQuery(_ query: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = percentDecode(kv[0]) else { continue }
            out[key] = kv.count > 1 ? percentDecode(kv[1]) ?? "" : ""
        }
        return out
    }

    static func percentDecode<S: StringProtocol>(_ s: S) -> String? {
        var bytes: [UInt8] = []
        var it = Array(s.utf8).makeIterator()
        while let c = it.next() {
            if c == UInt8(ascii: "+") { bytes.append(0x20); continue }
            if c != UInt8(ascii: "%") { bytes.append(c); continue }
            guard let h = it.next(), let l = it.next(), let v = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16) else {
                return nil
            }
            bytes.append(v)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

/// A stable digest of a request body, to tell a retry (same idempotency key,
/// same body) from a different call that reuses the key.
enum RequestFingerprint {
    /// FNV-1a over the canonical JSON (object keys are written sorted).
    static func of(_ body: JSON) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body.bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}
