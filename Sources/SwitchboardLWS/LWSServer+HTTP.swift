// The HTTP side: read the request (headers, bounded body), hand it to the hub,
// and write its response whenever it arrives (deferred replies keep the
// connection alive with lws_set_timeout).
import SwitchboardHub
import SwitchboardWire
internal import CLibWebSockets

/// An HTTP request between its headers and its response.
final class PendingHTTPRequest {
    let wsi: OpaquePointer
    var request: HTTPRequest
    var expectedBody: Int
    var response: HTTPResponse?
    var rejectedBody = false

    init(wsi: OpaquePointer, request: HTTPRequest, expectedBody: Int) {
        self.wsi = wsi
        self.request = request
        self.expectedBody = expectedBody
    }
}

private let methods: [(lws_token_indexes, String)] = [
    (WSI_TOKEN_GET_URI, "GET"), (WSI_TOKEN_POST_URI, "POST"), (WSI_TOKEN_HEAD_URI, "HEAD"),
    (WSI_TOKEN_PUT_URI, "PUT"), (WSI_TOKEN_PATCH_URI, "PATCH"), (WSI_TOKEN_DELETE_URI, "DELETE"),
    (WSI_TOKEN_OPTIONS_URI, "OPTIONS"),
]

extension LWSServer {
    func httpEvent(_ wsi: OpaquePointer, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?,
                   _ input: UnsafeMutableRawPointer?, _ length: Int) -> Int32 {
        switch reason {
        case LWS_CALLBACK_HTTP:
            return beginRequest(wsi, user, input)
        case LWS_CALLBACK_HTTP_BODY:
            let id = sessionID(user)
            guard let pending = httpRequests[id] else { return -1 }
            if pending.request.body.count + length > options.maxBodyBytes {
                pending.rejectedBody = true
            } else if let input {
                pending.request.body.append(contentsOf: UnsafeRawBufferPointer(start: input, count: length))
            }
            return 0
        case LWS_CALLBACK_HTTP_BODY_COMPLETION:
            let id = sessionID(user)
            guard let pending = httpRequests[id] else { return -1 }
            if pending.rejectedBody {
                respond(id, .error(413, .payloadTooLarge, "body larger than \(options.maxBodyBytes) bytes"))
            } else {
                dispatch(id, pending)
            }
            return 0
        case LWS_CALLBACK_HTTP_WRITEABLE:
            return writeResponse(sessionID(user))
        case LWS_CALLBACK_CLOSED_HTTP:
            httpRequests.removeValue(forKey: sessionID(user))
            return 0
        default:
            return lws_callback_http_dummy(wsi, reason, user, input, length)
        }
    }

    private func beginRequest(_ wsi: OpaquePointer, _ user: UnsafeMutableRawPointer?, _ input: UnsafeMutableRawPointer?) -> Int32 {
        if stopping {
            return lws_return_http_status(wsi, 503, nil) != 0 ? -1 : (lws_http_transaction_completed(wsi) != 0 ? -1 : 0)
        }
        let id = allocateID()
        user?.storeBytes(of: id, as: UInt64.self)
        var method = "GET"
        var path = "/"
        for (token, name) in methods {
            if let uri = headerValue(wsi, token) {
                method = name
                path = uri
                break
            }
        }
        var query: [String: String] = [:]
        for args in queryFragments(wsi) { query.merge(HTTPResponse.parseQuery(args)) { _, new in new } }
        let request = HTTPRequest(method: method, path: path, query: query,
                                  authorization: headerValue(wsi, WSI_TOKEN_HTTP_AUTHORIZATION),
                                  apiKey: customHeader(wsi, "x-api-key:"),
                                  contentType: headerValue(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE),
                                  idempotencyKey: customHeader(wsi, "idempotency-key:"),
                                  clientAddress: peerAddress(wsi))
        let declared = headerValue(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH).flatMap { Int($0) } ?? 0
        let pending = PendingHTTPRequest(wsi: wsi, request: request, expectedBody: declared)
        httpRequests[id] = pending
        if declared > options.maxBodyBytes {
            respond(id, .error(413, .payloadTooLarge, "body larger than \(options.maxBodyBytes) bytes"))
            return 0
        }
        if ["POST", "PUT", "PATCH"].contains(method) && declared > 0 {
            return 0  // the body follows in HTTP_BODY callbacks
        }
        dispatch(id, pending)
        return 0
    }

    private func dispatch(_ id: HTTPRequestID, _ pending: PendingHTTPRequest) {
        // A deferred reply (store round trip) must outlive lws' default
        // 5-10 s idle timeout.
        lws_set_timeout(pending.wsi, PENDING_TIMEOUT_HTTP_CONTENT, 30)
        hub.handleHTTP(pending.request, id: id)
    }

    public func respond(_ request: HTTPRequestID, _ response: HTTPResponse) {
        guard let pending = httpRequests[request], pending.response == nil else { return }
        pending.response = response
        lws_callback_on_writable(pending.wsi)
    }

    private func writeResponse(_ id: HTTPRequestID) -> Int32 {
        guard let pending = httpRequests[id], let response = pending.response else { return 0 }
        httpRequests.removeValue(forKey: id)
        let headerCapacity = 2048
        var buffer = [UInt8](repeating: 0, count: Int(sb_lws_pre()) + headerCapacity + response.body.count)
        let isHead = pending.request.method == "HEAD"
        let result: Int32 = buffer.withUnsafeMutableBufferPointer { b in
            let start = b.baseAddress! + Int(sb_lws_pre())
            var p: UnsafeMutablePointer<UInt8>? = start
            let end = start + headerCapacity - 1
            if lws_add_http_common_headers(pending.wsi, UInt32(response.status), response.contentType,
                                           lws_filepos_t(response.body.count), &p, end) != 0 { return -1 }
            var extra = response.headers
            extra["cache-control"] = extra["cache-control"] ?? "no-store"
            for (name, value) in extra {
                let headerName = name.lowercased() + ":"
                let added = value.withCString { v in
                    lws_add_http_header_by_name(pending.wsi, headerName, UnsafeMutablePointer(mutating: v).withMemoryRebound(to: UInt8.self, capacity: value.utf8.count) { $0 },
                                                Int32(value.utf8.count), &p, end)
                }
                if added != 0 { return -1 }
            }
            if lws_finalize_write_http_header(pending.wsi, start, &p, end) != 0 { return -1 }
            if response.body.isEmpty || isHead { return 0 }
            let bodyStart = p!
            response.body.withUnsafeBufferPointer { body in
                bodyStart.update(from: body.baseAddress!, count: body.count)
            }
            let written = sb_lws_write_http_final(pending.wsi, bodyStart, response.body.count)
            return written < 0 ? -1 : 0
        }
        if result < 0 { return -1 }
        return lws_http_transaction_completed(pending.wsi) != 0 ? -1 : 0
    }

    /// Each `name=value` of the query string (lws stores them as separate
    /// fragments; copying the whole header loses the separators).
    private func queryFragments(_ wsi: OpaquePointer) -> [String] {
        var out: [String] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        var index: Int32 = 0
        while index < 64 {
            let n = buffer.withUnsafeMutableBufferPointer {
                lws_hdr_copy_fragment(wsi, $0.baseAddress, Int32($0.count), WSI_TOKEN_HTTP_URI_ARGS, index)
            }
            if n < 0 { break }
            out.append(String(cString: buffer))
            index += 1
        }
        return out
    }

    private func peerAddress(_ wsi: OpaquePointer) -> String? {
        var buffer = [CChar](repeating: 0, count: 64)
        let ok = buffer.withUnsafeMutableBufferPointer { lws_get_peer_simple(wsi, $0.baseAddress, $0.count) != nil }
        return ok ? String(cString: buffer) : nil
    }

    private func customHeader(_ wsi: OpaquePointer, _ name: String) -> String? {
        let nameLength = Int32(name.utf8.count)
        let length = lws_hdr_custom_length(wsi, name, nameLength)
        guard length > 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(length) + 1)
        let copied = buffer.withUnsafeMutableBufferPointer {
            lws_hdr_custom_copy(wsi, $0.baseAddress, Int32($0.count), name, nameLength)
        }
        return copied >= 0 ? String(cString: buffer) : nil
    }
}
