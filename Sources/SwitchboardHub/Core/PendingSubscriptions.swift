// Conversation subscriptions between the subscribe frame and the store's
// answer. Live messages committed meanwhile are buffered here, so that the
// replay and the live stream meet with no gap and no duplicate.
import SwitchboardWire

/// Buffers of live frames per (connection, conversation channel).
public struct PendingSubscriptions: Sendable {
    /// One waiting subscription.
    public struct Entry: Sendable {
        /// The subscribe frame's id.
        public var requestID: String?
        /// The seq the client asked to resume after.
        public var since: Int64?
        /// Live frames committed while waiting, with their seq.
        public var buffered: [(seq: Int64, frame: OutboundFrame)] = []
    }

    private var byConnection: [ConnectionID: [String: Entry]] = [:]
    private var byChannel: [String: Set<ConnectionID>] = [:]

    /// None pending.
    public init() {}

    /// Starts waiting (replaces an earlier wait for the same channel).
    public mutating func begin(_ connection: ConnectionID, channel: String, requestID: String?, since: Int64?) {
        byConnection[connection, default: [:]][channel] = Entry(requestID: requestID, since: since)
        byChannel[channel, default: []].insert(connection)
    }

    /// Buffers a live frame for every connection waiting on `channel`.
    public mutating func buffer(channel: String, seq: Int64, frame: OutboundFrame) {
        guard let waiting = byChannel[channel] else { return }
        for connection in waiting { byConnection[connection]?[channel]?.buffered.append((seq, frame)) }
    }

    /// Ends the wait and returns what was buffered (nil if it was cancelled).
    public mutating func finish(_ connection: ConnectionID, channel: String) -> Entry? {
        remove(connection, channel: channel)
    }

    /// Cancels one wait.
    @discardableResult
    public mutating func remove(_ connection: ConnectionID, channel: String) -> Entry? {
        guard let entry = byConnection[connection]?.removeValue(forKey: channel) else { return nil }
        if byConnection[connection]?.isEmpty == true { byConnection[connection] = nil }
        byChannel[channel]?.remove(connection)
        if byChannel[channel]?.isEmpty == true { byChannel[channel] = nil }
        return entry
    }

    /// Cancels every wait of a connection.
    public mutating func removeAll(for connection: ConnectionID) {
        for channel in byConnection[connection]?.keys.map({ $0 }) ?? [] { remove(connection, channel: channel) }
    }

    /// Whether the connection waits on the channel.
    public func isWaiting(_ connection: ConnectionID, channel: String) -> Bool {
        byConnection[connection]?[channel] != nil
    }

    /// Connections waiting on a channel.
    public func waiting(on channel: String) -> Set<ConnectionID> { byChannel[channel] ?? [] }
}
