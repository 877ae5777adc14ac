// The Redis broker's wire: Redis pub/sub on one channel. Two connections,
// each on its own thread: a subscriber that hears every node (this one
// included) and a publisher that drains a bounded queue, pipelining its
// PUBLISHes. One publisher connection fed by one FIFO keeps this node's
// order. When Redis goes away both reconnect with backoff; the hub is told
// `changed(false)` once and `changed(true)` when both work again.
import Foundation
import Logging
import SwitchboardHub

/// A `ClusterLink` over Redis pub/sub.
// Unchecked: mutable state is behind `condition`, the callbacks behind `reportLock`, each connection owned by its thread.
// (`changed` runs under `reportLock` so that reports reach the hub in the
// order they were decided; stop() only shuts a connection down, under
// `condition`, while its thread still holds it.)
public final class RedisLink: ClusterLink, @unchecked Sendable {
    /// The pub/sub channel every node uses unless told otherwise.
    public static let channel = "switchboard:cluster"

    /// Bounds and timing of a link.
    public struct Options: Sendable {
        /// The pub/sub channel.
        public var channel = RedisLink.channel
        /// Most messages waiting to be published; past it `send` refuses.
        public var maxQueuedMessages = 100_000
        /// Most bytes waiting to be published; past it `send` refuses.
        public var maxQueuedBytes = 64 << 20
        /// Bound on a connect and on each write and reply, in milliseconds.
        public var timeoutMs: Int32 = 2000
        /// The subscriber pings after this much silence (seconds).
        public var pingInterval = 1.0
        /// The subscriber's connection counts as lost after this much silence (seconds).
        public var silenceLimit = 4.0
        /// Longest wait between reconnection attempts (seconds); waits start at 50 ms and double.
        public var maxBackoff = 1.0

        /// The defaults.
        public init() {}
    }

    public let kind = "redis"
    /// The server and database (its description hides the password).
    public let url: RedisURL
    private let options: Options
    private let channelBytes: [UInt8]
    private let logger: Logger

    private let condition = NSCondition()
    private var health = RedisLinkHealth()
    private var queue: [[UInt8]] = []
    private var queuedBytes = 0
    private var stopping = false
    private var started = false
    /// Set when the subscriber lost Redis: the publisher's connection is
    /// then most likely dead too and is replaced before the next batch.
    private var publisherStale = false
    private var subscriberConnection: RedisConnection?
    private var publisherConnection: RedisConnection?
    private let threads = DispatchGroup()

    private let reportLock = NSLock()
    private var receive: (@Sendable ([UInt8]) -> Void)?
    private var changed: (@Sendable (Bool) -> Void)?

    /// A link to the Redis at `url` (`redis://[:password@]host[:port][/db]`);
    /// nothing connects before `start`. Throws `RedisURLError` for a bad URL
    /// (or options out of range).
    public init(url: String, logger: Logger, options: Options = Options()) throws {
        self.url = try RedisURL(url)
        guard !options.channel.isEmpty, options.channel.utf8.count <= 256 else {
            throw RedisURLError("the Redis channel must be 1 to 256 bytes")
        }
        guard options.maxQueuedMessages > 0, options.maxQueuedBytes > 0, options.timeoutMs > 0,
            options.pingInterval > 0, options.silenceLimit > options.pingInterval, options.maxBackoff > 0
        else {
            throw RedisURLError("the Redis link's limits must be positive (and the silence limit above the ping interval)")
        }
        self.options = options
        self.channelBytes = Array(options.channel.utf8)
        var logger = logger
        logger[metadataKey: "redis.url"] = "\(self.url)"
        self.logger = logger
    }

    /// True while the link is subscribed and its publisher connection works.
    public var isHealthy: Bool { condition.withLock { health.isUp } }

    /// Messages waiting to be published.
    public var queueDepth: Int { condition.withLock { queue.count } }

    public func start(receive: @escaping @Sendable ([UInt8]) -> Void, changed: @escaping @Sendable (Bool) -> Void) {
        let first = condition.withLock {
            defer { started = true }
            return !started && !stopping
        }
        guard first else { return }
        reportLock.withLock {
            self.receive = receive
            self.changed = changed
        }
        spawn("switchboard-redis-sub") { [self] in subscriberRun() }
        spawn("switchboard-redis-pub") { [self] in publisherRun() }
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        threads.enter()
        let thread = Thread { [threads] in
            body()
            threads.leave()
        }
        thread.name = name
        thread.start()
    }

    @discardableResult
    public func send(_ message: [UInt8]) -> Bool {
        guard message.count <= ClusterLinkLimits.maxMessageBytes else { return false }
        condition.lock()
        defer { condition.unlock() }
        guard health.isUp, !stopping, queue.count < options.maxQueuedMessages,
            message.count <= options.maxQueuedBytes - queuedBytes
        else { return false }
        queue.append(message)
        queuedBytes += message.count
        if queue.count == 1 { condition.broadcast() }
        return true
    }

    /// Stops both threads and waits for them (promptly: their connections
    /// are shut down). Never call it from `receive` or `changed`, which run
    /// on those threads.
    public func stop() {
        condition.withLock {
            stopping = true
            subscriberConnection?.shutdown()
            publisherConnection?.shutdown()
            condition.broadcast()
        }
        threads.wait()
        reportLock.withLock {
            receive = nil
            changed = nil
        }
    }

    // MARK: - Shared by both threads

    /// Applies a health event and tells the hub when the link's state changed.
    private func update(_ event: (inout RedisLinkHealth) -> RedisLinkHealth.Action) {
        reportLock.withLock {
            let (action, stopping) = condition.withLock { (event(&health), self.stopping) }
            // A link being stopped closes its connections; that is no outage.
            guard case .report(let up) = action, !stopping else { return }
            if up {
                logger.info("redis link up")
            } else {
                logger.warning("redis link down")
            }
            changed?(up)
        }
    }

    private var isStopping: Bool { condition.withLock { stopping } }

    /// Waits `seconds` unless the link stops first; false when it stopped.
    private func pause(_ seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while !stopping && condition.wait(until: deadline) {}
        return !stopping
    }

    /// Opens a connection and registers it in `slot` so that stop() can
    /// wake it; nil when stopping.
    private func open(into slot: ReferenceWritableKeyPath<RedisLink, RedisConnection?>) throws(RedisConnectionError)
        -> RedisConnection?
    {
        let connection = try RedisConnection(url: url, timeoutMs: options.timeoutMs)
        return condition.withLock {
            guard !stopping else { return nil }
            self[keyPath: slot] = connection
            return connection
        }
    }

    /// Forgets the connection in `slot` (under the lock, so stop() never
    /// shuts down a descriptor already reused).
    private func close(_ slot: ReferenceWritableKeyPath<RedisLink, RedisConnection?>) {
        let connection = condition.withLock {
            defer { self[keyPath: slot] = nil }
            return self[keyPath: slot]
        }
        _ = connection  // freed here, outside the lock, once the slot is empty
    }

    private static let firstBackoff = 0.05

    private func nextBackoff(_ backoff: Double) -> Double { min(backoff * 2, options.maxBackoff) }
}

extension RedisLink {
    // MARK: - Subscriber thread

    private func subscriberRun() {
        var backoff = Self.firstBackoff
        var failures = 0
        while !isStopping {
            do throws(RedisConnectionError) {
                guard let connection = try open(into: \.subscriberConnection) else { break }
                try subscribe(connection)
                update { $0.subscriber(true) }
                backoff = Self.firstBackoff
                failures = 0
                try listen(connection)
            } catch {
                if !isStopping { logFailure("subscriber", error, failures) }
                failures += 1
            }
            close(\.subscriberConnection)
            // Whatever dropped this connection most likely dropped the
            // publisher's too: it is replaced before its next batch.
            condition.withLock {
                publisherStale = true
                condition.broadcast()
            }
            update { $0.subscriber(false) }
            guard pause(backoff) else { break }
            backoff = nextBackoff(backoff)
        }
    }

    private func subscribe(_ connection: RedisConnection) throws(RedisConnectionError) {
        let answer = try connection.command("SUBSCRIBE", channelBytes, timeoutMs: options.timeoutMs)
        guard case .array(let parts) = answer, parts.first?.bytes == Array("subscribe".utf8) else {
            throw RedisConnectionError(description: "SUBSCRIBE refused: \(answer)")
        }
    }

    /// Hands every message to `receive` until the connection fails or the link stops.
    private func listen(_ connection: RedisConnection) throws(RedisConnectionError) {
        var liveness = RedisLiveness(pingInterval: options.pingInterval, silenceLimit: options.silenceLimit)
        liveness.heard(at: Self.now())
        while !isStopping {
            guard let pushed = try connection.readPushed(channel: channelBytes, timeoutMs: 100) else {
                switch liveness.check(at: Self.now()) {
                case .wait: break
                case .ping:
                    try connection.appendPing()
                    try connection.flush()
                case .lost: throw RedisConnectionError(description: "Redis answered no PING for \(options.silenceLimit) s")
                }
                continue
            }
            liveness.heard(at: Self.now())
            guard case .message(let payload) = pushed else { continue }
            // A hostile publisher on the same Redis cannot make the hub parse more than a node would send.
            guard payload.count <= ClusterLinkLimits.maxMessageBytes else { continue }
            reportLock.withLock { receive }?(payload)
        }
    }

    // MARK: - Publisher thread

    private func publisherRun() {
        var backoff = Self.firstBackoff
        var failures = 0
        var connection: RedisConnection?
        while !isStopping {
            do throws(RedisConnectionError) {
                if connection == nil {
                    condition.withLock { publisherStale = false }
                    guard let opened = try open(into: \.publisherConnection) else { break }
                    connection = opened
                    try opened.appendPing()
                    try opened.flush()
                    guard case .status = try opened.reply(timeoutMs: options.timeoutMs) else {
                        throw RedisConnectionError(description: "PING refused")
                    }
                    update { $0.publisher(true) }
                    backoff = Self.firstBackoff
                    failures = 0
                }
                guard let connection, let batch = try nextBatch() else { continue }
                try publish(batch, on: connection)
                continue
            } catch {
                if !isStopping { logFailure("publisher", error, failures) }
                failures += 1
            }
            connection = nil
            close(\.publisherConnection)
            // Messages queued for a lost connection are lost with it: the hub
            // repairs after `changed(true)`, and must not get them afterwards.
            condition.withLock {
                queue = []
                queuedBytes = 0
            }
            update { $0.publisher(false) }
            guard pause(backoff) else { break }
            backoff = nextBackoff(backoff)
        }
        close(\.publisherConnection)
    }

    /// Waits for queued messages and takes them all; nil when the link
    /// stops or the connection must be replaced (then it throws).
    private func nextBatch() throws(RedisConnectionError) -> [[UInt8]]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !stopping && !publisherStale { condition.wait() }
        if stopping { return nil }
        if publisherStale { throw RedisConnectionError(description: "the subscriber lost Redis") }
        defer {
            queue = []
            queuedBytes = 0
        }
        return queue
    }

    /// Pipelines the PUBLISHes in chunks: a chunk's commands are written at
    /// once, then its replies are read.
    private func publish(_ batch: [[UInt8]], on connection: RedisConnection) throws(RedisConnectionError) {
        var index = 0
        while index < batch.count {
            var bytes = 0
            let start = index
            while index < batch.count && index - start < 512 && bytes < 1 << 20 {
                try connection.append("PUBLISH", channelBytes, batch[index])
                bytes += batch[index].count
                index += 1
            }
            try connection.flush()
            for _ in start..<index {
                let answer = try connection.reply(timeoutMs: options.timeoutMs)
                if case .error(let text) = answer { throw RedisConnectionError(description: "PUBLISH refused: " + text) }
            }
        }
    }

    private func logFailure(_ role: String, _ error: RedisConnectionError, _ failures: Int) {
        // Once per outage at warning; the retries that follow at debug.
        let level: Logger.Level = failures == 0 ? .warning : .debug
        logger.log(level: level, "redis \(role) connection failed", metadata: ["error": "\(error)"])
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
