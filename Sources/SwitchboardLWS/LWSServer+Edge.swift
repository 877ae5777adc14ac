// Per-connection bookkeeping at the HTTP edge: per-IP caps on connections and
// on unfinished handshakes (refused at accept, before lws allocates anything),
// and the whole-request deadline.
//
// Why our own deadline: lws 4.1.6 bounds the header phase with
// PENDING_TIMEOUT_HOLDING_AH (timeout_secs_ah_idle, set once when the header
// table is attached), but re-arms PENDING_TIMEOUT_HTTP_CONTENT for
// timeout_secs after *every* body chunk (lws_read_h1 in roles/h1/ops-h1.c),
// overwriting any timeout we set; a body dribbled one byte at a time is never
// cut off. So a sweep on the loop answers 408 to any request whose body has
// not arrived by its deadline.
import Foundation
internal import CLibWebSockets
#if canImport(Glibc)
import Glibc
#endif

/// One accepted TCP connection, from accept to destroy.
final class EdgeConnection {
    let address: String
    let acceptedAt: UInt64
    /// Whether any request's headers completed on it (or it upgraded).
    var headersSeen = false
    /// When the request now being read began (see `headersComplete`).
    var requestStart: UInt64

    init(address: String, now: UInt64) {
        self.address = address
        acceptedAt = now
        requestStart = now
    }
}

/// Open connections and unfinished handshakes of one peer address.
struct PeerCount {
    var connections = 0
    var handshaking = 0
}

/// Monotonic nanoseconds.
func monotonicNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

extension LWSServer {
    /// LWS_CALLBACK_FILTER_NETWORK_CONNECTION: right after accept(), before
    /// lws adopts the socket. Non-zero makes lws close the descriptor.
    func filterNetworkConnection(fd: Int32) -> Int32 {
        guard let address = Self.peerAddress(fd: fd) else { return 0 }
        let count = peers[address] ?? PeerCount()
        if options.maxConnectionsPerIP > 0 && count.connections >= options.maxConnectionsPerIP {
            return 1
        }
        if options.maxHandshakesPerIP > 0 && count.handshaking >= options.maxHandshakesPerIP {
            return 1
        }
        return 0
    }

    /// LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: the socket is adopted.
    func connectionAdopted(_ wsi: OpaquePointer) {
        let fd = Int32(lws_get_socket_fd(wsi))
        guard edges[wsi] == nil, fd >= 0, let address = Self.peerAddress(fd: fd) else { return }
        edges[wsi] = EdgeConnection(address: address, now: monotonicNanos())
        peers[address, default: PeerCount()].connections += 1
        peers[address, default: PeerCount()].handshaking += 1
    }

    /// A request's headers are complete (FILTER_HTTP_CONNECTION for plain
    /// HTTP, file mounts included; FILTER_PROTOCOL_CONNECTION for upgrades).
    /// The first request on a connection counts from the accept; a later one
    /// (keep-alive) from here, its headers being bounded by lws' ah timeout.
    func headersComplete(_ wsi: OpaquePointer) {
        guard let edge = edges[wsi] else { return }
        if edge.headersSeen {
            edge.requestStart = monotonicNanos()
            return
        }
        edge.headersSeen = true
        edge.requestStart = edge.acceptedAt
        if var count = peers[edge.address] {
            count.handshaking -= 1
            peers[edge.address] = count
        }
    }

    /// LWS_CALLBACK_WSI_DESTROY: the connection is gone.
    func connectionDestroyed(_ wsi: OpaquePointer) {
        // lws reuses freed wsi memory: nothing may stay keyed by this one.
        if let id = requestOnConnection.removeValue(forKey: wsi) { httpRequests.removeValue(forKey: id) }
        guard let edge = edges.removeValue(forKey: wsi), var count = peers[edge.address] else { return }
        count.connections -= 1
        if !edge.headersSeen { count.handshaking -= 1 }
        peers[edge.address] = count.connections > 0 ? count : nil
    }

    /// When the request on `wsi` must have arrived whole.
    func requestDeadline(_ wsi: OpaquePointer) -> UInt64 {
        let start = edges[wsi]?.requestStart ?? monotonicNanos()
        return start &+ UInt64(options.requestTimeoutSeconds) * 1_000_000_000
    }

    /// Answers 408 (and closes) to every request whose body is late.
    func sweepRequestDeadlines() {
        let now = monotonicNanos()
        for (id, pending) in httpRequests where !pending.dispatched && pending.response == nil && now >= pending.deadline {
            respond(
                id, .error(408, .requestTimeout, "the request did not arrive within \(options.requestTimeoutSeconds) s"),
                close: true)
        }
    }

    /// Posts `sweepRequestDeadlines` into the loop four times a second.
    func startDeadlineSweep() {
        repeatOnLoop(every: 0.25, name: "switchboard-http-deadlines") { $0.sweepRequestDeadlines() }
    }

    /// The numeric peer address of a connected socket (IPv4 or IPv6).
    static func peerAddress(fd: Int32) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) == 0 }
        }
        guard ok else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = Int32(storage.ss_family)
        let converted: UnsafePointer<CChar>? = withUnsafePointer(to: &storage) { p in
            switch family {
            case AF_INET:
                return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    withUnsafePointer(to: sin.pointee.sin_addr) { inet_ntop(AF_INET, $0, &text, socklen_t(text.count)) }
                }
            case AF_INET6:
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                    withUnsafePointer(to: sin.pointee.sin6_addr) { inet_ntop(AF_INET6, $0, &text, socklen_t(text.count)) }
                }
            default:
                return nil
            }
        }
        return converted == nil ? nil : String(cString: text)
    }
}
