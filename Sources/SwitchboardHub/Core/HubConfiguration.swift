// Limits and policies of the hub, set from the command line.
import SwitchboardAuth

/// What the hub enforces.
public struct HubConfiguration: Sendable {
    /// Token verification keys and policy.
    public var jwt: JWTConfiguration
    /// Backend API keys.
    public var apiKeys: APIKeyRing
    /// Time a connection has to authenticate, in ms.
    public var authTimeoutMillis: Int64 = 5_000
    /// Frames a connection may send per second (sustained).
    public var framesPerSecond: Double = 100
    /// Frames a connection may send in a burst.
    public var frameBurst: Double = 200
    /// Frames dropped for rate limiting before the connection is closed.
    public var rateLimitGrace: Int = 100
    /// Malformed frames tolerated before the connection is closed.
    public var badFrameLimit: Int = 50
    /// Largest publication frame, in bytes: the per-connection outbound queue
    /// bound. A larger one could only be turned into slow-consumer closes of
    /// every subscriber, so the server API refuses it (413).
    public var maxPublicationBytes: Int = 1 << 20
    /// Most channels one connection may be subscribed to (its user channel
    /// included); each costs memory for as long as the connection lives.
    public var maxSubscriptionsPerConnection: Int = 1_000
    /// Most WebSocket connections one user may hold on this node (0: no cap).
    public var maxConnectionsPerUser: Int = 100
    /// A configuration with default limits.
    public init(jwt: JWTConfiguration, apiKeys: APIKeyRing) {
        self.jwt = jwt
        self.apiKeys = apiKeys
    }
}
