// The link's listener thread: LISTENs on its own connection, waits on the
// socket with poll() (a short timeout, so that `stop` is noticed), reads the
// notifications and hands their messages to `receive` in order. A message
// sent by reference is read from `cluster_payloads` on the same connection.
// While it hears nothing it pings: a cut network sends no error, and only a
// ping that goes unanswered tells.
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

extension PostgresLink {
    /// How long one poll() waits (milliseconds): `stop`'s reaction time.
    static let pollMilliseconds: Int32 = 100
    static let fetchReferenceSQL = "SELECT body FROM cluster_payloads WHERE id = $1"

    func runListener() {
        var backoff = 0.05
        while !isStopped {
            do throws(PostgresError) {
                let conn = try PGConnection(conninfo, purpose: "cluster-listener")
                // The channel name was checked to be a plain identifier (init).
                try conn.query("LISTEN \"\(channelName)\"")
                let pid = try conn.query("SELECT pg_backend_pid() AS pid").first?.int("pid")
                condition.lock()
                listenerBackendPID = pid
                condition.unlock()
                backoff = 0.05
                setUp(listener: true)
                try listen(on: conn)
            } catch {
                if !isStopped { logger.warning("cluster listener connection failed", metadata: ["error": "\(error)"]) }
            }
            setUp(listener: false)
            guard pause(backoff) else { return }
            backoff = min(backoff * 2, Self.maxBackoff)
        }
    }

    /// Reads notifications until stopped (returns) or the connection fails (throws).
    private func listen(on conn: PGConnection) throws(PostgresError) {
        var pingSentAt: Double?
        var lastHeard = GroupCommitWriter.monotonicSeconds()
        while !isStopped {
            try wait(for: conn)
            var heard = false
            while let notification = conn.nextNotification() {
                heard = true
                guard notification.channel == channelName else { continue }
                try handle(notification.payload, on: conn, pingSentAt: &pingSentAt)
            }
            let now = GroupCommitWriter.monotonicSeconds()
            if heard { lastHeard = now }
            if let sent = pingSentAt {
                if let ok = conn.answerIfReady() {
                    guard ok else { throw PostgresError(kind: .connection, sqlState: nil) }
                    pingSentAt = nil
                    lastHeard = now
                } else if now - sent > Self.pingTimeout {
                    throw PostgresError(kind: .connection, sqlState: nil)
                }
            } else if now - lastHeard > Self.pingAfter {
                guard conn.sendWithoutWaiting("SELECT 1") else { throw PostgresError(kind: .connection, sqlState: nil) }
                pingSentAt = now
            }
        }
    }

    /// Waits (one poll timeout at most) for the socket, then reads what came.
    private func wait(for conn: PGConnection) throws(PostgresError) {
        var descriptor = pollfd(fd: conn.socket, events: Int16(POLLIN), revents: 0)
        guard descriptor.fd >= 0 else { throw PostgresError(kind: .connection, sqlState: nil) }
        let ready = poll(&descriptor, 1, Self.pollMilliseconds)
        if ready < 0 && errno != EINTR { throw PostgresError(kind: .connection, sqlState: nil) }
        guard conn.consumeInput() else { throw PostgresError(kind: .connection, sqlState: nil) }
    }

    private func handle(_ payload: [UInt8], on conn: PGConnection, pingSentAt: inout Double?) throws(PostgresError) {
        let (frames, malformed) = ClusterPayload.decode(payload)
        for frame in frames {
            switch frame {
            case .message(let message):
                deliver(message)
            case .reference(let id):
                if pingSentAt != nil {
                    try finishPing(on: conn)
                    pingSentAt = nil
                }
                if let body = try fetch(id, on: conn) { deliver(body) }
            }
        }
        if malformed {
            logger.warning("cluster notification malformed; its rest dropped", metadata: ["bytes": "\(payload.count)"])
        }
    }

    /// The message stored under `id`; nil (logged) when it is gone.
    private func fetch(_ id: Int64, on conn: PGConnection) throws(PostgresError) -> [UInt8]? {
        do throws(PostgresError) {
            if let row = try conn.query(Self.fetchReferenceSQL, [.int64(id)]).first { return try row.bytes("body") }
            logger.warning("cluster message by reference not found", metadata: ["id": "\(id)"])
        } catch {
            if error.kind == .connection { throw error }
            logger.error("cluster message by reference unreadable", metadata: ["id": "\(id)", "error": "\(error)"])
        }
        return nil
    }

    /// Reads the answer of the ping under way: a statement cannot be sent before.
    private func finishPing(on conn: PGConnection) throws(PostgresError) {
        let deadline = GroupCommitWriter.monotonicSeconds() + Self.pingTimeout
        while GroupCommitWriter.monotonicSeconds() < deadline && !isStopped {
            if let ok = conn.answerIfReady() {
                guard ok else { throw PostgresError(kind: .connection, sqlState: nil) }
                return
            }
            try wait(for: conn)
        }
        throw PostgresError(kind: .connection, sqlState: nil)
    }
}
