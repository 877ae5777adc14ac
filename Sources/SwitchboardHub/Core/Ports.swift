// The hub's ports: the small protocols through which it reaches the outside
// (transport, store, clock). Everything behind them is replaceable by fakes.
import SwitchboardWire
#if canImport(Glibc)
import Glibc
#endif

/// Identifies one WebSocket connection for its whole life.
public typealias ConnectionID = UInt64

/// Identifies one pending HTTP request.
public typealias HTTPRequestID = UInt64

/// What the hub asks of the network layer. Called on the loop thread only.
public protocol Transport: AnyObject {
    /// Queues a frame for a connection. Returns false when the connection is
    /// gone or its outbound queue is over its bound (the transport then
    /// closes it as a slow consumer).
    @discardableResult
    func send(_ frame: OutboundFrame, to connection: ConnectionID) -> Bool
    /// Closes a connection after the frames already queued.
    func close(_ connection: ConnectionID, code: CloseCode)
    /// Answers an HTTP request (now or later).
    func respond(_ request: HTTPRequestID, _ response: HTTPResponse)
}

/// Wall-clock time in milliseconds since the epoch; injected so that tests
/// control expiry and timeouts.
public protocol HubClock: Sendable {
    /// Now.
    func nowMillis() -> Int64
    /// Now with microsecond precision (publication timestamps).
    func nowMicros() -> Int64
}

extension HubClock {
    /// Millisecond precision unless the clock does better.
    public func nowMicros() -> Int64 { nowMillis() * 1000 }
}

/// The system clock.
public struct SystemClock: HubClock {
    /// A system clock.
    public init() {}
    /// Now, from the real-time clock.
    public func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
    /// Now in microseconds.
    public func nowMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }
}

/// A user row as the store returns it.
public struct UserRecord: Equatable, Sendable {
    /// The user id (`sub`).
    public var id: String
    /// The role last seen in a token.
    public var role: String
    /// First connection, ms since the epoch.
    public var createdAtMillis: Int64
    /// Last disconnect, ms since the epoch, if any.
    public var lastSeenAtMillis: Int64?
    /// A record.
    public init(id: String, role: String, createdAtMillis: Int64, lastSeenAtMillis: Int64?) {
        self.id = id
        self.role = role
        self.createdAtMillis = createdAtMillis
        self.lastSeenAtMillis = lastSeenAtMillis
    }
}

/// Durable state the hub needs. Writes are fire-and-forget through the
/// group-commit writer; replies run on the loop thread.
public protocol HubStore: AnyObject {
    /// True while the database answers.
    var isAvailable: Bool { get }
    /// Upserts the user on connect.
    func recordConnect(user: String, role: String, atMillis: Int64)
    /// Writes `last_seen_at` when the user's last connection closes.
    func recordDisconnect(user: String, atMillis: Int64)
    /// Reads one user.
    func fetchUser(id: String, reply: Reply<UserRecord?>)
}
