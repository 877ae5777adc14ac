// Who is subscribed to what, in both directions, owned by the loop thread.

/// Subscriptions: channel → connections and connection → channels.
public struct ChannelRegistry: Sendable {
    private var subscribers: [String: Set<ConnectionID>] = [:]
    private var channelsOf: [ConnectionID: Set<String>] = [:]

    /// An empty registry.
    public init() {}

    /// Subscribes; false if it already was.
    @discardableResult
    public mutating func subscribe(_ connection: ConnectionID, to channel: String) -> Bool {
        guard subscribers[channel, default: []].insert(connection).inserted else { return false }
        channelsOf[connection, default: []].insert(channel)
        return true
    }

    /// Unsubscribes; false if it was not subscribed.
    @discardableResult
    public mutating func unsubscribe(_ connection: ConnectionID, from channel: String) -> Bool {
        guard subscribers[channel]?.remove(connection) != nil else { return false }
        if subscribers[channel]?.isEmpty == true { subscribers[channel] = nil }
        channelsOf[connection]?.remove(channel)
        return true
    }

    /// Removes every subscription of a connection.
    public mutating func removeAll(for connection: ConnectionID) {
        guard let channels = channelsOf.removeValue(forKey: connection) else { return }
        for channel in channels {
            subscribers[channel]?.remove(connection)
            if subscribers[channel]?.isEmpty == true { subscribers[channel] = nil }
        }
    }

    /// The subscribers of a channel.
    public func subscribers(of channel: String) -> Set<ConnectionID> {
        subscribers[channel] ?? []
    }

    /// Number of channels with at least one subscriber.
    public var channelCount: Int { subscribers.count }

    /// How many channels `connection` is subscribed to.
    public func subscriptionCount(of connection: ConnectionID) -> Int { channelsOf[connection]?.count ?? 0 }
}
