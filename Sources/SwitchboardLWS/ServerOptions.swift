// Options of the libwebsockets server.

/// Which libwebsockets event loop to use.
public enum EventLoopBackend: String, Sendable, CaseIterable {
    /// lws' built-in poll() loop.
    case poll
    /// libuv (epoll), from libwebsockets-evlib-uv.
    case uv
}

/// How the server listens and what it bounds.
public struct ServerOptions: Sendable {
    /// Address to bind.
    public var bindAddress: String = "127.0.0.1"
    /// Port; 0 picks a free one.
    public var port: Int = 8080
    /// Largest WebSocket message accepted, in bytes (close 1009 past it).
    public var maxFrameBytes: Int = 64 * 1024
    /// Largest outbound queue per connection, in bytes (close 4009 past it).
    public var maxQueuedBytes: Int = 1 << 20
    /// Largest HTTP request body, in bytes (413 past it).
    public var maxBodyBytes: Int = 1 << 20
    /// Event loop backend.
    public var backend: EventLoopBackend = .poll
    /// Serve the `echo` subprotocol (conformance testing only).
    public var enableEcho = false
    /// Largest echo message, in bytes.
    public var maxEchoBytes: Int = 32 << 20
    /// Seconds of silence before lws pings a WebSocket; hang up after twice that.
    public var pingIntervalSeconds: UInt16 = 30
    /// Directory served at `/` for GET requests that match no route, if set.
    public var staticDirectory: String?
    /// Seconds a whole HTTP request (headers and body) may take to arrive (408 after).
    public var requestTimeoutSeconds: Int = 10
    /// Open connections one peer address may hold; 0: no cap.
    public var maxConnectionsPerIP: Int = 1_000
    /// Connections of one peer address whose first request's headers are not complete yet; 0: no cap.
    public var maxHandshakesPerIP: Int = 64
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    public var metricsToken: String?
    /// Bind with SO_REUSEPORT so that other processes (`--workers`) may listen
    /// on the same port; the kernel spreads new connections among them.
    public var listenShare = false

    /// Defaults.
    public init() {}
}
