// The seam between a replay and the live stream. A connection that resumes
// an ordered stream (a conversation after a seq, its notifications after an
// id) waits while the store reads what it missed; live publications of that
// stream committed meanwhile are buffered here, then sent after the replay
// — in order, once, with no gap.
import SwitchboardWire

/// Waiting connections per stream, with the live frames buffered for them.
public struct StreamSeams: Sendable {
    /// One waiting connection.
    public struct Entry: Sendable {
        /// The request id of the frame that asked to resume.
        public var requestID: RequestID?
        /// The position the client asked to resume after.
        public var since: Int64?
        /// Live frames published while waiting, with their positions.
        public var buffered: [(seq: Int64, frame: OutboundFrame)] = []
    }

    private var byConnection: [ConnectionID: [String: Entry]] = [:]
    private var byStream: [String: Set<ConnectionID>] = [:]

    /// None waiting.
    public init() {}

    /// Starts waiting (replaces an earlier wait on the same stream).
    public mutating func begin(_ connection: ConnectionID, stream: String, requestID: RequestID?, since: Int64?) {
        byConnection[connection, default: [:]][stream] = Entry(requestID: requestID, since: since)
        byStream[stream, default: []].insert(connection)
    }

    /// Buffers a live frame for every connection waiting on `stream`.
    public mutating func buffer(stream: String, seq: Int64, frame: OutboundFrame) {
        guard let waiting = byStream[stream] else { return }
        for connection in waiting { byConnection[connection]?[stream]?.buffered.append((seq, frame)) }
    }

    /// Ends a wait and returns what was buffered (nil if it was cancelled).
    @discardableResult
    public mutating func end(_ connection: ConnectionID, stream: String) -> Entry? {
        guard let entry = byConnection[connection]?.removeValue(forKey: stream) else { return nil }
        if byConnection[connection]?.isEmpty == true { byConnection[connection] = nil }
        byStream[stream]?.remove(connection)
        if byStream[stream]?.isEmpty == true { byStream[stream] = nil }
        return entry
    }

    /// Cancels every wait of a connection.
    public mutating func removeAll(for connection: ConnectionID) {
        for stream in byConnection[connection]?.keys.map({ $0 }) ?? [] { end(connection, stream: stream) }
    }

    /// Whether the connection waits on the stream.
    public func isWaiting(_ connection: ConnectionID, stream: String) -> Bool {
        byConnection[connection]?[stream] != nil
    }

    /// How many streams a connection is still opening.
    public func waitingCount(of connection: ConnectionID) -> Int { byConnection[connection]?.count ?? 0 }

    /// Whether anyone waits on the stream.
    public func hasWaiters(_ stream: String) -> Bool { byStream[stream] != nil }
}
