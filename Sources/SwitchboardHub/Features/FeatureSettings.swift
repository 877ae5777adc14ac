// The features' own settings, set from the command line beside the core's
// limits (HubConfiguration).

/// What the features are configured with.
public struct FeatureSettings: Sendable {
    /// How long a user without connections still counts as online.
    public var presenceGraceMillis: Int64 = 5_000
    /// How long another node may stay silent before its users count as
    /// offline (cluster presence).
    public var nodeTimeoutMillis: Int64 = 15_000
    /// Least time between two `counter` frames on one channel, in ms.
    public var counterIntervalMillis: Int64 = 100
    /// Fault injection for tests (never set in production).
    public var failpoints: Set<Failpoint> = []

    /// The defaults.
    public init() {}
}

/// Places where a test may make the hub fail on purpose
/// (`SWITCHBOARD_FAILPOINTS`, comma-separated; for tests only).
public enum Failpoint: String, Sendable, CaseIterable {
    /// abort() after notifications are committed, before they are pushed.
    case crashAfterNotifyCommit = "crash-after-notify-commit"
    /// abort() after a chat send is committed, before it is acked or published.
    case crashAfterSendCommit = "crash-after-send-commit"
}
