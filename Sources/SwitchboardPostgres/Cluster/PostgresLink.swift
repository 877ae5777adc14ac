// The PostgreSQL broker's wire between nodes: LISTEN/NOTIFY on one channel.
// Two threads, each with its own connection: the sender drains a bounded
// queue into NOTIFYs (many messages per payload, one commit per drain), the
// listener waits on its socket and hands every message to `receive`. The
// payload format is ClusterPayload's. The threads are in
// PostgresLink+Sender.swift and PostgresLink+Listener.swift.
import Foundation
import Logging
import SwitchboardHub

/// A `ClusterLink` over PostgreSQL LISTEN/NOTIFY.
// Unchecked: the queue and flags are behind `condition`, the callbacks run
// under `delivery`; each connection belongs to its one thread.
public final class PostgresLink: ClusterLink, @unchecked Sendable {
    /// The channel every node LISTENs and NOTIFYs on.
    public static let channel = "switchboard_cluster"
    /// NOTIFYs one payload (`ClusterPayload`): $1 the channel, $2 the payload.
    public static let notifySQL = "SELECT pg_notify($1, $2)"
    /// Sends one message too big for a payload by reference: stores it in
    /// `cluster_payloads` and NOTIFYs `#<id>;` in the same transaction.
    /// $1 the channel, $2 the message.
    public static let notifyByReferenceSQL = """
        WITH stored AS (INSERT INTO cluster_payloads (body) VALUES ($2) RETURNING id) \
        SELECT pg_notify($1, '#' || id || ';') FROM stored
        """

    /// The statement that NOTIFYs `message` from inside a transaction of
    /// the caller's, e.g. the one committing what the message announces:
    /// every node receives it at that commit, in commit order, and only if
    /// it commits. Inline when it fits a payload, else by reference.
    /// `message`: UTF-8 without NUL, as for `send`.
    public static func notifyStatement(_ message: [UInt8]) -> (sql: String, values: [SQLValue]) {
        notifyStatement(message, channel: channel)
    }

    static func notifyStatement(_ message: [UInt8], channel: String) -> (sql: String, values: [SQLValue]) {
        if let payload = ClusterPayload.encode([message]) { return (notifySQL, [.text(channel), .text(payload)]) }
        return (notifyByReferenceSQL, [.text(channel), .text(String(decoding: message, as: UTF8.self))])
    }

    /// `postgres`.
    public let kind = "postgres"
    let conninfo: String
    let logger: Logger
    /// The channel this link uses (`PostgresLink.channel` but in tests).
    let channelName: String
    /// Most messages waiting to be sent.
    public let capacity: Int
    /// Most bytes of messages waiting to be sent.
    public let capacityBytes: Int
    /// Most messages in one payload: one message per NOTIFY (1) is only for
    /// the benchmark that measures what packing gains.
    let maxMessagesPerPayload: Int
    /// Most NOTIFYs in one transaction (`maxStatementsPerTransaction` but in
    /// the benchmark, which compares one commit per message).
    let maxNotifiesPerTransaction: Int
    /// How long a reconnect waits at most between attempts (seconds).
    static let maxBackoff = 1.0
    /// A listener that hears nothing pings; a ping unanswered this long (s)
    /// means the connection is gone (a partition sends no error).
    static let pingAfter = 1.0
    static let pingTimeout = 3.0

    let condition = NSCondition()
    var queue: [[UInt8]] = []
    var queuedBytes = 0
    var stopped = false
    var started = false
    var listenerUp = false
    var senderUp = false
    /// Set when the listener's connection failed: the sender's may have
    /// failed with it unnoticed (it learns only when it next uses it), so
    /// the link is up again only after the sender proved its connection.
    var senderMustCheck = false
    /// What `changed` was last told; `send` accepts only while true.
    var up = false
    /// Threads not yet ended.
    var running = 0
    /// The listener's backend process id (tests end it to cut the link).
    var listenerBackendPID: Int?

    /// Held while `receive` or `changed` runs: `stop` takes it after the
    /// threads ended, so that nothing is received after it returns.
    let delivery = NSLock()
    var receive: (@Sendable ([UInt8]) -> Void)?
    var changed: (@Sendable (Bool) -> Void)?

    /// A link on `conninfo` (a URL or key=value string); call `start`.
    /// `capacity` and `capacityBytes` bound the send queue.
    public convenience init(conninfo: String, logger: Logger, capacity: Int = 100_000, capacityBytes: Int = 64 << 20) {
        self.init(conninfo: conninfo, logger: logger, capacity: capacity, capacityBytes: capacityBytes, channel: Self.channel)
    }

    /// A link on its own channel (tests run several clusters in one
    /// database). `channel`: 1 to 63 characters of `a`–`z`, `0`–`9`, `_`.
    init(
        conninfo: String, logger: Logger, capacity: Int = 100_000, capacityBytes: Int = 64 << 20, channel: String,
        maxMessagesPerPayload: Int = .max, maxNotifiesPerTransaction: Int = PostgresLink.maxStatementsPerTransaction
    ) {
        // LISTEN takes no bound parameter: the name is spliced, so it is
        // checked to be a plain identifier here.
        precondition(
            (1...63).contains(channel.utf8.count)
                && channel.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 },
            "cluster channel must be a plain lower-case identifier")
        precondition(capacity > 0 && capacityBytes > 0 && maxMessagesPerPayload > 0 && maxNotifiesPerTransaction > 0)
        self.conninfo = conninfo
        self.logger = logger
        self.capacity = capacity
        self.capacityBytes = capacityBytes
        self.channelName = channel
        self.maxMessagesPerPayload = maxMessagesPerPayload
        self.maxNotifiesPerTransaction = min(maxNotifiesPerTransaction, Self.maxStatementsPerTransaction)
    }

    /// True while the link sends and listens.
    public var isHealthy: Bool {
        condition.lock(); defer { condition.unlock() }
        return up
    }

    /// Starts the listener and the sender (once).
    public func start(receive: @escaping @Sendable ([UInt8]) -> Void, changed: @escaping @Sendable (Bool) -> Void) {
        condition.lock()
        guard !started, !stopped else { condition.unlock(); return }
        started = true
        self.receive = receive
        self.changed = changed
        running = 2
        condition.unlock()
        let listener = Thread { [self] in
            runListener(); ended()
        }
        listener.name = "switchboard-cluster-listen"
        listener.start()
        let sender = Thread { [self] in
            runSender(); ended()
        }
        sender.name = "switchboard-cluster-send"
        sender.start()
    }

    /// Queues `message` for every node. False, at once, when the link is
    /// down, the queue is full, or the message is refused (over
    /// `ClusterLinkLimits.maxMessageBytes`, not UTF-8, or holding a NUL).
    @discardableResult
    public func send(_ message: [UInt8]) -> Bool {
        // Checked here, so that the caller learns of it: the server would
        // reject the whole batch such a message is part of.
        guard message.count <= ClusterLinkLimits.maxMessageBytes, Self.isText(message) else { return false }
        condition.lock(); defer { condition.unlock() }
        guard up, !stopped, queue.count < capacity, message.count <= capacityBytes - queuedBytes else { return false }
        queue.append(message)
        queuedBytes += message.count
        condition.signal()
        return true
    }

    /// UTF-8 without NUL (memchr, then the standard library's validation:
    /// this runs on the loop, for messages up to a megabyte).
    static func isText(_ message: [UInt8]) -> Bool {
        let hasNUL = message.withUnsafeBytes { bytes in bytes.baseAddress.map { memchr($0, 0, bytes.count) != nil } ?? false }
        return !hasNUL && String(validating: message, as: UTF8.self) != nil
    }

    /// Stops both threads (each notices within ~0.1 s, or when a statement
    /// under way ends; waits at most 2 s). Nothing is received after it.
    public func stop() {
        condition.lock()
        stopped = true
        queue.removeAll()
        queuedBytes = 0
        condition.broadcast()
        let deadline = Date().addingTimeInterval(2)
        while running > 0 && Date() < deadline { _ = condition.wait(until: deadline) }
        condition.unlock()
        // A `receive` under way has returned; later ones see `stopped`.
        delivery.lock()
        delivery.unlock()
    }

    /// Threads still running (tests: zero once `stop` returned).
    var runningThreads: Int {
        condition.lock(); defer { condition.unlock() }
        return running
    }

    var isStopped: Bool {
        condition.lock(); defer { condition.unlock() }
        return stopped
    }

    private func ended() {
        condition.lock()
        running -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Waits `seconds` unless stopped first; false when stopped.
    func pause(_ seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock(); defer { condition.unlock() }
        while !stopped && Date() < deadline { _ = condition.wait(until: deadline) }
        return !stopped
    }

    /// Records a thread's connection state and tells `changed` when the
    /// link as a whole went up or down (each change once, in order). Going
    /// down empties the queue: its messages would arrive after a gap the
    /// hub repairs anyway.
    func setUp(listener: Bool? = nil, sender: Bool? = nil) {
        delivery.lock(); defer { delivery.unlock() }
        condition.lock()
        if let listener {
            listenerUp = listener
            if !listener && senderUp {
                senderUp = false
                senderMustCheck = true
                condition.broadcast()
            }
        }
        if let sender { senderUp = sender }
        let now = listenerUp && senderUp && !stopped
        let tell = now != up && !stopped
        up = now
        if !now {
            queue.removeAll()
            queuedBytes = 0
        }
        let changed = self.changed
        condition.unlock()
        if tell {
            if now { logger.info("cluster link up", metadata: ["broker": "postgres"]) }
            if !now { logger.warning("cluster link down; reconnecting", metadata: ["broker": "postgres"]) }
            changed?(now)
        }
    }

    /// Hands one message to `receive` unless stopped.
    func deliver(_ message: [UInt8]) {
        delivery.lock(); defer { delivery.unlock() }
        condition.lock()
        let receive = stopped ? nil : self.receive
        condition.unlock()
        receive?(message)
    }
}
