// What the hub offers its features: answering, subscribing and asking
// about connections and channels. Called on the loop thread.
import Logging
import SwitchboardAuth
import SwitchboardWire

extension Hub {
    /// Queues a frame for one connection (false when it is gone or over its bound).
    @discardableResult
    public func send(_ frame: OutboundFrame, to connection: ConnectionID) -> Bool {
        transport?.send(frame, to: connection) ?? false
    }

    /// Answers a frame with an error.
    public func refuse(_ error: HubError, requestID: RequestID?, on connection: ConnectionID) {
        send(ServerFrame.error(id: requestID, error), to: connection)
    }

    /// Answers a subscribe with an error that names its channel.
    public func refuse(_ error: HubError, _ request: SubscribeRequest) {
        send(ServerFrame.error(id: request.requestID, error, channel: request.channel), to: request.connection)
    }

    /// Answers an HTTP request that was answered later (nil from its handler).
    public func respond(_ request: HTTPRequestID, _ response: HTTPResponse) {
        transport?.respond(request, response)
    }

    /// Subscribes and confirms with `subscribed`.
    public func confirm(_ request: SubscribeRequest) {
        registry.subscribe(request.connection, to: request.channel)
        send(ServerFrame.subscribed(id: request.requestID, channel: request.channel), to: request.connection)
    }

    /// Adds a subscription without answering (the kind answers its own way).
    public func subscribe(_ connection: ConnectionID, to channel: String) {
        registry.subscribe(connection, to: channel)
    }

    /// Removes a subscription without answering.
    public func unsubscribe(_ connection: ConnectionID, from channel: String) {
        registry.unsubscribe(connection, from: channel)
    }

    /// Whether the connection is still open.
    public func isOpen(_ connection: ConnectionID) -> Bool { connections[connection] != nil }

    /// Whether the hub's own store (users) answers; features with their own
    /// stores share its database.
    public var isStoreAvailable: Bool { store.isAvailable }

    /// Whether a channel has subscribers on this node.
    public func hasSubscribers(_ channel: String) -> Bool { !registry.subscribers(of: channel).isEmpty }

    /// Whether a connection is subscribed to a channel.
    public func isSubscribed(_ connection: ConnectionID, to channel: String) -> Bool {
        registry.subscribers(of: channel).contains(connection)
    }
}
