// The link's sender thread: takes everything queued and sends it as NOTIFYs,
// as many messages per payload as fit, all in one transaction (one commit,
// one round trip: pipelined). A node's messages keep their order: one
// thread sends them, and PostgreSQL delivers a transaction's notifications
// in the order sent and transactions in commit order.
import Foundation
import Logging

extension PostgresLink {
    /// Statements in one transaction at most: the pipeline's answers must
    /// fit the socket buffers while the rest is still being sent, and 500
    /// full payloads are ~4 MB.
    static let maxStatementsPerTransaction = 500
    /// How often the sender deletes stored payloads, and how old they must be.
    static let payloadCleanupEvery = 60.0
    static let payloadCleanupSQL = "DELETE FROM cluster_payloads WHERE created_at < now() - interval '10 minutes'"

    func runSender() {
        var backoff = 0.05
        while !isStopped {
            do throws(PostgresError) {
                let conn = try PGConnection(conninfo)
                // A transaction that NOTIFYs holds PostgreSQL's one notify
                // lock through its commit's WAL flush, so every notifying
                // commit (the chat writers' announcements too) waits for the
                // one before. These commits store nothing (a payload row by
                // reference is read only after the notification that names
                // it): they need not wait for the flush.
                try conn.query("SET synchronous_commit = off")
                backoff = 0.05
                condition.lock()
                senderMustCheck = false
                condition.unlock()
                setUp(sender: true)
                try sendLoop(on: conn)
            } catch {
                if !isStopped { logger.warning("cluster sender connection failed", metadata: ["error": "\(error)"]) }
            }
            setUp(sender: false)
            guard pause(backoff) else { return }
            backoff = min(backoff * 2, Self.maxBackoff)
        }
    }

    /// Sends until stopped (returns) or the connection fails (throws).
    private func sendLoop(on conn: PGConnection) throws(PostgresError) {
        var lastCleanup = GroupCommitWriter.monotonicSeconds() - Self.payloadCleanupEvery
        while true {
            condition.lock()
            if queue.isEmpty && !stopped { _ = condition.wait(until: Date().addingTimeInterval(Self.pingAfter)) }
            if stopped { condition.unlock(); return }
            if senderMustCheck {
                senderMustCheck = false
                condition.unlock()
                try conn.query("SELECT 1")
                setUp(sender: true)
                continue
            }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            queuedBytes = 0
            condition.unlock()
            if batch.isEmpty {
                // Idle: a round trip keeps `isHealthy` honest.
                try conn.query("SELECT 1")
            } else {
                for statements in transactions(for: batch) { try commit(statements, on: conn) }
            }
            let now = GroupCommitWriter.monotonicSeconds()
            if now - lastCleanup >= Self.payloadCleanupEvery {
                lastCleanup = now
                try cleanUpPayloads(on: conn)
            }
        }
    }

    /// Deletes old stored payloads. Housekeeping: a refusal (a role that
    /// may not delete) is logged, and only a lost connection is an error.
    private func cleanUpPayloads(on conn: PGConnection) throws(PostgresError) {
        do throws(PostgresError) {
            try conn.query(Self.payloadCleanupSQL)
        } catch {
            if error.kind == .connection { throw error }
            logger.warning("cluster payload cleanup failed", metadata: ["error": "\(error)"])
        }
    }

    private func commit(_ statements: [Statement], on conn: PGConnection) throws(PostgresError) {
        let (committed, results) = try conn.pipelineTransaction(statements)
        guard !committed else { return }
        // E.g. 54000: the server's notification queue is full (a listener
        // stopped reading). The batch is lost: the link goes down and up
        // again (a new connection, after a backoff), so that the hub repairs.
        var failure = PostgresError(kind: .statement, sqlState: nil)
        for case .failure(let error) in results { failure = error; break }
        logger.error(
            "cluster NOTIFY rolled back; messages lost",
            metadata: ["sqlstate": "\(failure.sqlState ?? "?")", "statements": "\(statements.count)"])
        throw failure
    }

    /// The statements that send `batch` in order, grouped in transactions:
    /// one unless it is very large, or a payload repeats (PostgreSQL
    /// delivers identical notifications of one transaction once).
    func transactions(for batch: [[UInt8]]) -> [[Statement]] {
        var transactions: [[Statement]] = [[]]
        var sent = Set<String>()
        var payload: [UInt8] = []
        payload.reserveCapacity(ClusterPayload.maxPayloadBytes)
        var framed = 0
        func add(_ statement: Statement, payload text: String?) {
            let repeated = text.map { sent.contains($0) } ?? false
            if repeated || transactions[transactions.count - 1].count >= maxNotifiesPerTransaction {
                transactions.append([])
                sent.removeAll()
            }
            if let text { sent.insert(text) }
            transactions[transactions.count - 1].append(statement)
        }
        func flush() {
            guard framed > 0 else { return }
            let text = String(decoding: payload, as: UTF8.self)
            add((Self.notifySQL, [.text(channelName), .text(text)]), payload: text)
            payload.removeAll(keepingCapacity: true)
            framed = 0
        }
        for message in batch {
            let size = ClusterPayload.frameSize(message)
            if size > ClusterPayload.maxPayloadBytes {
                flush()
                add(Self.notifyStatement(message, channel: channelName), payload: nil)
                continue
            }
            if payload.count + size > ClusterPayload.maxPayloadBytes || framed >= maxMessagesPerPayload { flush() }
            ClusterPayload.appendFrame(message, to: &payload)
            framed += 1
        }
        flush()
        return transactions.filter { !$0.isEmpty }
    }
}
