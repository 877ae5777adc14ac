// The libwebsockets server: one context, one port, WebSocket (switchboard.v1,
// optionally echo) and HTTP. Runs on the thread that calls `run()`, which
// becomes the loop thread owning the hub.
import Foundation
import Logging
import SwitchboardHub
import SwitchboardWire
internal import CLibWebSockets

/// Serves the hub over libwebsockets.
// Unchecked: its state is touched only on the loop thread (lws callbacks, mailbox work); other threads only post to the mailbox.
public final class LWSServer: @unchecked Sendable {
    let options: ServerOptions
    let hub: Hub
    let metrics: HubMetrics
    let logger: Logger
    /// Work for the loop thread from other threads.
    public let mailbox: Mailbox

    var context: OpaquePointer?
    private var protocols: UnsafeMutablePointer<lws_protocols>?
    private var retryPolicy: UnsafeMutablePointer<lws_retry_bo_t>?
    private var mounts: UnsafeMutablePointer<lws_http_mount>?
    private var mountCount = 0
    private var cStrings: [UnsafeMutablePointer<CChar>] = []

    var sockets: [ConnectionID: WebSocketConnection] = [:]
    var echoes: [UInt64: EchoConnection] = [:]
    var httpRequests: [HTTPRequestID: PendingHTTPRequest] = [:]
    var requestOnConnection: [OpaquePointer: HTTPRequestID] = [:]
    var edges: [OpaquePointer: EdgeConnection] = [:]
    var peers: [String: PeerCount] = [:]
    private var responseHeaders: UnsafeMutablePointer<lws_protocol_vhost_options>?
    private var tokenLimits: UnsafeMutablePointer<lws_token_limits>?
    var nextID: UInt64 = 0
    var stopping = false
    /// When a failed accept on the shared listener was last logged (monotonic ns).
    var lastAcceptWarning: UInt64 = 0
    private var stopRequested = false
    private var shutdownDeadline: Date?

    /// Runs once on the loop thread when the graceful stop is complete
    /// (every connection closed, or the grace ran out). It may exit the process.
    public var onStopped: (() -> Void)?

    /// The port actually bound (after `start()`).
    public private(set) var boundPort: Int = 0

    /// A server for `hub`; it becomes the hub's transport.
    public init(options: ServerOptions, hub: Hub, metrics: HubMetrics, logger: Logger, mailbox: Mailbox = Mailbox()) {
        self.options = options
        self.hub = hub
        self.metrics = metrics
        self.logger = logger
        self.mailbox = mailbox
        precondition(sb_lws_pre() <= OutboundFrame.headroom, "LWS_PRE exceeds the frame headroom")
        hub.transport = self
    }

    deinit {
        if let context { lws_context_destroy(context) }
        protocols?.deallocate()
        retryPolicy?.deallocate()
        mounts?.deinitialize(count: mountCount)
        mounts?.deallocate()
        responseHeaders?.deallocate()
        tokenLimits?.deallocate()
        for s in cStrings { free(s) }
    }

    private func cString(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        cStrings.append(p)
        return p
    }

    /// Creates the context and binds the port. Call on the loop thread.
    public func start() throws {
        // SWITCHBOARD_LWS_LOG_LEVEL takes lws' bitmask (LLL_*) for debugging.
        let lwsLevel = ProcessInfo.processInfo.environment["SWITCHBOARD_LWS_LOG_LEVEL"].flatMap { Int32($0) }
        sb_lws_set_log_level(lwsLevel ?? Int32(LLL_ERR | LLL_WARN))
        // switchboard.v1 is first: lws binds HTTP requests and WebSocket
        // upgrades without a Sec-WebSocket-Protocol header to the first
        // protocol, so its callback serves both (see switchboardCallback).
        let count = 2 + (options.enableEcho ? 1 : 0) + (options.listenShare ? 1 : 0)
        let table = UnsafeMutablePointer<lws_protocols>.allocate(capacity: count)
        table.initialize(repeating: lws_protocols(), count: count)
        table[0].name = UnsafePointer(cString("switchboard.v1"))
        table[0].callback = switchboardCallback
        table[0].per_session_data_size = MemoryLayout<UInt64>.size
        table[0].rx_buffer_size = 4096
        if options.enableEcho {
            table[1].name = UnsafePointer(cString("echo"))
            table[1].callback = switchboardEchoCallback
            table[1].per_session_data_size = MemoryLayout<UInt64>.size
            table[1].rx_buffer_size = 65536
        }
        if options.listenShare {
            let listener = table + count - 2
            listener.pointee.name = UnsafePointer(cString(sharedListenerProtocol))
            listener.pointee.callback = switchboardListenCallback
        }
        protocols = table
        // A shared port is bound here, before lws, so that a port taken by
        // anyone but a sharing worker fails the start as lws' own bind would.
        let shared = options.listenShare ? try Self.openSharedListener(address: options.bindAddress, port: options.port) : nil

        let retry = UnsafeMutablePointer<lws_retry_bo_t>.allocate(capacity: 1)
        retry.initialize(to: lws_retry_bo_t())
        retry.pointee.secs_since_valid_ping = options.pingIntervalSeconds
        retry.pointee.secs_since_valid_hangup = options.pingIntervalSeconds * 2 + 5
        retryPolicy = retry

        var info = lws_context_creation_info()
        info.port = shared == nil ? Int32(options.port) : CONTEXT_PORT_NO_LISTEN_SERVER
        info.iface = UnsafePointer(cString(options.bindAddress))
        info.protocols = UnsafePointer(table)
        info.gid = -1
        info.uid = -1
        info.options = UInt64(LWS_SERVER_OPTION_VALIDATE_UTF8) | UInt64(LWS_SERVER_OPTION_DISABLE_IPV6)
        if options.backend == .uv { info.options |= UInt64(LWS_SERVER_OPTION_LIBUV) }
        info.user = Unmanaged.passUnretained(self).toOpaque()
        info.retry_and_idle_policy = UnsafePointer(retry)
        // lws's own body timeout (re-armed per chunk) stays a backstop behind
        // the request deadline: equal to it (10 s each by default), it won the
        // race and closed the connection without the documented 408.
        info.timeout_secs = UInt32(max(10, options.requestTimeoutSeconds + 2))
        // Bounds the header phase (lws sets it once when the header table is
        // attached); the body is bounded by sweepRequestDeadlines.
        info.timeout_secs_ah_idle = UInt32(options.requestTimeoutSeconds)
        // Oversized headers. When lws 4.1.6's header table (max_http_header_data)
        // is full, lws_pos_in_bounds logs "Ran out of header data space" and
        // lws_parse returns LPR_FAIL (roles/http/parsers.c), lws_handshake_server
        // takes "bail_nuke_ah" (server.c), lws_read_h1 closes the connection
        // (roles/h1/ops-h1.c): no callback runs in between and the table is
        // gone, so nothing can answer 431. What lws does allow: a per-token
        // limit (token_limits) past which a *known* header's value is cut and
        // the rest skipped without using the table (issue_char); the parse
        // completes and beginRequest answers 431. So the table is 8 KiB and
        // each known header is limited to 4 KiB: one oversized known header
        // (Authorization, Cookie ...) of any length gets 431; headers that
        // overflow the table in sum, or through unknown (custom) headers,
        // which lws stores without a limit, still end in a silent close.
        info.max_http_header_data = UInt16(Self.headerTableBytes)
        info.token_limits = UnsafePointer(makeTokenLimits())
        info.headers = UnsafePointer(makeResponseHeaders())
        info.ka_time = 0
        info.count_threads = 1
        // Every connection needs a file descriptor; let lws size its table
        // from the process limit.
        info.fd_limit_per_thread = 0
        info.vhost_name = UnsafePointer(cString("switchboard"))
        if let directory = options.staticDirectory {
            info.mounts = UnsafePointer(makeMounts(staticDirectory: directory))
        }

        guard let ctx = lws_create_context(&info) else {
            if let shared { Glibc.close(shared.fd) }
            throw ServerError.cannotListen(address: options.bindAddress, port: options.port)
        }
        context = ctx
        if let shared {
            guard let vhost = lws_get_vhost_by_name(ctx, "switchboard") else {
                Glibc.close(shared.fd)
                throw ServerError.cannotListen(address: options.bindAddress, port: options.port)
            }
            try watchSharedListener(fd: shared.fd, vhost: vhost)
        }
        mailbox.attach(ctx)
        startDeadlineSweep()
        if let shared {
            boundPort = shared.port
        } else if let vhost = lws_get_vhost_by_name(ctx, "switchboard") {
            boundPort = Int(lws_get_vhost_listen_port(vhost))
        } else {
            boundPort = options.port
        }
    }

    /// The static files are a libwebsockets file mount at `/`; the hub's own
    /// paths are callback mounts that win by being longer (lws picks the
    /// longest matching mountpoint). WebSocket upgrades never reach mounts.
    private func makeMounts(staticDirectory: String) -> UnsafeMutablePointer<lws_http_mount> {
        let callbackPaths = ["/v1", "/healthz", "/readyz", "/metrics"]
        let count = callbackPaths.count + 1
        let table = UnsafeMutablePointer<lws_http_mount>.allocate(capacity: count)
        table.initialize(repeating: lws_http_mount(), count: count)
        table[0].mountpoint = UnsafePointer(cString("/"))
        table[0].mountpoint_len = 1
        table[0].origin = UnsafePointer(cString(staticDirectory))
        table[0].def = UnsafePointer(cString("index.html"))
        table[0].origin_protocol = UInt8(LWSMPRO_FILE.rawValue)
        table[0].cache_max_age = 60
        table[0].cache_reusable = 1
        table[0].cache_revalidate = 1
        for (i, path) in callbackPaths.enumerated() {
            let m = table + i + 1
            m.pointee.mountpoint = UnsafePointer(cString(path))
            m.pointee.mountpoint_len = UInt8(path.utf8.count)
            m.pointee.origin = UnsafePointer(cString("switchboard.v1"))
            m.pointee.origin_protocol = UInt8(LWSMPRO_CALLBACK.rawValue)
        }
        for i in 0..<(count - 1) { table[i].mount_next = UnsafePointer(table + i + 1) }
        mounts = table
        mountCount = count
        return table
    }

    /// lws' header table per connection being parsed, in bytes.
    static let headerTableBytes = 8192
    /// Largest value of one known header (431 when reached).
    static let headerValueLimit = 4096

    /// Tokens without a limit: the request line (a cut URI would route
    /// elsewhere); its overflow closes the connection instead.
    static let unlimitedTokens: Set<UInt32> = [
        WSI_TOKEN_GET_URI, WSI_TOKEN_POST_URI, WSI_TOKEN_HEAD_URI, WSI_TOKEN_PUT_URI, WSI_TOKEN_PATCH_URI,
        WSI_TOKEN_DELETE_URI, WSI_TOKEN_OPTIONS_URI, WSI_TOKEN_CONNECT, WSI_TOKEN_HTTP_URI_ARGS, WSI_TOKEN_HTTP,
        WSI_TOKEN_HTTP_COLON_PATH,
    ].reduce(into: []) { $0.insert($1.rawValue) }

    private func makeTokenLimits() -> UnsafeMutablePointer<lws_token_limits> {
        let limits = UnsafeMutablePointer<lws_token_limits>.allocate(capacity: 1)
        limits.initialize(to: lws_token_limits())
        withUnsafeMutableBytes(of: &limits.pointee.token_limit) { raw in
            let values = raw.bindMemory(to: UInt16.self)
            for i in values.indices {
                values[i] = Self.unlimitedTokens.contains(UInt32(i)) ? 0 : UInt16(Self.headerValueLimit)
            }
        }
        tokenLimits = limits
        return limits
    }

    /// Headers lws adds to every response it starts, the static files
    /// (dashboard) and the hub's own answers alike (vhost `headers`, added by
    /// lws_add_http_header_status in 4.1.6). The CSP lets the dashboard load
    /// its own scripts and open WebSockets to any host, nothing else.
    private func makeResponseHeaders() -> UnsafeMutablePointer<lws_protocol_vhost_options> {
        let headers = [
            (
                "content-security-policy:",
                "default-src 'self'; script-src 'self'; connect-src 'self' ws: wss:; "
                    + "img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
            ),
            ("x-frame-options:", "DENY"),
            ("x-content-type-options:", "nosniff"),
            ("referrer-policy:", "no-referrer"),
        ]
        let list = UnsafeMutablePointer<lws_protocol_vhost_options>.allocate(capacity: headers.count)
        list.initialize(repeating: lws_protocol_vhost_options(), count: headers.count)
        for (i, (name, value)) in headers.enumerated() {
            list[i].name = UnsafePointer(cString(name))
            list[i].value = UnsafePointer(cString(value))
            if i + 1 < headers.count { list[i].next = UnsafePointer(list + i + 1) }
        }
        responseHeaders = list
        return list
    }

    /// Services the context until `requestStop()` finished the shutdown.
    public func run() {
        guard let context else { return }
        while !stopRequested {
            if lws_service(context, 0) < 0 { break }
            checkShutdown()
        }
        mailbox.attach(nil)
        let finish = onStopped
        onStopped = nil
        finish?()
    }

    /// Begins a graceful stop from any thread: no new connections, every
    /// WebSocket closed with 1001, then `run()` returns (at most `grace` later).
    public func requestStop(grace: TimeInterval = 2.0) {
        mailbox.deliver { [self] in
            guard !stopping else { return }
            // lws_context_deprecate (close the listen socket) crashes lws
            // 4.1.6 here; while stopping, new WebSockets are closed with 1001
            // by the hub and new HTTP requests get 503 instead.
            logger.info("stopping: closing connections", metadata: ["connections": "\(sockets.count)"])
            stopping = true
            shutdownDeadline = Date().addingTimeInterval(grace)
            hub.beginShutdown()
            for (_, echo) in echoes { lws_set_timeout(echo.wsi, PENDING_TIMEOUT_CLOSE_SEND, 1) }
            // Wake the loop again so that run() re-checks its exit condition
            // even when nothing else happens.
            wakeSoon()
        }
    }

    /// Ends `run()` once every connection is gone or the grace ran out.
    func checkShutdown() {
        guard stopping, !stopRequested, let deadline = shutdownDeadline else { return }
        if sockets.isEmpty && echoes.isEmpty && httpRequests.isEmpty || Date() >= deadline {
            stopRequested = true
            // With libuv, lws_service runs uv_run until the loop is stopped
            // and lws 4.1.6 exports no way to stop it (the uv glue is a
            // plugin), so the owner finishes the shutdown from here.
            let finish = onStopped
            onStopped = nil
            finish?()
        }
    }

    private func wakeSoon() {
        let mailbox = self.mailbox
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { [weak self] in
            mailbox.deliver { [weak self] in
                guard let self else { return }
                checkShutdown()
                if !stopRequested { wakeSoon() }
            }
        }
    }

    /// Runs `tick` with the hub on the loop thread every `interval` seconds
    /// (auth deadlines, counters), until the server is gone. The hub is handed
    /// over on the loop only, so a tick never captures it across threads.
    public func schedule(every interval: TimeInterval, name: String, _ tick: @escaping @Sendable (Hub) -> Void) {
        repeatOnLoop(every: interval, name: name) { tick($0.hub) }
    }

    /// Posts `work` into the loop every `interval` seconds from a thread of its
    /// own. A post refused by a full mailbox is counted; the next one comes.
    func repeatOnLoop(every interval: TimeInterval, name: String, _ work: @escaping @Sendable (LWSServer) -> Void) {
        let mailbox = self.mailbox
        let thread = Thread { [weak self] in
            while self != nil {
                Thread.sleep(forTimeInterval: interval)
                mailbox.post { [weak self] in if let self { work(self) } }
            }
        }
        thread.name = name
        thread.start()
    }

    /// Next id for a connection or request.
    func allocateID() -> UInt64 {
        nextID += 1
        return nextID
    }
}

/// Why the server could not start.
public enum ServerError: Error, CustomStringConvertible {
    /// lws_create_context failed (port in use, bad address).
    case cannotListen(address: String, port: Int)

    public var description: String {
        switch self {
        case .cannotListen(let address, let port): return "cannot listen on \(address):\(port) (in use or not available)"
        }
    }
}

/// Recovers the server from a wsi's context.
func server(of wsi: OpaquePointer?) -> LWSServer? {
    guard let wsi, let ctx = lws_get_context(wsi), let user = lws_context_user(ctx) else { return nil }
    return Unmanaged<LWSServer>.fromOpaque(user).takeUnretainedValue()
}

/// Reads the connection id stored in per-session data.
func sessionID(_ user: UnsafeMutableRawPointer?) -> UInt64 {
    user?.load(as: UInt64.self) ?? 0
}
