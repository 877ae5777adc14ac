// A listen socket several processes share (`switchboard serve --workers N`).
//
// Why not lws' own option: LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE exists in
// libwebsockets 4.1.6, but its listener sets SO_REUSEPORT only when the context
// has more than one service thread (roles/http/server/server.c,
// `n && vhost->context->count_threads > 1`), and Debian's build has
// LWS_MAX_SMP=1, so count_threads is always 1: with the option alone a second
// process still fails with EADDRINUSE (checked with strace: only SO_REUSEADDR
// is set). So the server opens the socket itself (SO_REUSEADDR + SO_REUSEPORT,
// then bind and listen), runs lws with CONTEXT_PORT_NO_LISTEN_SERVER, watches
// the socket as an adopted raw descriptor on the loop, and hands every accepted
// connection to lws with lws_adopt_socket_vhost, after the same per-IP filter
// lws' own listener applies (FILTER_NETWORK_CONNECTION).
import Foundation
import Logging
internal import CLibWebSockets
#if canImport(Glibc)
import Glibc
#endif

/// Name of the protocol that watches the shared listen socket.
let sharedListenerProtocol = "switchboard-listen"

/// Connections accepted per readiness of the listen socket, so that a flood of
/// connects cannot keep the loop from its other work.
private let acceptsPerWake = 64

/// Callback of the `switchboard-listen` protocol: the listen socket is readable.
func switchboardListenCallback(
    _ wsi: OpaquePointer?, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?,
    _ input: UnsafeMutableRawPointer?, _ length: Int
) -> Int32 {
    guard reason == LWS_CALLBACK_RAW_RX_FILE, let wsi, let server = server(of: wsi) else { return 0 }
    server.acceptShared(listenFD: Int32(lws_get_socket_fd(wsi)))
    return 0
}

extension LWSServer {
    /// Opens a listening TCP socket on `address:port` with SO_REUSEPORT, so
    /// that other processes may bind the same port; the kernel spreads new
    /// connections among them. Returns the descriptor and the bound port.
    static func openSharedListener(address: String, port: Int) throws -> (fd: Int32, port: Int) {
        let failure = ServerError.cannotListen(address: address, port: port)
        guard (0...65535).contains(port) else { throw failure }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(address, String(port), &hints, &found) == 0, let info = found else { throw failure }
        defer { freeaddrinfo(found) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure }
        var one: Int32 = 1
        let size = socklen_t(MemoryLayout<Int32>.size)
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, size) == 0,
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, size) == 0,
            bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0,
            listen(fd, SOMAXCONN) == 0
        else {
            Glibc.close(fd)
            throw failure
        }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard named else {
            Glibc.close(fd)
            throw failure
        }
        return (fd, Int(UInt16(bigEndian: bound.sin_port)))
    }

    /// Hands the listen socket to lws as a raw descriptor of the
    /// `switchboard-listen` protocol; lws then owns (and at the end closes) it.
    func watchSharedListener(fd: Int32, vhost: OpaquePointer) throws {
        var descriptor = lws_sock_file_fd_type()
        descriptor.filefd = fd
        guard lws_adopt_descriptor_vhost(vhost, LWS_ADOPT_RAW_FILE_DESC, descriptor, sharedListenerProtocol, nil) != nil else {
            // lws closed the descriptor on failure.
            throw ServerError.cannotListen(address: options.bindAddress, port: options.port)
        }
    }

    /// Accepts what is waiting on the shared listen socket and gives each
    /// connection to lws, as lws' own listener would.
    func acceptShared(listenFD: Int32) {
        guard let context, let vhost = lws_get_vhost_by_name(context, "switchboard") else { return }
        for _ in 0..<acceptsPerWake {
            // accept4 needs _GNU_SOURCE and does not import; lws makes the
            // socket non-blocking when it adopts it.
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                let error = errno
                // Out of descriptors (EMFILE) the socket stays readable and
                // this runs on every loop turn: logged once a second at most.
                let now = monotonicNanos()
                if ![EAGAIN, EWOULDBLOCK, EINTR, ECONNABORTED].contains(error) && now &- lastAcceptWarning >= 1_000_000_000 {
                    lastAcceptWarning = now
                    logger.warning("accept failed", metadata: ["errno": "\(error)"])
                }
                return
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if filterNetworkConnection(fd: fd) != 0 {
                Glibc.close(fd)
                continue
            }
            // On failure lws has closed the descriptor already.
            _ = lws_adopt_socket_vhost(vhost, lws_sockfd_type(fd))
        }
    }
}
