// The hub's core: connections, sessions, limits, subscriptions, the
// publication path and routing. It names no feature: features register
// channel kinds, frames and routes (Feature.swift). Owned by the loop
// thread; every method runs there.
import Logging
import SwitchboardAuth
import SwitchboardWire

/// The loop-owned core of Switchboard.
public final class Hub {
    let configuration: HubConfiguration
    /// The loop thread's mailbox: store replies run through it.
    public let loop: any HubLoop
    let verifier: JWTVerifier
    /// The injected clock.
    public let clock: HubClock
    let store: HubStore
    let metrics: HubMetrics
    let logger: Logger
    /// Carries publications to every node's delivery.
    public let broker: Broker
    /// The network layer; set once at start-up.
    public weak var transport: Transport?
    /// Renders `/metrics`; set by the executable.
    public var metricsRenderer: (() -> String)?

    struct Connection {
        var session: ConnectionSession
        var limiter: TokenBucket
        /// Who was admitted, kept through closing for the disconnect record.
        var admitted: Principal?
        /// The resume cursor given at connect (`?since=`) or in `auth`.
        var since: Int64?
        /// Per ordered stream, the last position this connection got at its
        /// resume seam: a live publication at or below it was in the replay.
        var marks: [String: Int64] = [:]
        var droppedFrames = 0
        var badFrames = 0
        /// Whether `welcome` went out: frames that need it wait in `early`
        /// until then (the welcome gate may be waiting for the store).
        var welcomed = false
        var early: [ClientFrame] = []
    }

    /// Most frames held while a connection's welcome waits.
    static let earlyFrameCap = 32

    var connections: [ConnectionID: Connection] = [:]
    var registry = ChannelRegistry()
    var seams = StreamSeams()
    var heads = StreamHeads()
    var streamRepairers: [String: (StreamGap) -> Void] = [:]
    private var connectionsPerUser: [String: Int] = [:]
    private var shuttingDown = false
    private var authenticatedCount = 0

    var features: [HubFeature] = []
    var channelKinds: [String: ChannelKind] = [:]
    var frameHandlers: [String: (FrameCall) -> Void] = [:]
    var routes = RouteTable()
    var admissionHooks: [(Admission) -> Void] = []
    var departureHooks: [(ConnectionID, Principal) -> Void] = []
    var welcomeGate: WelcomeGate?
    var userChannelResume: ((SubscribeRequest) -> Void)?
    var scheduled: [ScheduledWork] = []

    /// A hub with no features; `install` adds them.
    public init(
        configuration: HubConfiguration, loop: any HubLoop, clock: HubClock, store: HubStore,
        broker: Broker = InProcessBroker(), metrics: HubMetrics, logger: Logger
    ) {
        self.configuration = configuration
        self.loop = loop
        self.verifier = JWTVerifier(configuration.jwt)
        self.clock = clock
        self.store = store
        self.broker = broker
        self.metrics = metrics
        self.logger = logger
        register(UserChannels(hub: self))
        register(TopicChannels(hub: self))
        installSystemRoutes()
        every(millis: 250) { [unowned self] in tickSessions() }
        broker.attach { [unowned self] in deliver($0) }
        installStreamRepair()
    }

    /// Number of open connections.
    public var connectionCount: Int { connections.count }

    /// How many admitted connections `user` holds on this node.
    public func connectionCount(of user: String) -> Int { connectionsPerUser[user] ?? 0 }

    // MARK: Connection lifecycle

    /// A WebSocket connection opened. `token` is the one from the
    /// `Authorization` header or `?token=`, if any; `since` the `?since=` cursor.
    public func connectionOpened(_ id: ConnectionID, token: String?, since: Int64? = nil) {
        let now = clock.nowMillis()
        var connection = Connection(
            session: ConnectionSession(deadlineMillis: now + configuration.authTimeoutMillis),
            limiter: TokenBucket(
                ratePerSecond: configuration.framesPerSecond,
                burst: configuration.frameBurst, nowMillis: now))
        connection.since = since
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
        seams.removeAll(for: id)
        metrics.connections.record(connections.count)
        guard let principal = connection.admitted else { return }
        authenticatedCount -= 1
        metrics.authenticated.record(authenticatedCount)
        let remaining = (connectionsPerUser[principal.user] ?? 1) - 1
        if remaining <= 0 {
            connectionsPerUser[principal.user] = nil
            store.recordDisconnect(user: principal.user, atMillis: clock.nowMillis())
        } else {
            connectionsPerUser[principal.user] = remaining
        }
        for hook in departureHooks { hook(id, principal) }
    }

    /// A complete text message arrived.
    public func textReceived(_ id: ConnectionID, _ bytes: UnsafeRawBufferPointer) {
        let now = clock.nowMillis()
        guard admitFrame(id, now: now) else { return }
        let frame: ClientFrame
        do {
            frame = try ClientFrame.decode(bytes)
        } catch {
            rejectBadFrame(id, error.requestID, error.code, error.message)
            return
        }
        handle(frame, from: id, now: now)
    }

    /// A binary message arrived; the protocol is text only.
    public func binaryReceived(_ id: ConnectionID) {
        guard admitFrame(id, now: clock.nowMillis()) else { return }
        rejectBadFrame(id, nil, .binaryNotSupported, "binary frames are not supported; send JSON text")
    }

    /// Rate limiting: true when the frame may be processed (false too when
    /// the connection is gone). The limiter is updated in place: a copy of
    /// the connection out and back cost every frame its retains and a
    /// second dictionary write.
    private func admitFrame(_ id: ConnectionID, now: Int64) -> Bool {
        guard let admitted = connections[id]?.limiter.take(nowMillis: now) else { return false }
        if admitted { return true }
        connections[id]!.droppedFrames += 1
        let dropped = connections[id]!.droppedFrames
        if dropped == 1 || dropped % 20 == 0 {
            send(ServerFrame.error(id: nil, code: .rateLimited, message: "too many frames; slow down"), to: id)
        }
        if dropped > configuration.rateLimitGrace {
            closeConnection(id, .rateLimited)
        }
        return false
    }

    private func rejectBadFrame(_ id: ConnectionID, _ requestID: RequestID?, _ code: ErrorCode, _ message: String) {
        metrics.badFrames.increment()
        guard var connection = connections[id] else { return }
        connection.badFrames += 1
        connections[id] = connection
        send(ServerFrame.error(id: requestID, code: code, message: message), to: id)
        if connection.badFrames > configuration.badFrameLimit {
            closeConnection(id, .badFrames)
        }
    }

    private func handle(_ frame: ClientFrame, from id: ConnectionID, now: Int64) {
        switch frame {
        case .auth(let requestID, let token, let since):
            if let since { connections[id]?.since = since }
            let action = connections[id]!.session.authenticate(requestID: requestID, verify(token, now: now))
            perform(action, on: id)
        case .refresh(let requestID, let token):
            let action = connections[id]!.session.refresh(requestID: requestID, verify(token, now: now))
            perform(action, on: id)
        case .ping(let requestID):
            send(ServerFrame.pong(id: requestID, serverTimeMillis: now), to: id)
        case .subscribe(let requestID, let name, let since):
            guard let principal = requirePrincipal(id, frame) else { return }
            subscribe(id, principal: principal, name: name, since: since, requestID: requestID)
        case .subscribeMany(let requestID, let entries):
            guard let principal = requirePrincipal(id, frame) else { return }
            // In order, each answered as a single subscribe with the frame's id.
            for entry in entries where connections[id] != nil {
                subscribe(id, principal: principal, name: entry.channel, since: entry.since, requestID: requestID)
            }
        case .unsubscribe(let requestID, let name):
            guard let principal = requirePrincipal(id, frame) else { return }
            // The same syntax and limit as subscribe: a name that could not
            // be subscribed is refused, not echoed back.
            guard channelKind(of: name) != nil else {
                send(
                    ServerFrame.error(id: requestID, HubError(.badChannel, "unknown or malformed channel"), channel: name), to: id
                )
                return
            }
            if name == ChannelName.user(principal.user) {
                send(
                    ServerFrame.error(
                        id: requestID, HubError(.forbidden, "the user channel cannot be left"), channel: name), to: id)
                return
            }
            registry.unsubscribe(id, from: name)
            seams.end(id, stream: name)
            send(ServerFrame.unsubscribed(id: requestID, channel: name), to: id)
        default:
            guard let principal = requirePrincipal(id, frame) else { return }
            guard let handler = frameHandlers[frame.typeName] else {
                rejectBadFrame(id, frame.requestID, .unknownType, "unknown frame type '\(frame.typeName)'")
                return
            }
            handler(FrameCall(connection: id, principal: principal, frame: frame, nowMillis: now))
        }
    }

    private func subscribe(_ id: ConnectionID, principal: Principal, name: String, since: Int64?, requestID: RequestID?) {
        guard let (kind, rest) = channelKind(of: name) else {
            send(
                ServerFrame.error(id: requestID, HubError(.badChannel, "unknown or malformed channel"), channel: name),
                to: id)
            return
        }
        let cap = configuration.maxSubscriptionsPerConnection
        // Subscribes still opening (waiting for the store) count too, or a
        // pipelined burst would pass the cap before any of them lands.
        let held = registry.subscriptionCount(of: id) + seams.waitingCount(of: id)
        if held >= cap, !registry.subscribers(of: name).contains(id), !seams.isWaiting(id, stream: name) {
            send(
                ServerFrame.error(
                    id: requestID, HubError(.tooManySubscriptions, "at most \(cap) subscriptions per connection"),
                    channel: name), to: id)
            return
        }
        kind.subscribe(
            SubscribeRequest(
                connection: id, principal: principal, channel: name, rest: rest, since: since,
                requestID: requestID))
    }

    /// The sender, once welcomed; a frame sent between `auth` and `welcome`
    /// waits for it (nil), one before `auth` is refused.
    private func requirePrincipal(_ id: ConnectionID, _ frame: ClientFrame) -> Principal? {
        guard let connection = connections[id] else { return nil }
        if let principal = connection.session.principal {
            if connection.welcomed { return principal }
            if connection.early.count < Self.earlyFrameCap {
                connections[id]!.early.append(frame)
            } else {
                send(
                    ServerFrame.error(
                        id: frame.requestID, code: .rateLimited, message: "wait for welcome", channel: frame.channel),
                    to: id)
            }
            return nil
        }
        send(
            ServerFrame.error(
                id: frame.requestID, code: .notAuthenticated, message: "authenticate first", channel: frame.channel),
            to: id)
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
            admit(id, principal, requestID: requestID)
        case .refreshed(let requestID, let principal):
            send(ServerFrame.refreshed(id: requestID, expiresAt: principal.expiresAtMillis), to: id)
        case .reject(let requestID, let code, let message, let close):
            send(ServerFrame.error(id: requestID, code: code, message: message), to: id)
            if let close { closeConnection(id, close) }
        case .close(let code):
            closeConnection(id, code)
        }
    }

    private func admit(_ id: ConnectionID, _ principal: Principal, requestID: RequestID?) {
        let cap = configuration.maxConnectionsPerUser
        if cap > 0 && connectionsPerUser[principal.user, default: 0] >= cap {
            connections[id]?.session.markClosing()
            refuse(HubError(.tooManyConnections, "at most \(cap) connections per user"), requestID: requestID, on: id)
            closeConnection(id, .tooManyConnections)
            return
        }
        connections[id]?.admitted = principal
        authenticatedCount += 1
        metrics.authenticated.record(authenticatedCount)
        let count = connectionsPerUser[principal.user, default: 0] + 1
        connectionsPerUser[principal.user] = count
        if count == 1 {
            store.recordConnect(user: principal.user, role: principal.role, atMillis: clock.nowMillis())
        }
        let admission = Admission(connection: id, principal: principal, requestID: requestID, since: connections[id]?.since)
        guard let gate = welcomeGate else {
            welcome(admission, lastNotification: .unknown)
            return
        }
        gate(admission) { [unowned self] last in welcome(admission, lastNotification: last) }
    }

    /// Sends `welcome` (once), joins the user channel, runs the admission
    /// hooks, then handles the frames that waited for it.
    private func welcome(_ admission: Admission, lastNotification: ServerFrame.LastNotification) {
        let id = admission.connection
        guard let connection = connections[id], connection.admitted != nil, !connection.welcomed else { return }
        let principal = admission.principal
        connections[id]!.welcomed = true
        connections[id]!.early = []
        registry.subscribe(id, to: ChannelName.user(principal.user))
        send(
            ServerFrame.welcome(
                id: admission.requestID, connection: String(id), user: principal.user, role: principal.role,
                expiresAt: principal.expiresAtMillis, lastNotification: lastNotification), to: id)
        for hook in admissionHooks { hook(admission) }
        let now = clock.nowMillis()
        for frame in connection.early where connections[id] != nil { handle(frame, from: id, now: now) }
    }

    private func closeConnection(_ id: ConnectionID, _ code: CloseCode) {
        connections[id]?.session.markClosing()
        if code != .goingAway { metrics.closes.increment() }
        transport?.close(id, code: code)
    }

    // MARK: Time and shutdown

    /// Runs the periodic work that is due (auth deadlines, token expiry and
    /// whatever features scheduled); the loop calls it every few ms.
    public func tick() {
        let now = clock.nowMillis()
        for index in scheduled.indices {
            if let last = scheduled[index].lastRunMillis, now - last < scheduled[index].intervalMillis { continue }
            scheduled[index].lastRunMillis = now
            scheduled[index].work()
        }
    }

    private func tickSessions() {
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
    }

    /// Stops admitting connections and closes every open one with 1001.
    public func beginShutdown() {
        shuttingDown = true
        for id in connections.keys { closeConnection(id, .goingAway) }
    }
}
