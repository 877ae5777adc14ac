// A libwebsockets client for many connections on one thread (the load
// tool's workers). Connections are named by small integer ids. The load tool
// is the one place besides SwitchboardLWS that speaks lws itself: the client
// side is the tool's own business, not the server module's public API.
import Foundation
private import CLibWebSockets

/// Receives the events of an `LWSClientPool`, on the thread that services it.
protocol LWSClientDelegate: AnyObject {
    /// The WebSocket handshake completed.
    func clientOpened(_ id: Int)
    /// A complete text or binary message arrived.
    func clientReceived(_ id: Int, _ message: UnsafeRawBufferPointer)
    /// The connection ended; `failed` when it never opened or broke with an error.
    func clientClosed(_ id: Int, failed: Bool, reason: String)
}

/// Many client WebSockets on one lws context, serviced by one thread.
final class LWSClientPool {
    private var context: OpaquePointer?
    private var protocols: UnsafeMutablePointer<lws_protocols>?
    private var cStrings: [UnsafeMutablePointer<CChar>] = []
    fileprivate final class Client {
        var wsi: OpaquePointer?
        /// Queued messages back to back, each behind LWS_PRE bytes of room
        /// for its header: one reused buffer, no allocation per message.
        var outbound: [UInt8] = []
        var lengths: [Int] = []
        var nextLength = 0
        var nextOffset = 0
        var receiving: [UInt8] = []
        var opened = false
        /// The code of the hub's close frame, when it sent one.
        var closeCode: UInt16?
    }
    private let pre = Int(sb_lws_pre())
    fileprivate var clients: [Int: Client] = [:]
    /// Where events go.
    weak var delegate: LWSClientDelegate?

    /// The libev loop lws runs on, when the pool was made with `epoll`.
    private var evLoop: OpaquePointer?
    private var foreignLoops: UnsafeMutablePointer<UnsafeMutableRawPointer?>?

    /// A pool speaking `subprotocol`. With `epoll`, lws runs on a libev loop
    /// (epoll: the cost of a wait grows with the sockets that are ready,
    /// not with all of them as lws' own poll() loop does, which was the
    /// largest part of a chat worker's CPU with hundreds of connections);
    /// without libev, lws' own loop.
    init(subprotocol: String = "switchboard.v1", epoll: Bool = false) throws {
        sb_lws_set_log_level(Int32(LLL_ERR))
        let table = UnsafeMutablePointer<lws_protocols>.allocate(capacity: 2)
        table.initialize(repeating: lws_protocols(), count: 2)
        let name = strdup(subprotocol)!
        cStrings.append(name)
        table[0].name = UnsafePointer(name)
        table[0].callback = switchboardClientCallback
        table[0].rx_buffer_size = 65536
        protocols = table
        var info = lws_context_creation_info()
        info.port = -1  // CONTEXT_PORT_NO_LISTEN
        info.protocols = UnsafePointer(table)
        info.gid = -1
        info.uid = -1
        info.user = Unmanaged.passUnretained(self).toOpaque()
        info.fd_limit_per_thread = 0
        info.timeout_secs = 30
        if epoll, let ev = LibEV.shared, let loop = ev.loopNew(0) {
            evLoop = loop
            let loops = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1)
            loops.initialize(to: UnsafeMutableRawPointer(loop))
            foreignLoops = loops
            info.foreign_loops = loops
            info.options |= UInt64(LWS_SERVER_OPTION_LIBEV)
        }
        guard let ctx = lws_create_context(&info) else { throw LWSClientError.noContext }
        context = ctx
    }

    deinit {
        if let context { lws_context_destroy(context) }
        protocols?.deallocate()
        foreignLoops?.deallocate()
        if let evLoop { LibEV.shared?.loopDestroy(evLoop) }
        for s in cStrings { free(s) }
    }

    /// Starts connecting; events follow through the delegate.
    @discardableResult
    func connect(id: Int, host: String, port: Int, path: String, sourceAddress: String? = nil) -> Bool {
        var info = lws_client_connect_info()
        info.context = context
        let client = Client()
        clients[id] = client
        let ok: Bool = host.withCString { h in
            path.withCString { p in
                (protocols![0].name).withMemoryRebound(to: CChar.self, capacity: 1) { proto in
                    withOptionalCString(sourceAddress) { iface in
                        info.address = h
                        info.host = h
                        info.origin = h
                        info.port = Int32(port)
                        info.path = p
                        info.protocol = proto
                        info.local_protocol_name = proto
                        info.ietf_version_or_minus_one = -1
                        info.iface = iface
                        info.opaque_user_data = UnsafeMutableRawPointer(bitPattern: id + 1)
                        let result = lws_client_connect_via_info(&info)
                        client.wsi = result
                        return result != nil
                    }
                }
            }
        }
        if !ok { clients[id] = nil }
        return ok
    }

    /// Queues a text message.
    func send(_ id: Int, text: String) { send(id, bytes: Array(text.utf8)) }

    /// Queues a text message (its UTF-8 bytes).
    func send(_ id: Int, bytes: [UInt8]) {
        guard let client = clients[id], let wsi = client.wsi else { return }
        if client.lengths.isEmpty { lws_callback_on_writable(wsi) }
        client.outbound.append(contentsOf: repeatElement(0, count: pre))
        client.outbound.append(contentsOf: bytes)
        client.lengths.append(bytes.count)
    }

    /// One pass of the event loop (waits for events up to lws' own timeout;
    /// `wake()` from another thread interrupts it).
    func service() {
        if let evLoop, let ev = LibEV.shared {
            _ = ev.run(evLoop, 2)  // EVRUN_ONCE: wait for events, handle them, return
        } else if let context {
            _ = lws_service(context, 0)
        }
    }

    /// Interrupts `service()`: the pool's one handle for other threads (valid
    /// while the pool lives).
    var waker: Waker { Waker(context: context) }

    /// Interrupts `service()` from any thread.
    // Unchecked: the only call made through it is lws_cancel_service, the one lws call safe from any thread.
    struct Waker: @unchecked Sendable {
        fileprivate let context: OpaquePointer?

        /// Interrupts `service()`.
        func wake() {
            if let context { lws_cancel_service(context) }
        }
    }

    fileprivate func event(_ wsi: OpaquePointer, _ reason: lws_callback_reasons, _ input: UnsafeMutableRawPointer?, _ length: Int)
        -> Int32
    {
        guard let tag = lws_get_opaque_user_data(wsi) else { return 0 }
        let id = Int(bitPattern: tag) - 1
        switch reason {
        case LWS_CALLBACK_CLIENT_ESTABLISHED:
            clients[id]?.opened = true
            delegate?.clientOpened(id)
        case LWS_CALLBACK_CLIENT_RECEIVE:
            guard let client = clients[id] else { return -1 }
            let chunk = UnsafeRawBufferPointer(start: input, count: input == nil ? 0 : length)
            let complete = lws_is_final_fragment(wsi) != 0 && lws_remaining_packet_payload(wsi) == 0
            if complete && client.receiving.isEmpty {
                // A message in one piece (the usual case): read in place, no copy.
                delegate?.clientReceived(id, chunk)
            } else {
                client.receiving.append(contentsOf: chunk)
                if complete {
                    client.receiving.withUnsafeBytes { delegate?.clientReceived(id, $0) }
                    // The delegate may not keep the bytes, so the buffer is reused.
                    client.receiving.removeAll(keepingCapacity: true)
                }
            }
        case LWS_CALLBACK_CLIENT_WRITEABLE:
            guard let client = clients[id], client.nextLength < client.lengths.count else { return 0 }
            let count = client.lengths[client.nextLength]
            let offset = client.nextOffset + pre
            // lws writes the frame header into the `pre` bytes in front of the payload.
            let written = client.outbound.withUnsafeMutableBufferPointer {
                sb_lws_write_text(wsi, $0.baseAddress! + offset, count)
            }
            if written < count { return -1 }
            client.nextLength += 1
            client.nextOffset = offset + count
            if client.nextLength < client.lengths.count {
                lws_callback_on_writable(wsi)
            } else {
                client.outbound.removeAll(keepingCapacity: true)
                client.lengths.removeAll(keepingCapacity: true)
                (client.nextLength, client.nextOffset) = (0, 0)
            }
        case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            let reason = input.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } ?? "connection error"
            if clients.removeValue(forKey: id) != nil { delegate?.clientClosed(id, failed: true, reason: reason) }
        case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
            // The close frame's payload: a big-endian code, then a reason.
            if let input, length >= 2, let client = clients[id] {
                let bytes = input.assumingMemoryBound(to: UInt8.self)
                client.closeCode = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
            }
        case LWS_CALLBACK_CLIENT_CLOSED:
            if let client = clients.removeValue(forKey: id) {
                let reason = client.closeCode.map { "closed \($0)" } ?? "closed without a close frame"
                delegate?.clientClosed(id, failed: !client.opened, reason: reason)
            }
        default:
            break
        }
        return 0
    }
}

/// libev, found at run time (the load tool has no C module of its own to
/// link it): the three calls the pool makes.
private struct LibEV {
    let loopNew: @convention(c) (UInt32) -> OpaquePointer?
    let loopDestroy: @convention(c) (OpaquePointer) -> Void
    let run: @convention(c) (OpaquePointer, Int32) -> Int32

    static let shared: LibEV? = {
        guard let lib = dlopen("libev.so.4", RTLD_NOW), let new = dlsym(lib, "ev_loop_new"),
            let destroy = dlsym(lib, "ev_loop_destroy"), let run = dlsym(lib, "ev_run")
        else { return nil }
        return LibEV(
            loopNew: unsafeBitCast(new, to: (@convention(c) (UInt32) -> OpaquePointer?).self),
            loopDestroy: unsafeBitCast(destroy, to: (@convention(c) (OpaquePointer) -> Void).self),
            run: unsafeBitCast(run, to: (@convention(c) (OpaquePointer, Int32) -> Int32).self))
    }()
}

/// Why a pool could not be made.
enum LWSClientError: Error {
    /// lws_create_context failed.
    case noContext
}

private func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}

private func switchboardClientCallback(
    _ wsi: OpaquePointer?, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?,
    _ input: UnsafeMutableRawPointer?, _ length: Int
) -> Int32 {
    guard let wsi, let ctx = lws_get_context(wsi), let owner = lws_context_user(ctx) else { return 0 }
    let pool = Unmanaged<LWSClientPool>.fromOpaque(owner).takeUnretainedValue()
    return pool.event(wsi, reason, input, length)
}
