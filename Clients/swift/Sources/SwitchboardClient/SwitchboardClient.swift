import Foundation

/// Where the client gets its token: a fixed one, or a provider asked before
/// every connection and before every expiry (it should return a fresh token).
public enum TokenSource: Sendable {
    case fixed(String)
    case provider(@Sendable () async throws -> String)

    func token() async throws -> String {
        switch self {
        case .fixed(let token): return token
        case .provider(let provide): return try await provide()
        }
    }

    var canRenew: Bool {
        if case .provider = self { return true }
        return false
    }
}

/// Timeouts, timers and limits (milliseconds).
public struct ClientOptions: Sendable {
    /// How long a request (`subscribe`, `read`, `presence`, `refresh`, a `send`'s ack, the resume) may wait.
    public var requestTimeout: Int64 = 10_000
    /// A `ping` every this often; no frame within `pingTimeout` after it drops the connection.
    public var pingInterval: Int64 = 20_000
    public var pingTimeout: Int64 = 10_000
    /// A provider's token is refreshed this long before `expires_at` (at most half the token's life).
    public var refreshMargin: Int64 = 60_000
    public var backoff = Backoff()
    /// Messages and notifications per REST page when the hub could not replay.
    public var pageLimit = 200
    /// Where the REST fallback lives (default: the WebSocket URL with http(s) and no path).
    public var restURL: URL?
    /// The newest notification id the app already has (persist ``SwitchboardClient/notificationCursor``).
    public var notificationCursor: String?

    public init() {}
}

/// A Switchboard client: connects, authenticates, keeps every subscription
/// alive across reconnects, and delivers each event once.
///
/// ```swift
/// let client = SwitchboardClient(url: URL(string: "wss://hub.example/")!, token: .fixed(jwt))
/// await client.start()
/// try await client.subscribe("conversation:42")
/// for await event in client.events { … }
/// ```
public actor SwitchboardClient {
    /// Every event, in arrival order. One consumer.
    public nonisolated let events: AsyncStream<SwitchboardEvent>
    let sink: AsyncStream<SwitchboardEvent>.Continuation

    let url: URL
    let tokenSource: TokenSource
    let options: ClientOptions
    let transport: any WebSocketTransport
    let http: any HTTPTransport
    let clock: any ClientClock
    let storage: any OutboxStorage

    // The connection.
    var connection: (any WebSocketConnection)?
    var generation = 0
    var welcomed = false
    var stopped = false
    var runTask: Task<Void, Never>?
    var lastReceived: Int64 = 0
    var currentToken: String?
    /// The authenticated user (from `welcome`).
    public internal(set) var user: String?
    var nextRequest = 0
    /// The hub's protocol revision (`welcome.revision`; absent means 1).
    var hubRevision: Int64 = 2

    // Subscriptions and their cursors.
    /// Channels the app subscribed to, in order.
    var channels: [String] = []
    /// The last seq delivered per conversation id.
    var seqCursors: [String: Int64] = [:]
    var notificationID: Int64?
    var knowsNotificationHistory = false
    /// Channels whose resume is not answered yet, and conversations being paged over REST.
    var resuming: Set<String> = []
    var paging: Set<String> = []
    /// Live frames that arrived while their channel was paged, delivered after the page.
    var heldMessages: [String: [ChatMessage]] = [:]
    var heldNotifications: [HubNotification] = []

    // Requests and the outbox.
    var pending: [String: PendingRequest] = [:]
    var outbox: [PendingMessage] = []
    var outboxLoaded = false
    /// The outbox was sent on this connection: new messages go out at once.
    var outboxFlushed = false
    var sendWaiters: [String: [CheckedContinuation<Ack, any Error>]] = [:]
    var subscribeWaiters: [String: [CheckedContinuation<Void, any Error>]] = [:]

    enum PendingRequest {
        case request(CheckedContinuation<JSONValue, any Error>)
        case send(clientMsgID: String)
        case subscribe(channel: String)
        case resume
        case ping
    }

    /// A client; nothing happens before ``start()``.
    public init(
        url: URL, token: TokenSource, options: ClientOptions = ClientOptions(),
        transport: any WebSocketTransport = WSClientTransport(), http: any HTTPTransport = URLSessionHTTPTransport(),
        clock: any ClientClock = SystemClock(), outbox: any OutboxStorage = InMemoryOutboxStorage()
    ) {
        self.url = url
        tokenSource = token
        self.options = options
        self.transport = transport
        self.http = http
        self.clock = clock
        storage = outbox
        (events, sink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        if let cursor = options.notificationCursor.flatMap({ JSONValue.string($0).decimalID }) {
            notificationID = cursor
            knowsNotificationHistory = true
        }
    }

    /// Connects, and reconnects after every loss until ``stop()``.
    public func start() {
        guard runTask == nil, !stopped else { return }
        runTask = Task { await self.run() }
    }

    /// Closes the connection and ends ``events``; pending requests fail with `stopped`.
    public func stop() async {
        await halt(reason: "stopped")
    }

    /// The newest notification id delivered (persist it; pass it back in ``ClientOptions/notificationCursor``).
    public var notificationCursor: String? { notificationID.map(String.init) }

    /// The last seq delivered for `conversation`.
    public func lastSeq(conversation: String) -> Int64? { seqCursors[conversation] }

    /// Messages not yet acked, oldest first.
    public var pendingMessages: [PendingMessage] { outbox }

    // MARK: The connection loop

    func run() async {
        await loadOutbox()
        var attempt = 0
        while !stopped {
            emit(.connectionState(.connecting))
            let outcome = await connectOnce()
            if stopped { return }
            switch outcome {
            case .fatal(let reason):
                await halt(reason: reason)
                return
            case .lost(let wasWelcomed):
                if wasWelcomed { attempt = 0 }
            }
            let delay = options.backoff.delay(attempt: attempt)
            let until = clock.now() + delay
            attempt += 1
            emit(.connectionState(.waitingToReconnect(attempt: attempt, afterMilliseconds: delay)))
            try? await clock.sleep(until: until)
        }
    }

    enum Outcome { case lost(welcomed: Bool), fatal(String) }

    func connectOnce() async -> Outcome {
        let token: String
        let conn: any WebSocketConnection
        do {
            token = try await tokenSource.token()
            currentToken = token
            conn = try await transport.connect(url: url, headers: ["Authorization": "Bearer " + token])
        } catch {
            return .lost(welcomed: false)
        }
        if stopped {
            await conn.close(code: 1000)
            return .lost(welcomed: false)
        }
        generation += 1
        let gen = generation
        connection = conn
        welcomed = false
        lastReceived = clock.now()
        let opened = lastReceived
        let liveness = Task { await self.watchLiveness(gen, from: opened) }
        var closeCode: Int?
        for await event in conn.events {
            switch event {
            case .text(let text): handle(text: text, generation: gen)
            case .closed(let code): closeCode = code
            }
        }
        liveness.cancel()
        let wasWelcomed = welcomed
        connectionLost()
        switch closeCode {
        // A bad or expired token: only a provider can bring a new one.
        case 4001, 4002, 4003: return tokenSource.canRenew ? .lost(welcomed: wasWelcomed) : .fatal("closed \(closeCode!)")
        default: return .lost(welcomed: wasWelcomed)
        }
    }

    /// The connection is gone: answers nothing more; the outbox and cursors stay.
    func connectionLost() {
        connection = nil
        welcomed = false
        outboxFlushed = false
        generation += 1
        resuming.removeAll()
        paging.removeAll()
        heldMessages.removeAll()
        heldNotifications.removeAll()
        let failed = pending
        pending.removeAll()
        let disconnected = SwitchboardError(code: "disconnected", message: "the connection was lost")
        for (_, request) in failed {
            if case .request(let c) = request { c.resume(throwing: disconnected) }
        }
    }

    func halt(reason: String) async {
        guard !stopped else { return }
        stopped = true
        let conn = connection
        connectionLost()
        await conn?.close(code: 1000)
        runTask?.cancel()
        for (_, waiters) in sendWaiters { waiters.forEach { $0.resume(throwing: SwitchboardError.stopped) } }
        for (_, waiters) in subscribeWaiters { waiters.forEach { $0.resume(throwing: SwitchboardError.stopped) } }
        sendWaiters.removeAll()
        subscribeWaiters.removeAll()
        emit(.connectionState(.stopped(reason: reason)))
        sink.finish()
    }

    /// A `ping` every interval; a connection that stays silent after one is dropped.
    func watchLiveness(_ gen: Int, from opened: Int64) async {
        var next = opened + options.pingInterval
        while gen == generation, !Task.isCancelled {
            do { try await clock.sleep(until: next) } catch { return }
            guard gen == generation else { return }
            let sentAt = next
            let id = newRequestID()
            pending[id] = .ping
            await transmit(["type": "ping", "id": .string(id)], generation: gen)
            do { try await clock.sleep(until: sentAt + options.pingTimeout) } catch { return }
            pending[id] = nil
            guard gen == generation else { return }
            if lastReceived < sentAt { await connection?.close(code: nil) }
            next = sentAt + options.pingInterval
        }
    }

    // MARK: Sending frames

    func newRequestID() -> String {
        nextRequest += 1
        // Strings: every revision of the hub echoes them unchanged.
        return "c\(nextRequest)"
    }

    func emit(_ event: SwitchboardEvent) { sink.yield(event) }

    /// Sends a frame on the current connection if it is still `generation`'s.
    func transmit(_ frame: JSONValue, generation gen: Int) async {
        guard gen == generation, let conn = connection else { return }
        do { try await conn.send(frame.jsonText) } catch { await conn.close(code: nil) }
    }

    /// A request answered by a frame with its id, within the request timeout.
    func request(_ frame: JSONValue) async throws -> JSONValue {
        guard welcomed, connection != nil else {
            throw SwitchboardError(code: "disconnected", message: "not connected")
        }
        let id = newRequestID()
        var framed = frame
        if case .object(var o) = frame {
            o["id"] = .string(id)
            framed = .object(o)
        }
        let gen = generation
        let deadline = clock.now() + options.requestTimeout
        return try await withCheckedThrowingContinuation { continuation in
            pending[id] = .request(continuation)
            Task {
                await self.transmit(framed, generation: gen)
                try? await self.clock.sleep(until: deadline)
                self.expire(id)
            }
        }
    }

    func expire(_ id: String) {
        guard case .request(let c) = pending.removeValue(forKey: id) else { return }
        c.resume(throwing: SwitchboardError.timeout)
    }

    func loadOutbox() async {
        guard !outboxLoaded else { return }
        outboxLoaded = true
        let stored = (try? await storage.load()) ?? []
        let known = Set(outbox.map(\.clientMsgID))
        outbox = stored.filter { !known.contains($0.clientMsgID) } + outbox
    }

    func persistOutbox() async {
        try? await storage.save(outbox)
    }
}
