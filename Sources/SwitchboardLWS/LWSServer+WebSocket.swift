// The switchboard.v1 WebSocket side: receive with fragment accumulation and
// size bound, a bounded outbound queue of shared frames, closes with codes.
import SwitchboardHub
import SwitchboardWire
internal import CLibWebSockets

/// One WebSocket connection's transport state.
final class WebSocketConnection {
    let wsi: OpaquePointer
    var queue: [OutboundFrame] = []
    var queueHead = 0
    var queuedBytes = 0
    var receiving: [UInt8] = []
    var receivingBinary = false
    var oversized = false
    var pendingClose: CloseCode?
    /// Our close frame is written; we now read and discard until the
    /// peer's close frame or the close timeout (see `close`).
    var closeSent = false

    init(wsi: OpaquePointer) { self.wsi = wsi }
}

/// The switchboard.v1 protocol's callback: WebSocket events here, HTTP
/// events (same protocol, see `start()`) in LWSServer+HTTP.
func switchboardCallback(
    _ wsi: OpaquePointer?, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?,
    _ input: UnsafeMutableRawPointer?, _ length: Int
) -> Int32 {
    guard let server = server(of: wsi) else { return lws_callback_http_dummy(wsi, reason, user, input, length) }
    switch reason {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED, LWS_CALLBACK_ESTABLISHED, LWS_CALLBACK_RECEIVE,
        LWS_CALLBACK_SERVER_WRITEABLE, LWS_CALLBACK_WS_PEER_INITIATED_CLOSE, LWS_CALLBACK_CLOSED:
        return server.webSocketEvent(wsi!, reason, user, input, length)
    default:
        return server.httpEvent(wsi!, reason, user, input, length)
    }
}

extension LWSServer: Transport {
    func webSocketEvent(
        _ wsi: OpaquePointer, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?,
        _ input: UnsafeMutableRawPointer?, _ length: Int
    ) -> Int32 {
        switch reason {
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
            mailbox.drain()
            metrics.mailboxDepth.record(mailbox.depth)
            metrics.loopLag.record(mailbox.lag)
            return 0
        case LWS_CALLBACK_ESTABLISHED:
            let id = allocateID()
            user?.storeBytes(of: id, as: UInt64.self)
            sockets[id] = WebSocketConnection(wsi: wsi)
            hub.connectionOpened(id, token: handshakeToken(wsi), since: handshakeSince(wsi))
            return 0
        case LWS_CALLBACK_RECEIVE:
            return receive(sessionID(user), wsi, input, length)
        case LWS_CALLBACK_SERVER_WRITEABLE:
            return writeable(sessionID(user))
        case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
            // The peer answered our close: the handshake is complete, drop
            // TCP now. Otherwise (the peer closes first) lws echoes its close.
            return sockets[sessionID(user)]?.closeSent == true ? -1 : 0
        case LWS_CALLBACK_CLOSED:
            let id = sessionID(user)
            if sockets.removeValue(forKey: id) != nil { hub.connectionClosed(id) }
            return 0
        default:
            return 0
        }
    }

    /// The token from `Authorization: Bearer` or `?token=`.
    private func handshakeToken(_ wsi: OpaquePointer) -> String? {
        if let header = headerValue(wsi, WSI_TOKEN_HTTP_AUTHORIZATION), header.count > 7,
            header.prefix(7).lowercased() == "bearer "
        {
            return String(header.dropFirst(7))
        }
        return urlArgument(wsi, "token")
    }

    /// `?since=<notification id>`: replay the user's notifications after it.
    /// `?since=`: nil when absent, -1 when present but not a notification id
    /// (the hub answers that with an error instead of ignoring it).
    private func handshakeSince(_ wsi: OpaquePointer) -> Int64? {
        urlArgument(wsi, "since").map { NotificationID.parse($0) ?? -1 }
    }

    private func urlArgument(_ wsi: OpaquePointer, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 8192)
        let found = buffer.withUnsafeMutableBufferPointer { b in
            lws_get_urlarg_by_name(wsi, name + "=", b.baseAddress, Int32(b.count)) != nil
        }
        guard found else { return nil }
        let all = String(cString: buffer)
        guard let eq = all.firstIndex(of: "=") else { return nil }
        let value = String(all[all.index(after: eq)...])
        return value.isEmpty ? nil : value
    }

    private func receive(_ id: ConnectionID, _ wsi: OpaquePointer, _ input: UnsafeMutableRawPointer?, _ length: Int) -> Int32 {
        guard let conn = sockets[id] else { return -1 }
        // Closing: read and discard, so that no unread data sits in our
        // socket when it closes (the kernel would answer with RST, and the
        // peer could lose our close frame with it).
        if conn.pendingClose != nil { return 0 }
        if conn.receiving.isEmpty && lws_is_first_fragment(wsi) != 0 {
            conn.receivingBinary = lws_frame_is_binary(wsi) != 0
            conn.oversized = false
        }
        if conn.receiving.count + length > options.maxFrameBytes {
            // Close 1009 as RFC 6455 says, like every other close: the rest
            // is read and discarded. Closing the socket at once, with the
            // message's next fragments unread, lost the close frame.
            metrics.badFrames.increment()
            conn.receiving.removeAll()
            close(id, code: .messageTooBig)
            return 0
        }
        if let input, length > 0 {
            conn.receiving.append(contentsOf: UnsafeRawBufferPointer(start: input, count: length))
        }
        guard lws_is_final_fragment(wsi) != 0, lws_remaining_packet_payload(wsi) == 0 else { return 0 }
        metrics.framesIn.increment()
        metrics.bytesIn.increment(by: conn.receiving.count)
        let message = conn.receiving
        conn.receiving.removeAll(keepingCapacity: message.count <= 4096)
        if conn.receivingBinary {
            hub.binaryReceived(id)
        } else {
            message.withUnsafeBytes { hub.textReceived(id, $0) }
        }
        return 0
    }

    private func writeable(_ id: ConnectionID) -> Int32 {
        guard let conn = sockets[id] else { return -1 }
        if conn.queueHead < conn.queue.count {
            let frame = conn.queue[conn.queueHead]
            conn.queueHead += 1
            conn.queuedBytes -= frame.payloadCount
            if conn.queueHead == conn.queue.count {
                conn.queue.removeAll(keepingCapacity: true)
                conn.queueHead = 0
            } else if conn.queueHead > 64 {
                conn.queue.removeFirst(conn.queueHead)
                conn.queueHead = 0
            }
            let payload = frame.payloadCount
            let written = frame.storage.withUnsafeMutableBufferPointer { buffer in
                sb_lws_write_text(conn.wsi, buffer.baseAddress! + OutboundFrame.headroom, payload)
            }
            if written < payload { return -1 }
            metrics.framesOut.increment()
            metrics.bytesOut.increment(by: payload)
            if conn.queueHead < conn.queue.count || conn.pendingClose != nil {
                lws_callback_on_writable(conn.wsi)
            }
            return 0
        }
        if let code = conn.pendingClose, !conn.closeSent {
            // Write the close frame ourselves: with the libuv backend, lws
            // 4.1.6 drops the close frame it would send after a -1 return
            // from WRITEABLE (seen here; poll() sends it). Then keep the
            // socket open, reading and discarding, until the peer's close
            // (WS_PEER_INITIATED_CLOSE) or the timeout set in `close`.
            writeCloseFrame(conn.wsi, code)
            conn.closeSent = true
        }
        return 0
    }

    // MARK: Transport

    public func send(_ frame: OutboundFrame, to connection: ConnectionID) -> Bool {
        guard let conn = sockets[connection], conn.pendingClose == nil else { return false }
        if conn.queuedBytes + frame.payloadCount > options.maxQueuedBytes {
            conn.queue.removeAll()
            conn.queueHead = 0
            conn.queuedBytes = 0
            metrics.closes.increment()
            // Like any close: if its send buffer never drains, the 5 s
            // timeout drops the socket instead of waiting for the ping policy.
            close(connection, code: .slowConsumer)
            return false
        }
        let wasIdle = conn.queueHead == conn.queue.count
        conn.queue.append(frame)
        conn.queuedBytes += frame.payloadCount
        if wasIdle { lws_callback_on_writable(conn.wsi) }
        return true
    }

    public func close(_ connection: ConnectionID, code: CloseCode) {
        guard let conn = sockets[connection], conn.pendingClose == nil else { return }
        conn.pendingClose = code
        lws_callback_on_writable(conn.wsi)
        // Bounds the whole close: a peer that never reads (the close frame
        // cannot be written) or never answers it does not keep the socket.
        lws_set_timeout(conn.wsi, PENDING_TIMEOUT_USER_OK, 5)
    }
}

/// Writes a close frame with code and reason.
func writeCloseFrame(_ wsi: OpaquePointer, _ code: CloseCode) {
    let pre = Int(sb_lws_pre())
    var buffer = [UInt8](repeating: 0, count: pre + 2)
    buffer[pre] = UInt8(code.rawValue >> 8)
    buffer[pre + 1] = UInt8(code.rawValue & 0xFF)
    buffer.append(contentsOf: code.reason.utf8)
    let length = buffer.count - pre
    _ = buffer.withUnsafeMutableBufferPointer { sb_lws_write_close(wsi, $0.baseAddress! + pre, length) }
}

/// Sets the close code and reason lws sends when the callback returns -1.
func setCloseReason(_ wsi: OpaquePointer, _ code: CloseCode) {
    var reason = Array(code.reason.utf8)
    reason.withUnsafeMutableBufferPointer { b in
        lws_close_reason(wsi, lws_close_status(rawValue: UInt32(code.rawValue)), b.baseAddress, b.count)
    }
}

/// Copies a request header, nil when absent.
func headerValue(_ wsi: OpaquePointer, _ token: lws_token_indexes) -> String? {
    let length = lws_hdr_total_length(wsi, token)
    guard length > 0 else { return nil }
    var buffer = [CChar](repeating: 0, count: Int(length) + 1)
    let copied = buffer.withUnsafeMutableBufferPointer { lws_hdr_copy(wsi, $0.baseAddress, Int32($0.count), token) }
    guard copied >= 0 else { return nil }
    return headerText(buffer, length: Int(copied))
}

/// A header value as text. One with a NUL byte or invalid UTF-8 becomes
/// "\0", a value every check refuses: read with String(cString:) it would be
/// cut at the NUL (`Bearer <jwt>\0junk` accepted) or have its bad bytes
/// replaced (two different Idempotency-Keys becoming one).
func headerText(_ buffer: [CChar], length: Int) -> String {
    let bytes = buffer.prefix(max(0, min(length, buffer.count))).map { UInt8(bitPattern: $0) }
    guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else { return "\u{0}" }
    return text
}
