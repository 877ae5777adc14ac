// `switchboard serve`: wires store, hub and libwebsockets server, then runs
// the loop on the main thread until SIGTERM or SIGINT.
import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import SwitchboardAuth
import SwitchboardHub
import SwitchboardLWS
import SwitchboardPostgres

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the hub (WebSocket + HTTP on one port).")

    @Option(name: .customLong("bind"), help: "Address to listen on. Env SWITCHBOARD_BIND.")
    var bindAddress: String = Env.string("SWITCHBOARD_BIND") ?? "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free one. Env SWITCHBOARD_PORT.")
    var port: Int = Env.int("SWITCHBOARD_PORT", 8080)
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var auth: AuthOptions
    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var workerOptions: WorkerOptions
    @Option(
        name: .customLong("max-frame-bytes"),
        help: "Largest WebSocket message; larger ones close with 1009. Env SWITCHBOARD_MAX_FRAME_BYTES.")
    var maxFrameBytes: Int = Env.int("SWITCHBOARD_MAX_FRAME_BYTES", 64 * 1024)
    @Option(
        name: .customLong("max-queue-bytes"),
        help: "Largest outbound queue per connection; past it the connection closes with 4009. Env SWITCHBOARD_MAX_QUEUE_BYTES.")
    var maxQueueBytes: Int = Env.int("SWITCHBOARD_MAX_QUEUE_BYTES", 1 << 20)
    @Option(name: .customLong("max-body-bytes"), help: "Largest HTTP request body (413 past it). Env SWITCHBOARD_MAX_BODY_BYTES.")
    var maxBodyBytes: Int = Env.int("SWITCHBOARD_MAX_BODY_BYTES", 1 << 20)
    @Option(
        name: .customLong("http-request-timeout"),
        help:
            "Seconds a whole HTTP request (headers and body) may take to arrive; 408 and close after. Env SWITCHBOARD_HTTP_REQUEST_TIMEOUT."
    )
    var httpRequestTimeout: Int = Env.int("SWITCHBOARD_HTTP_REQUEST_TIMEOUT", 10)
    @Option(
        name: .customLong("max-connections-per-ip"),
        help:
            "Open connections one client address may hold; more are closed at accept. 0: no cap. Env SWITCHBOARD_MAX_CONNECTIONS_PER_IP."
    )
    var maxConnectionsPerIP: Int = Env.int("SWITCHBOARD_MAX_CONNECTIONS_PER_IP", 1000)
    @Option(
        name: .customLong("max-handshakes-per-ip"),
        help:
            "Connections of one client address still sending their first request's headers; more are closed at accept. 0: no cap. Env SWITCHBOARD_MAX_HANDSHAKES_PER_IP."
    )
    var maxHandshakesPerIP: Int = Env.int("SWITCHBOARD_MAX_HANDSHAKES_PER_IP", 64)
    @Option(
        name: .customLong("metrics-token"),
        help: "If set, GET /metrics needs `Authorization: Bearer <token>` (401 otherwise). Env SWITCHBOARD_METRICS_TOKEN.")
    var metricsToken: String? = Env.string("SWITCHBOARD_METRICS_TOKEN")
    @Option(
        name: .customLong("frames-per-second"),
        help: "Frames a connection may send per second, sustained. Env SWITCHBOARD_FRAMES_PER_SECOND.")
    var framesPerSecond: Double = Env.double("SWITCHBOARD_FRAMES_PER_SECOND", 100)
    @Option(name: .customLong("frame-burst"), help: "Frames a connection may send in a burst. Env SWITCHBOARD_FRAME_BURST.")
    var frameBurst: Double = Env.double("SWITCHBOARD_FRAME_BURST", 200)
    @Option(
        name: .customLong("auth-timeout"),
        help: "Seconds a connection has to authenticate (close 4001 after). Env SWITCHBOARD_AUTH_TIMEOUT.")
    var authTimeout: Double = Env.double("SWITCHBOARD_AUTH_TIMEOUT", 5)
    @Option(
        name: .customLong("presence-grace"),
        help: "Seconds a user without connections still counts as online. Env SWITCHBOARD_PRESENCE_GRACE.")
    var presenceGrace: Double = Env.double("SWITCHBOARD_PRESENCE_GRACE", 5)
    @Option(
        name: .customLong("max-connections-per-user"),
        help:
            "WebSocket connections one user may hold (0: no cap); one more is closed with 4011. Env SWITCHBOARD_MAX_CONNECTIONS_PER_USER."
    )
    var maxConnectionsPerUser: Int = Env.int("SWITCHBOARD_MAX_CONNECTIONS_PER_USER", 100)
    @Option(
        name: .customLong("max-subscriptions-per-connection"),
        help:
            "Channels one connection may subscribe to; one more is refused with too_many_subscriptions. Env SWITCHBOARD_MAX_SUBSCRIPTIONS_PER_CONNECTION."
    )
    var maxSubscriptionsPerConnection: Int = Env.int("SWITCHBOARD_MAX_SUBSCRIPTIONS_PER_CONNECTION", 1_000)
    @Option(
        name: .customLong("writers"),
        help:
            "Group-commit writers (each a thread and a database connection); a conversation's writes always go to the same one. 1...16. Env SWITCHBOARD_WRITERS."
    )
    var writers: Int = Env.int("SWITCHBOARD_WRITERS", 1)
    @Option(
        name: .customLong("max-write-delay-ms"),
        help:
            "A write that would wait longer than this for its commit is refused at once with `overloaded` and a retry hint. 1...60000. Env SWITCHBOARD_MAX_WRITE_DELAY_MS."
    )
    var maxWriteDelayMillis: Int = Env.int("SWITCHBOARD_MAX_WRITE_DELAY_MS", 250)
    @Option(
        name: .customLong("event-loop"), help: "libwebsockets event loop: poll or uv (libuv/epoll). Env SWITCHBOARD_EVENT_LOOP.")
    var eventLoop: String = Env.string("SWITCHBOARD_EVENT_LOOP") ?? "poll"
    @Flag(
        name: .customLong("enable-echo"),
        help: "Serve the `echo` subprotocol for conformance testing. Env SWITCHBOARD_ENABLE_ECHO=1.")
    var enableEcho: Bool = Env.bool("SWITCHBOARD_ENABLE_ECHO")
    @Option(
        name: .customLong("dashboard-dir"),
        help:
            "Folder of static files served at / (the dashboard); default: the one built with the hub. Env SWITCHBOARD_DASHBOARD_DIR."
    )
    var dashboardDirectory: String? = Env.string("SWITCHBOARD_DASHBOARD_DIR")
    @Flag(name: .customLong("no-dashboard"), help: "Serve no static files at /.")
    var noDashboard = false
    @Option(name: .customLong("ready-file"), help: "Write the bound port to this file once listening (for scripts and tests).")
    var readyFile: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error. Env SWITCHBOARD_LOG_LEVEL.")
    var logLevel: String = Env.string("SWITCHBOARD_LOG_LEVEL") ?? "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard EventLoopBackend(rawValue: eventLoop) != nil else { throw ValidationError("--event-loop must be poll or uv") }
        guard maxFrameBytes >= 256, maxQueueBytes >= maxFrameBytes else {
            throw ValidationError("--max-frame-bytes must be ≥ 256 and ≤ --max-queue-bytes")
        }
        guard maxSubscriptionsPerConnection >= 1 else { throw ValidationError("--max-subscriptions-per-connection must be ≥ 1") }
        guard maxConnectionsPerUser >= 0 else { throw ValidationError("--max-connections-per-user must be ≥ 0") }
        guard framesPerSecond > 0, frameBurst >= 1, authTimeout > 0 else { throw ValidationError("limits must be positive") }
        // Converted to integer milliseconds below: bounded so that cannot trap.
        guard authTimeout <= 3600, (0...3600).contains(presenceGrace) else {
            throw ValidationError("--auth-timeout and --presence-grace must be at most 3600 seconds")
        }
        guard (1...3600).contains(httpRequestTimeout) else {
            throw ValidationError("--http-request-timeout must be 1...3600 seconds")
        }
        guard (1...16).contains(writers) else { throw ValidationError("--writers must be 1...16") }
        guard (1...60_000).contains(maxWriteDelayMillis) else { throw ValidationError("--max-write-delay-ms must be 1...60000") }
        guard maxConnectionsPerIP >= 0, maxHandshakesPerIP >= 0 else {
            throw ValidationError("per-IP caps must be ≥ 0 (0: no cap)")
        }
        if let metricsToken {
            guard metricsToken.utf8.count >= 16 else { throw ValidationError("--metrics-token must be at least 16 bytes") }
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level") }
    }

    func run() throws {
        // Signals are taken by a dedicated thread with sigwait; block them
        // before any other thread starts so that none of those gets them.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)
        try Supervisor.takeOver(self)

        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "switchboard")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let metrics = HubMetrics()

        let (jwt, dev) = try auth.jwtConfiguration(dataDirectory: database.dataDirectory)
        let apiKeys = try auth.apiKeyRing(dataDirectory: database.dataDirectory, development: dev)
        if dev {
            logger.warning(
                "no JWT key configured: using development secrets from \(database.dataDirectory)/dev-secrets (mint tokens with `switchboard token`)"
            )
        }

        let opened = try DatabaseSetup.open(database, stopEmbeddedOnExit: true)
        if opened.embedded != nil { logger.info("embedded PostgreSQL running in \(database.dataDirectory)/postgres") }
        do {
            let conn = try PGConnection(opened.conninfo)
            let applied = try Migrations.apply(on: conn)
            if !applied.isEmpty { logger.info("applied migrations \(applied)") }
        } catch {
            // The hub still serves; the writer keeps retrying and /readyz says not ready.
            logger.error("could not apply migrations now: \(error)")
        }

        let mailbox = Mailbox()
        mailbox.onPressure = { pressure in
            switch pressure {
            case .refused: metrics.mailboxRefused.increment()
            case .overflowed: metrics.mailboxOverflowed.increment()
            }
        }
        // A store answer (a committed send, a REST reply) must reach the loop:
        // `deliver` waits for room rather than drop it, and while the mailbox
        // is full new store requests are answered `overloaded` at once.
        let store = PostgresStore(
            conninfo: opened.conninfo, logger: logger, metrics: metrics, writers: writers,
            maxWriteDelay: Double(maxWriteDelayMillis) / 1000,
            deliver: { work in mailbox.deliver(work) }, congested: { mailbox.isFull },
            answering: { mailbox.holdingWakes($0) },
            announcingAs: cluster.broker == .postgres ? cluster.resolvedNodeName : nil)
        store.start()
        // Give the store threads a moment to connect, so that the first REST
        // calls do not meet a 503; a database that is down does not keep the
        // hub from serving (it reconnects in the background).
        let connectDeadline = Date().addingTimeInterval(3)
        while !store.isAvailable && Date() < connectDeadline { usleep(10_000) }

        var hubConfig = HubConfiguration(jwt: jwt, apiKeys: apiKeys)
        hubConfig.authTimeoutMillis = Int64(authTimeout * 1000)
        hubConfig.framesPerSecond = framesPerSecond
        hubConfig.frameBurst = frameBurst
        hubConfig.maxConnectionsPerUser = maxConnectionsPerUser
        hubConfig.maxSubscriptionsPerConnection = maxSubscriptionsPerConnection
        hubConfig.maxPublicationBytes = maxQueueBytes
        var features = FeatureSettings()
        features.presenceGraceMillis = Int64(presenceGrace * 1000)
        features.nodeTimeoutMillis = Int64(cluster.nodeTimeout * 1000)
        // Fault injection, for the crash tests only.
        features.failpoints = Set(
            (Env.string("SWITCHBOARD_FAILPOINTS") ?? "").split(separator: ",")
                .compactMap { Failpoint(rawValue: String($0)) })
        let node = cluster.resolvedNodeName
        let link = try cluster.link(conninfo: opened.conninfo, logger: logger)
        let broker: Broker =
            link.map { ClusterBroker(link: $0, node: node, loop: mailbox, clock: SystemClock(), metrics: metrics) }
            ?? InProcessBroker(node: node)
        let hub = Hub(
            configuration: hubConfig, features: features, loop: mailbox, clock: SystemClock(), store: store, chat: store,
            scans: store, notifications: store, quotes: store, market: store, broker: broker, metrics: metrics,
            logger: logger)
        (broker as? ClusterBroker)?.start()
        if link != nil { logger.info("node \(node) joined the cluster over \(broker.kind)") }
        hub.metricsRenderer = { registry.emitToString() }

        var options = ServerOptions()
        options.bindAddress = bindAddress
        options.port = port
        options.maxFrameBytes = maxFrameBytes
        options.maxQueuedBytes = maxQueueBytes
        options.maxBodyBytes = maxBodyBytes
        options.backend = EventLoopBackend(rawValue: eventLoop)!
        options.enableEcho = enableEcho
        options.requestTimeoutSeconds = httpRequestTimeout
        options.maxConnectionsPerIP = maxConnectionsPerIP
        options.maxHandshakesPerIP = maxHandshakesPerIP
        options.metricsToken = metricsToken
        options.listenShare = workerOptions.listenShare
        if !noDashboard {
            options.staticDirectory = dashboardDirectory ?? Bundle.module.url(forResource: "Dashboard", withExtension: nil)?.path
        }
        let server = LWSServer(options: options, hub: hub, metrics: metrics, logger: logger, mailbox: mailbox)
        try server.start()
        logger.info(
            "listening on \(bindAddress):\(server.boundPort) (event loop \(eventLoop)\(enableEcho ? ", echo enabled" : ""))")
        if let readyFile { try String(server.boundPort).write(toFile: readyFile, atomically: true, encoding: .utf8) }

        // The hub's periodic work (sessions every 250 ms, counter frames at
        // most every 100 ms per channel, …) runs from this tick; a fine tick
        // keeps the added latency small.
        server.schedule(every: 0.025, name: "switchboard-ticker") { $0.tick() }
        let blocked = signals
        let signalThread = Thread {
            var waitFor = blocked
            var caught: Int32 = 0
            sigwait(&waitFor, &caught)
            logger.info("signal \(caught): shutting down")
            server.requestStop(grace: 2.0)
        }
        signalThread.start()

        server.onStopped = {
            let drained = store.stop(timeout: 2.0)
            if !drained { logger.warning("some database writes were still pending at exit") }
            opened.embedded?.stop()
            logger.info("stopped")
            Foundation.exit(0)
        }
        server.run()
    }
}
