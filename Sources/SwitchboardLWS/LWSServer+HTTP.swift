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
    /// When the body must have arrived (monotonic ns; see LWSServer+Edge).
    let deadline: UInt64
    /// Handed to the hub (the body, if any, is complete).
    var dispatched = false
    /// Answer with `Connection: close` and close: lws' framing of what
    /// follows cannot be trusted (early answer, unread body, pipelining).
    var closeAfterResponse = false
    /// A pipelined request followed: lws will not call HTTP_WRITEABLE.
    var pipelined = false

    init(wsi: OpaquePointer, request: HTTPRequest, expectedBody: Int, deadline: UInt64) {
        self.wsi = wsi
        self.request = request
        self.expectedBody = expectedBody
        self.deadline = deadline
    }
}

private let methods: [(lws_token_indexes, String)] = [
    (WSI_TOKEN_GET_URI, "GET"), (WSI_TOKEN_POST_URI, "POST"), (WSI_TOKEN_HEAD_URI, "HEAD"),
    (WSI_TOKEN_PUT_URI, "PUT"), (WSI_TOKEN_PATCH_URI, "PATCH"), (WSI_TOKEN_DELETE_URI, "DELETE"),
    (WSI_TOKEN_OPTIONS_URI, "OPTIONS"),
]

extension LWSServer {
    func httpEvent(
        _ wsi: OpaquePointer, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?,
        _ input: UnsafeMutableRawPointer?, _ length: Int
    ) -> Int32 {
        switch reason {
        case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
            return filterNetworkConnection(fd: Int32(truncatingIfNeeded: Int(bitPattern: input)))
        case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
            connectionAdopted(wsi)
            return 0
        case LWS_CALLBACK_FILTER_HTTP_CONNECTION, LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            headersComplete(wsi)
            return 0
        case LWS_CALLBACK_WSI_DESTROY:
            connectionDestroyed(wsi)
            return 0
        case LWS_CALLBACK_HTTP:
            return beginRequest(wsi, user, input)
        case LWS_CALLBACK_HTTP_BODY:
            let id = requestID(wsi, user)
            guard let pending = httpRequests[id] else { return -1 }
            // Already answered (deadline, pipelining): the rest is not read.
            if pending.response != nil || pending.dispatched { return 0 }
            if pending.request.body.count + length > options.maxBodyBytes {
                pending.rejectedBody = true
            } else if let input {
                pending.request.body.append(contentsOf: UnsafeRawBufferPointer(start: input, count: length))
            }
            return 0
        case LWS_CALLBACK_HTTP_BODY_COMPLETION:
            let id = requestID(wsi, user)
            guard let pending = httpRequests[id] else { return -1 }
            if pending.response != nil || pending.dispatched { return 0 }
            if pending.rejectedBody {
                respond(id, .error(413, .payloadTooLarge, "body larger than \(options.maxBodyBytes) bytes"))
            } else {
                dispatch(id, pending)
            }
            return 0
        case LWS_CALLBACK_HTTP_WRITEABLE:
            return writeResponse(requestID(wsi, user))
        case LWS_CALLBACK_CLOSED_HTTP:
            httpRequests.removeValue(forKey: requestID(wsi, user))
            requestOnConnection.removeValue(forKey: wsi)
            return 0
        default:
            return lws_callback_http_dummy(wsi, reason, user, input, length)
        }
    }

    /// The request now on `wsi`. lws 4.1.6 may free and reallocate the
    /// per-session data between requests on one connection (protocol
    /// rebinding in lws_http_action), so the connection is the key.
    private func requestID(_ wsi: OpaquePointer, _ user: UnsafeMutableRawPointer?) -> HTTPRequestID {
        requestOnConnection[wsi] ?? sessionID(user)
    }

    private func beginRequest(_ wsi: OpaquePointer, _ user: UnsafeMutableRawPointer?, _ input: UnsafeMutableRawPointer?) -> Int32
    {
        if stopping {
            return lws_return_http_status(wsi, 503, nil) != 0 ? -1 : (lws_http_transaction_completed(wsi) != 0 ? -1 : 0)
        }
        // A second request parsed while the first is unanswered (pipelined
        // in one segment). lws 4.1.6 feeds the buffered bytes into the first
        // request's header table without resetting it (this callback then
        // sees the first URI again), clears hdr_parsing_completed, and from
        // then on drops every POLLOUT before HTTP_WRITEABLE (try_pollout in
        // roles/h1/ops-h1.c). So the first request is answered by writing
        // directly, now or when its answer comes, with `Connection: close`,
        // and the connection is closed; the second is never served.
        let current = requestID(wsi, user)
        if let earlier = httpRequests[current], earlier.wsi == wsi {
            earlier.closeAfterResponse = true
            if earlier.response != nil { _ = writeResponse(current); return -1 }
            earlier.pipelined = true
            lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, 30)
            return 0
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
        // lws hands each `key=value` already percent-decoded (and split at
        // `&`): decoding it again read `%2B` as a space and `%2541` as `A`.
        for args in queryFragments(wsi) where !args.isEmpty {
            let pair = args.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            query[String(pair[0])] = pair.count > 1 ? String(pair[1]) : ""
        }
        let request = HTTPRequest(
            method: method, path: path, query: query,
            authorization: headerValue(wsi, WSI_TOKEN_HTTP_AUTHORIZATION),
            apiKey: customHeader(wsi, "x-api-key:"),
            contentType: headerValue(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE),
            idempotencyKey: customHeader(wsi, "idempotency-key:"),
            clientAddress: peerAddress(wsi))
        if let token = oversizedHeader(wsi) {
            let pending = PendingHTTPRequest(wsi: wsi, request: request, expectedBody: 0, deadline: requestDeadline(wsi))
            httpRequests[id] = pending
            requestOnConnection[wsi] = id
            respond(id, .error(431, .badRequest, "header \(token) is \(Self.headerValueLimit) bytes or longer"), close: true)
            return 0
        }
        // lws does not recognise `Transfer-Encoding : chunked` (white space
        // before the colon) and keeps it as an unknown header, so the body
        // would be framed by Content-Length while a lenient proxy in front
        // frames it as chunked: counted as a Transfer-Encoding (RFC 7230
        // §3.2.4 says such a request must be refused).
        let spacedCodings = Self.spacedTransferEncodingNames.compactMap { customHeader(wsi, $0) }
        let framing = HTTPFraming.check(
            contentLength: headerFragments(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH),
            transferEncoding: headerFragments(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) + spacedCodings)
        let declared: Int
        switch framing {
        case .refused(let status, let message):
            let pending = PendingHTTPRequest(wsi: wsi, request: request, expectedBody: 0, deadline: requestDeadline(wsi))
            httpRequests[id] = pending
            requestOnConnection[wsi] = id
            respond(id, .error(status, .badRequest, message), close: true)
            return 0
        case .length(let n): declared = n
        case .none: declared = 0
        }
        let pending = PendingHTTPRequest(wsi: wsi, request: request, expectedBody: declared, deadline: requestDeadline(wsi))
        httpRequests[id] = pending
        requestOnConnection[wsi] = id
        if path == "/metrics", let refusal = metricsRefusal(request) {
            respond(id, refusal, close: declared > 0)
            return 0
        }
        let carriesBody = ["POST", "PUT", "PATCH"].contains(method)
        if carriesBody && framing == .none {
            // lws 4.1.6 frames a POST/PUT/PATCH without Content-Length as a
            // 100 MB body (lws_http_action): take it as empty, as RFC 9112
            // says, and close after the answer so that lws never reads on.
            pending.closeAfterResponse = true
        }
        if !carriesBody && declared > 0 {
            // lws would discard this body after the answer, its timeout
            // re-armed by every chunk: close instead of reading on.
            pending.closeAfterResponse = true
        }
        if declared > options.maxBodyBytes {
            respond(id, .error(413, .payloadTooLarge, "body larger than \(options.maxBodyBytes) bytes"), close: true)
            return 0
        }
        if carriesBody && declared > 0 {
            // Credentials and the caller's kind are decided now, not after a
            // body nobody will use (and that may never come whole).
            if let refusal = hub.preflightHTTP(request) {
                metrics.httpRequests.increment()
                respond(id, refusal, close: true)
                return 0
            }
            return 0  // the body follows in HTTP_BODY callbacks
        }
        dispatch(id, pending)
        return 0
    }

    private func dispatch(_ id: HTTPRequestID, _ pending: PendingHTTPRequest) {
        pending.dispatched = true
        // A deferred reply (store round trip) must outlive lws' default
        // 5-10 s idle timeout; this applies only from here on.
        lws_set_timeout(pending.wsi, PENDING_TIMEOUT_HTTP_CONTENT, 30)
        hub.handleHTTP(pending.request, id: id)
    }

    public func respond(_ request: HTTPRequestID, _ response: HTTPResponse) {
        respond(request, response, close: false)
    }

    /// Queues `response`; with `close` the connection closes after it.
    func respond(_ request: HTTPRequestID, _ response: HTTPResponse, close: Bool) {
        guard let pending = httpRequests[request], pending.response == nil else { return }
        pending.response = response
        if close { pending.closeAfterResponse = true }
        if pending.pipelined {
            // See beginRequest: no HTTP_WRITEABLE will come for this wsi.
            _ = writeResponse(request)
            lws_set_timeout(pending.wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC)
            return
        }
        lws_callback_on_writable(pending.wsi)
    }

    private func writeResponse(_ id: HTTPRequestID) -> Int32 {
        guard let pending = httpRequests[id], let response = pending.response else { return 0 }
        httpRequests.removeValue(forKey: id)
        requestOnConnection.removeValue(forKey: pending.wsi)
        let headerCapacity = 2048
        var buffer = [UInt8](repeating: 0, count: Int(sb_lws_pre()) + headerCapacity + response.body.count)
        let isHead = pending.request.method == "HEAD"
        let result: Int32 = buffer.withUnsafeMutableBufferPointer { b in
            let start = b.baseAddress! + Int(sb_lws_pre())
            var p: UnsafeMutablePointer<UInt8>? = start
            let end = start + headerCapacity - 1
            if lws_add_http_common_headers(
                pending.wsi, UInt32(response.status), response.contentType,
                lws_filepos_t(response.body.count), &p, end) != 0
            {
                return -1
            }
            var extra = response.headers
            extra["cache-control"] = extra["cache-control"] ?? "no-store"
            if pending.closeAfterResponse { extra["connection"] = "close" }
            for (name, value) in extra {
                let headerName = name.lowercased() + ":"
                let added = value.withCString { v in
                    lws_add_http_header_by_name(
                        pending.wsi, headerName,
                        UnsafeMutablePointer(mutating: v).withMemoryRebound(to: UInt8.self, capacity: value.utf8.count) { $0 },
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
        if result < 0 || pending.closeAfterResponse { return -1 }
        if lws_http_transaction_completed(pending.wsi) != 0 { return -1 }
        return 0
    }

    /// `Transfer-Encoding` with white space before the colon, as lws keeps it
    /// (an unknown header whose name ends in the white space and the colon).
    static let spacedTransferEncodingNames = ["transfer-encoding :", "transfer-encoding\t:", "transfer-encoding  :"]

    /// Each value lws stored for header `token`: lws 4.1.6 (parsers.c) keeps
    /// a repeated known header as a chain of fragments (each continuation
    /// starting with a space), and lws_hdr_copy joins them with ','.
    private func headerFragments(_ wsi: OpaquePointer, _ token: lws_token_indexes) -> [String] {
        fragments(wsi, token, most: 8, bytes: 256, markTooLong: true)
    }

    /// The fragments of `token`, at most `most` of at most `bytes` each; a
    /// longer one ends the list, as "(too long)" when `markTooLong` (a value
    /// no check accepts).
    private func fragments(
        _ wsi: OpaquePointer, _ token: lws_token_indexes, most: Int32, bytes: Int,
        markTooLong: Bool
    ) -> [String] {
        var out: [String] = []
        var buffer = [CChar](repeating: 0, count: bytes)
        var index: Int32 = 0
        while index < most {
            let n = buffer.withUnsafeMutableBufferPointer {
                lws_hdr_copy_fragment(wsi, $0.baseAddress, Int32($0.count), token, index)
            }
            if n < 0 {
                // -1: no such fragment, or one longer than the buffer.
                if markTooLong && lws_hdr_fragment_length(wsi, token, index) > 0 { out.append("(too long)") }
                break
            }
            out.append(String(cString: buffer))
            index += 1
        }
        return out
    }

    /// The name of a known header lws cut at its token limit, if any.
    private func oversizedHeader(_ wsi: OpaquePointer) -> String? {
        for raw in 0..<WSI_TOKEN_COUNT.rawValue where !Self.unlimitedTokens.contains(raw) {
            let token = lws_token_indexes(rawValue: raw)
            if lws_hdr_total_length(wsi, token) >= Self.headerValueLimit {
                return lws_token_to_string(token).map { String(cString: $0).replacingOccurrences(of: ":", with: "") } ?? "#\(raw)"
            }
        }
        return nil
    }

    /// 401 unless the metrics token is configured and presented.
    private func metricsRefusal(_ request: HTTPRequest) -> HTTPResponse? {
        guard let token = options.metricsToken else { return nil }
        let presented: String
        if let header = request.authorization, header.count > 7, header.prefix(7).lowercased() == "bearer " {
            presented = String(header.dropFirst(7))
        } else {
            presented = ""
        }
        if constantTimeEqual(Array(presented.utf8), Array(token.utf8)) { return nil }
        return .error(401, .unauthorized, "/metrics needs the metrics token", headers: ["WWW-Authenticate": "Bearer"])
    }

    /// Each `name=value` of the query string (lws stores them as separate
    /// fragments; copying the whole header loses the separators).
    private func queryFragments(_ wsi: OpaquePointer) -> [String] {
        fragments(wsi, WSI_TOKEN_HTTP_URI_ARGS, most: 64, bytes: 4096, markTooLong: false)
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
        return copied >= 0 ? headerText(buffer, length: Int(copied)) : nil
    }
}
