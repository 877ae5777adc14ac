import Foundation
internal import CLibPQ

// LISTEN/NOTIFY for the cluster link's listener (Cluster/PostgresLink+Listener.swift):
// it waits on the socket itself, so that it can stop and ping between reads.
extension PGConnection {
    /// A notification read on a LISTEN channel.
    struct Notification {
        /// The channel it was sent on.
        let channel: String
        /// Its payload's bytes.
        let payload: [UInt8]
    }

    /// The connection's socket, for poll(); -1 when there is none.
    var socket: Int32 { PQsocket(conn) }

    /// Reads what the server has sent, without blocking; false when the
    /// connection failed.
    func consumeInput() -> Bool { PQconsumeInput(conn) == 1 && isHealthy }

    /// The next notification read so far, if any.
    func nextNotification() -> Notification? {
        guard let notify = PQnotifies(conn) else { return nil }
        defer { PQfreemem(notify) }
        let channel = String(cString: notify.pointee.relname)
        guard let extra = notify.pointee.extra else { return Notification(channel: channel, payload: []) }
        let payload = [UInt8](UnsafeRawBufferPointer(start: extra, count: strlen(extra)))
        return Notification(channel: channel, payload: payload)
    }

    /// Sends a statement without parameters and does not wait for its
    /// answer (`answerIfReady`); false when it could not be sent.
    func sendWithoutWaiting(_ sql: String) -> Bool { PQsendQuery(conn, sql) == 1 }

    /// The outcome of what `sendWithoutWaiting` sent, once all of its answer
    /// has been read (`consumeInput`): nil while it has not; true when there
    /// is nothing outstanding.
    func answerIfReady() -> Bool? {
        var ok = true
        while PQisBusy(conn) == 0 {
            guard let result = PQgetResult(conn) else { return ok }
            let status = PQresultStatus(result)
            if status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK { ok = false }
            PQclear(result)
        }
        return nil
    }
}
