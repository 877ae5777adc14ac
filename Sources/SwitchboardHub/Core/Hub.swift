// The hub: connection lifecycle, authentication, subscriptions and
// publication. Owned by the loop thread; every method runs there.
import Logging
import SwitchboardAuth
import SwitchboardWire

/// The loop-owned core of Switchboard.
public final class Hub {
    let configuration: HubConfiguration
    /// The loop thread's mailbox: store replies run through it.
    public let loop: any HubLoop
    let verifier: JWTVerifier
    let clock: HubClock
    let store: HubStore
    let chat: ChatStore
    let scans: ScanStore
    let notifications: NotificationStore
    let market: MarketStore
    /// Charges for escrowed payments (the built-in sandbox by default).
    public var paymentProvider: PaymentProvider = SandboxPaymentProvider()
    let metrics: HubMetrics
    let logger: Logger
    /// The network layer; set once at start-up.
    public weak var transport: Transport?
    /// Renders `/metrics`; set by the executable.
    public var metricsRenderer: (() -> String)?

    struct Connection {
        var session: ConnectionSession
        var limiter: TokenBucket
        /// Who was admitted, kept through closing for the disconnect record.
        var admitted: Principal?
        /// Replay notifications after this id once admitted.
        var notificationsSince: Int64?
        /// The newest notification sent on this connection: a commit whose
        /// push raced the replay's read is not sent twice.
        var notificationHighWater: Int64 = 0
        /// Per conversation, the last seq this connection got at subscribe
        /// (replay and seam): a live message at or below it is not sent again.
        var conversationMarks: [ConversationID: Int64] = [:]
        var droppedFrames = 0
        var badFrames = 0
    }

    var connections: [ConnectionID: Connection] = [:]
    var registry = ChannelRegistry()
    /// Conversation subscriptions waiting for their store answer.
    var pendingSubscriptions = PendingSubscriptions()
    var typing = TypingTracker()
    lazy var counters = CounterBoard(intervalMillis: configuration.counterIntervalMillis)
    /// Subscribers of scan channels waiting for a snapshot.
    var codeWaiters: [QRCodeID: [CounterWaiter]] = [:]
    var ownerWaiters: [String: [CounterWaiter]] = [:]
    lazy var presence = PresenceTracker(graceMillis: configuration.presenceGraceMillis)
    /// For users online on this node: who shares a conversation with them.
    var contacts: [String: Set<String>] = [:]
    private var connectionsPerUser: [String: Int] = [:]
    private var shuttingDown = false
    private var authenticatedCount = 0

    /// A hub.
    public init(configuration: HubConfiguration, loop: any HubLoop, clock: HubClock, store: HubStore, chat: ChatStore, scans: ScanStore,
                notifications: NotificationStore, market: MarketStore, metrics: HubMetrics, logger: Logger) {
        self.market = market
        self.chat = chat
        self.scans = scans
        self.notifications = notifications
        self.configuration = configuration
        self.loop = loop
        self.verifier = JWTVerifier(configuration.jwt)
        self.clock = clock
        self.store = store
        self.metrics = metrics
        self.logger = logger
    }

    /// Number of open connections.
    public var connectionCount: Int { connections.count }

    func connectionsPerUserCount(_ user: String) -> Int { connectionsPerUser[user] ?? 0 }

    // MARK: Connection lifecycle

    /// A WebSocket connection opened. `token` is the one from the
    /// `Authorization` header or `?token=`, if any; `notificationsSince` the
    /// `?since=` notification id.
    public func connectionOpened(_ id: ConnectionID, token: String?, notificationsSince: Int64? = nil) {
        let now = clock.nowMillis()
        var connection = Connection(session: ConnectionSession(deadlineMillis: now + configuration.authTimeoutMillis),
                                    limiter: TokenBucket(ratePerSecond: configuration.framesPerSecond,
                                                         burst: configuration.frameBurst, nowMillis: now))
        connection.notificationsSince = notificationsSince
        connections[id] = connection
        metrics.connections.record(connections.count)
        if shuttingDown {
            perform(.close(.goingAway), on: id)
            return
        }
        if let token {
            let action = connections[id]!.session.authenticate(requestID: nil, verify(token, now: now))
            perform(action, on: id)
        }
    }

    /// A WebSocket connection closed (for any reason).
    public func connectionClosed(_ id: ConnectionID) {
        guard let connection = connections.removeValue(forKey: id) else { return }
        registry.removeAll(for: id)
        pendingSubscriptions.removeAll(for: id)
        metrics.connections.record(connections.count)
        if let principal = connection.admitted {
            authenticatedCount -= 1
            metrics.authenticated.record(authenticatedCount)
            presence.disconnected(principal.user, nowMillis: clock.nowMillis())
            let remaining = (connectionsPerUser[principal.user] ?? 1) - 1
            if remaining <= 0 {
                connectionsPerUser[principal.user] = nil
                store.recordDisconnect(user: principal.user, atMillis: clock.nowMillis())
            } else {
                connectionsPerUser[principal.user] = remaining
            }
        }
    }

    /// A complete text message arrived.
    public func textReceived(_ id: ConnectionID, _ bytes: UnsafeRawBufferPointer) {
        guard var connection = connections[id] else { return }
        let now = clock.nowMillis()
        guard admitFrame(&connection, id: id, now: now) else { return }
        let frame: ClientFrame
        do {
            frame = try ClientFrame.decode(bytes)
        } catch {
            connections[id] = connection
            rejectBadFrame(id, error.requestID, error.code, error.message)
            return
        }
        connections[id] = connection
        handle(frame, from: id, now: now)
    }

    /// A binary message arrived; the protocol is text only.
    public func binaryReceived(_ id: ConnectionID) {
        guard var connection = connections[id] else { return }
        guard admitFrame(&connection, id: id, now: clock.nowMillis()) else { return }
        connections[id] = connection
        rejectBadFrame(id, nil, .binaryNotSupported, "binary frames are not supported; send JSON text")
    }

    /// Rate limiting: true when the frame may be processed.
    private func admitFrame(_ connection: inout Connection, id: ConnectionID, now: Int64) -> Bool {
        if connection.limiter.take(nowMillis: now) { return true }
        connection.droppedFrames += 1
        connections[id] = connection
        if connection.droppedFrames == 1 || connection.droppedFrames % 20 == 0 {
            transport?.send(ServerFrame.error(id: nil, code: .rateLimited,
                                              message: "too many frames; slow down"), to: id)
        }
        if connection.droppedFrames > configuration.rateLimitGrace {
            closeConnection(id, .rateLimited)
        }
        return false
    }

    private func rejectBadFrame(_ id: ConnectionID, _ requestID: String?, _ code: ErrorCode, _ message: String) {
        metrics.badFrames.increment()
        guard var connection = connections[id] else { return }
        connection.badFrames += 1
        connections[id] = connection
        transport?.send(ServerFrame.error(id: requestID, code: code, message: message), to: id)
        if connection.badFrames > configuration.badFrameLimit {
            closeConnection(id, .badFrames)
        }
    }

    private func handle(_ frame: ClientFrame, from id: ConnectionID, now: Int64) {
        switch frame {
        case .auth(let requestID, let token, let since):
            if let since { connections[id]?.notificationsSince = since }
            let action = connections[id]!.session.authenticate(requestID: requestID, verify(token, now: now))
            perform(action, on: id)
        case .refresh(let requestID, let token):
            let action = connections[id]!.session.refresh(requestID: requestID, verify(token, now: now))
            perform(action, on: id)
        case .ping(let requestID):
            transport?.send(ServerFrame.pong(id: requestID, serverTimeMillis: now), to: id)
        case .subscribe(let requestID, let name, let since):
            guard let principal = requirePrincipal(id, requestID) else { return }
            guard let channel = Channel(name) else {
                transport?.send(ServerFrame.error(id: requestID, code: .badChannel, message: "unknown or malformed channel"), to: id)
                return
            }
            let cap = configuration.maxSubscriptionsPerConnection
            if registry.subscriptionCount(of: id) >= cap, !registry.subscribers(of: channel.name).contains(id) {
                transport?.send(ServerFrame.error(id: requestID, code: .tooManySubscriptions,
                                                  message: "at most \(cap) subscriptions per connection"), to: id)
                return
            }
            switch channel {
            case .conversation(let conversation):
                subscribeToConversation(id, principal: principal, conversation: conversation, since: since, requestID: requestID)
                return
            case .scans, .scansOwner:
                subscribeToCounters(id, principal: principal, channel: channel, requestID: requestID)
                return
            case .user, .topic:
                break
            }
            guard channel.maySubscribe(user: principal.user) else {
                transport?.send(ServerFrame.error(id: requestID, code: .forbidden, message: "not allowed to subscribe to this channel"), to: id)
                return
            }
            registry.subscribe(id, to: channel.name)
            transport?.send(ServerFrame.subscribed(id: requestID, channel: channel.name), to: id)
        case .unsubscribe(let requestID, let name):
            guard let principal = requirePrincipal(id, requestID) else { return }
            if name == Channel.user(principal.user).name {
                transport?.send(ServerFrame.error(id: requestID, code: .forbidden, message: "the user channel cannot be left"), to: id)
                return
            }
            registry.unsubscribe(id, from: name)
            pendingSubscriptions.remove(id, channel: name)
            transport?.send(ServerFrame.unsubscribed(id: requestID, channel: name), to: id)
        case .send(let requestID, let request):
            guard let principal = requirePrincipal(id, requestID) else { return }
            send(request, from: principal.user, connection: id, requestID: requestID)
        case .typing(let conversation, let active):
            guard let principal = requirePrincipal(id, nil) else { return }
            typingFrame(conversation: conversation, active: active, user: principal.user, connection: id, now: now)
        case .read(let requestID, let conversation, let seq):
            guard let principal = requirePrincipal(id, requestID) else { return }
            markRead(conversation: conversation, seq: seq, user: principal.user, connection: id, requestID: requestID)
        case .presence(let requestID, let users):
            guard let principal = requirePrincipal(id, requestID) else { return }
            presenceQuery(asker: principal.user, users: users, connection: id, requestID: requestID)
        }
    }

    private func requirePrincipal(_ id: ConnectionID, _ requestID: String?) -> Principal? {
        if let principal = connections[id]?.session.principal { return principal }
        transport?.send(ServerFrame.error(id: requestID, code: .notAuthenticated, message: "authenticate first"), to: id)
        return nil
    }

    func verify(_ token: String, now: Int64) -> Result<Claims, AuthError> {
        Result { () throws(AuthError) in try verifier.verify(token, now: now / 1000) }
    }

    private func perform(_ action: ConnectionSession.Action, on id: ConnectionID) {
        switch action {
        case .none:
            break
        case .admit(let requestID, let principal):
            let cap = configuration.maxConnectionsPerUser
            if cap > 0 && connectionsPerUser[principal.user, default: 0] >= cap {
                connections[id]?.session.markClosing()
                transport?.send(ServerFrame.error(id: requestID, code: .tooManyConnections,
                                                  message: "at most \(cap) connections per user"), to: id)
                closeConnection(id, .tooManyConnections)
                return
            }
            connections[id]?.admitted = principal
            authenticatedCount += 1
            metrics.authenticated.record(authenticatedCount)
            registry.subscribe(id, to: Channel.user(principal.user).name)
            let count = connectionsPerUser[principal.user, default: 0] + 1
            connectionsPerUser[principal.user] = count
            transport?.send(ServerFrame.welcome(id: requestID, connection: String(id), user: principal.user,
                                                role: principal.role, expiresAt: principal.expiresAtMillis.map { $0 / 1000 }), to: id)
            if count == 1 {
                store.recordConnect(user: principal.user, role: principal.role, atMillis: clock.nowMillis())
            }
            userAdmitted(principal.user)
            if let since = connections[id]?.notificationsSince {
                if since < 0 {
                    transport?.send(ServerFrame.error(id: requestID, code: .badRequest,
                                                      message: "'since' must be a notification id (an integer ≥ 0)"), to: id)
                } else {
                    beginNotificationReplay(id, user: principal.user, since: since, requestID: requestID)
                }
            }
        case .refreshed(let requestID, let principal):
            transport?.send(ServerFrame.refreshed(id: requestID, expiresAt: principal.expiresAtMillis.map { $0 / 1000 }), to: id)
        case .reject(let requestID, let code, let message, let close):
            transport?.send(ServerFrame.error(id: requestID, code: code, message: message), to: id)
            if let close { closeConnection(id, close) }
        case .close(let code):
            closeConnection(id, code)
        }
    }

    private func closeConnection(_ id: ConnectionID, _ code: CloseCode) {
        connections[id]?.session.markClosing()
        if code != .goingAway { metrics.closes.increment() }
        transport?.close(id, code: code)
    }

    // MARK: Time and shutdown

    /// Enforces auth deadlines and token expiry; the loop calls it a few times a second.
    public func tick() {
        let now = clock.nowMillis()
        var actions: [(ConnectionID, ConnectionSession.Action)] = []
        for (id, var connection) in connections {
            let action = connection.session.tick(nowMillis: now)
            if action != .none {
                connections[id] = connection
                actions.append((id, action))
            }
        }
        for (id, action) in actions { perform(action, on: id) }
        for stop in typing.tick(nowMillis: now) {
            relayTyping(conversation: stop.conversation, user: stop.user, active: false)
        }
        for change in presence.tick(nowMillis: now) { announce(change) }
    }

    /// Stops admitting connections and closes every open one with 1001.
    public func beginShutdown() {
        shuttingDown = true
        for id in connections.keys { closeConnection(id, .goingAway) }
    }

    // MARK: Publication

    /// Publishes JSON `data` to every subscriber of `channel`; the frame is
    /// encoded once. Returns the number of subscribers it was queued for.
    @discardableResult
    public func publish(channel: String, data: [UInt8]) -> Int {
        publish(channel: channel, frame: ServerFrame.publication(channel: channel, data: data, sentAtMicros: clock.nowMicros()))
    }

    /// Queues an encoded publication for every subscriber of `channel`.
    @discardableResult
    func publish(channel: String, frame: OutboundFrame) -> Int {
        metrics.publications.increment()
        let subscribers = registry.subscribers(of: channel)
        guard !subscribers.isEmpty, let transport else { return 0 }
        for id in subscribers { transport.send(frame, to: id) }
        metrics.deliveries.increment(by: subscribers.count)
        return subscribers.count
    }
}
