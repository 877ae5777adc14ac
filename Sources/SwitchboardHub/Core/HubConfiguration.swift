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
    /// How long a user without connections still counts as online.
    public var presenceGraceMillis: Int64 = 5_000
    /// Largest publication frame, in bytes: the per-connection outbound queue
    /// bound. A larger one could only be turned into slow-consumer closes of
    /// every subscriber, so the server API refuses it (413).
    public var maxPublicationBytes: Int = 1 << 20
    /// Most channels one connection may be subscribed to (its user channel
    /// included); each costs memory for as long as the connection lives.
    public var maxSubscriptionsPerConnection: Int = 1_000
    /// Most WebSocket connections one user may hold on this node (0: no cap).
    public var maxConnectionsPerUser: Int = 100
    /// Least time between two `counter` frames on one channel, in ms.
    public var counterIntervalMillis: Int64 = 100

    /// Fault injection for tests (never set in production).
    public var failpoints: Set<Failpoint> = []

    /// A configuration with default limits.
    public init(jwt: JWTConfiguration, apiKeys: APIKeyRing) {
        self.jwt = jwt
        self.apiKeys = apiKeys
    }
}

/// Places where a test may make the hub fail on purpose
/// (`SWITCHBOARD_FAILPOINTS`, comma-separated; for tests only).
public enum Failpoint: String, Sendable, CaseIterable {
    /// abort() after notifications are committed, before they are pushed.
    case crashAfterNotifyCommit = "crash-after-notify-commit"
}
