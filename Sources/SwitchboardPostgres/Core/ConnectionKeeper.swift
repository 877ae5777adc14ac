// Keeps one libpq connection for a store thread: connects on demand,
// reconnects with exponential backoff, and reports health.
import Foundation
import Logging
import Synchronization

/// A store thread's connection with reconnect-and-backoff.
// Unchecked: the connection and backoff belong to its one store thread; what other threads read (health, next attempt) is behind a Mutex.
final class ConnectionKeeper: @unchecked Sendable {
    private let conninfo: String
    private let logger: Logger
    private var connection: PGConnection?
    private var backoff: TimeInterval = 0.1
    private let nextAttempt = Mutex(Date.distantPast)
    private let healthy = Mutex(false)

    init(conninfo: String, logger: Logger) {
        self.conninfo = conninfo
        self.logger = logger
    }

    /// True while the last use of the connection worked (any thread).
    var isHealthy: Bool { healthy.withLock { $0 } }

    /// The connection, connecting if the backoff allows; nil while down.
    func current() -> PGConnection? {
        if let connection, connection.isHealthy { return connection }
        if connection != nil { markBroken() }
        guard Date() >= nextAttempt.withLock({ $0 }) else { return nil }
        do {
            let fresh = try PGConnection(conninfo)
            connection = fresh
            backoff = 0.1
            if !isHealthy { logger.info("database connection up") }
            healthy.withLock { $0 = true }
            return fresh
        } catch {
            let retryAt = Date().addingTimeInterval(backoff)
            nextAttempt.withLock { $0 = retryAt }
            backoff = min(backoff * 2, 5)
            healthy.withLock { $0 = false }
            return nil
        }
    }

    /// Called by an idle store thread about once a second: a cheap round
    /// trip keeps the health flag (and so /readyz) honest during outages.
    func checkWhileIdle() {
        if let conn = current(), (try? conn.query("SELECT 1")) == nil { markBroken() }
    }

    /// Seconds until the next connect attempt (0 when connected).
    var secondsUntilRetry: TimeInterval { max(0, nextAttempt.withLock { $0 }.timeIntervalSinceNow) }

    /// The connection failed in use: drop it and back off.
    func markBroken() {
        if isHealthy { logger.warning("database connection lost; reconnecting with backoff") }
        healthy.withLock { $0 = false }
        connection = nil
        let retryAt = Date().addingTimeInterval(backoff)
        nextAttempt.withLock { $0 = retryAt }
        backoff = min(backoff * 2, 5)
    }
}
