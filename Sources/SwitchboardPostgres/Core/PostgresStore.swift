// The hub's store over PostgreSQL: writes through the group-commit writer,
// reads through the reader; replies hop back to the loop via `deliver`.
import Foundation
import Logging
import SwitchboardHub

/// `HubStore` over PostgreSQL.
// Unchecked: it holds only the writers and the reader (each safe to call from any thread) and immutable settings.
public final class PostgresStore: HubStore, @unchecked Sendable {
    /// The group-commit writers; a job's lane picks one (`WriterPool`).
    public let writers: WriterPool
    /// The reader.
    public let reader: StoreReader
    let deliver: @Sendable (@escaping @Sendable () -> Void) -> Void
    /// Conversations' members, remembered from sends (Chat/MemberCache.swift).
    let memberCache = MemberCache()
    /// With the postgres broker, this node's name: the commits that other
    /// nodes must hear of even if this node dies right after (chat sends)
    /// NOTIFY them inside the committing transaction.
    let announcingAs: String?

    /// A store with `writers` group-commit writers; `deliver` runs a closure
    /// on the loop thread (the mailbox) and must not drop it; while
    /// `congested` is true, new requests are refused with `overloaded`
    /// instead of queued, and so are writes whose predicted queueing delay
    /// passes `maxWriteDelay` seconds (nil: no bound). `answering` runs the
    /// hand-over of each committed batch's answers (the mailbox's
    /// `holdingWakes`: one wake of the loop per batch). `announcingAs`: this
    /// node's name when the other nodes listen on this database (the
    /// postgres broker).
    public init(
        conninfo: String, logger: Logger, metrics: HubMetrics, writers: Int = 1, maxWriteDelay: Double? = nil,
        deliver: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void,
        congested: (@Sendable () -> Bool)? = nil, answering: (@Sendable (() -> Void) -> Void)? = nil,
        announcingAs node: String? = nil
    ) {
        announcingAs = node
        self.writers = WriterPool(count: writers) { _ in
            let writer = GroupCommitWriter(conninfo: conninfo, logger: logger, maxDelay: maxWriteDelay)
            writer.isCongested = congested
            writer.answering = answering
            return writer
        }
        reader = StoreReader(conninfo: conninfo, logger: logger)
        self.deliver = deliver
        reader.isCongested = congested
        self.writers.observe(
            batch: { metrics.groupCommitBatch.record($0) }, depth: { metrics.storeQueueDepth.record($0) },
            delay: { metrics.storeQueueDelay.record($0) }, refused: { metrics.storeAdmissionRefused.increment() },
            salvaged: { metrics.storeSalvagedBatches.increment() })
    }

    /// Starts the store threads.
    public func start() {
        writers.start()
        reader.start()
    }

    /// Commits what is queued (at most `timeout` seconds in all), then
    /// stops the threads: the reader first, since a lane lookup it still
    /// runs queues a write.
    @discardableResult
    public func stop(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        let readsRan = reader.drainAndStop(timeout: timeout / 2)
        return writers.drainAndStop(timeout: max(0, deadline.timeIntervalSinceNow)) && readsRan
    }

    public var isAvailable: Bool { writers.isHealthy && reader.isHealthy }

    public func recordConnect(user: String, role: String, atMillis: Int64) {
        writers.submit(
            WriteJob(
                """
                INSERT INTO users (id, role, last_connected_at) VALUES ($1, $2, to_timestamp($3::bigint / 1000.0))
                ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role,
                    last_connected_at = GREATEST(users.last_connected_at, EXCLUDED.last_connected_at)
                """, [.text(user), .text(role), .int64(atMillis)], survivesOutage: true))
    }

    public func recordDisconnect(user: String, atMillis: Int64) {
        writers.submit(
            WriteJob(
                """
                INSERT INTO users (id, last_seen_at) VALUES ($1, to_timestamp($2::bigint / 1000.0))
                ON CONFLICT (id) DO UPDATE SET
                    last_seen_at = GREATEST(users.last_seen_at, EXCLUDED.last_seen_at)
                """, [.text(user), .int64(atMillis)], survivesOutage: true))
    }

    public func fetchUser(id: String, reply: Reply<UserRecord?>) {
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> UserRecord? in
                let rows = try conn.query(
                    """
                    SELECT id, role, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,
                           (extract(epoch FROM last_seen_at) * 1000)::bigint AS last_seen_ms
                    FROM users WHERE id = $1
                    """, [.text(id)])
                guard let row = rows.first else { return nil }
                return UserRecord(
                    id: try row.text("id"), role: try row.text("role"), createdAtMillis: try row.int64("created_ms"),
                    lastSeenAtMillis: try row.optionalInt64("last_seen_ms"))
            }, reply: reply)
    }
}
