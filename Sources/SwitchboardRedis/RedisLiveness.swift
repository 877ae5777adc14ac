// A subscribed connection only ever reads, so a Redis that went silent (a
// partition, a frozen server) would look like a quiet channel forever. The
// subscriber pings after a quiet spell and gives up when even the ping goes
// unanswered. Time is passed in, so tests need no clock.

/// When the subscriber pings and when it gives its connection up.
struct RedisLiveness: Sendable, Equatable {
    /// What the subscriber does after a read that brought nothing.
    enum Action: Equatable { case wait, ping, lost }

    /// Seconds of silence before a PING.
    let pingInterval: Double
    /// Seconds of silence after which the connection counts as lost.
    let silenceLimit: Double
    private var lastHeard = 0.0
    private var pinged = false

    init(pingInterval: Double, silenceLimit: Double) {
        self.pingInterval = pingInterval
        self.silenceLimit = silenceLimit
    }

    /// Anything arrived from Redis at `now` (seconds, monotonic).
    mutating func heard(at now: Double) {
        lastHeard = now
        pinged = false
    }

    /// What to do at `now` after a quiet read; `.ping` once per silence.
    mutating func check(at now: Double) -> Action {
        let silence = now - lastHeard
        if silence >= silenceLimit { return .lost }
        if silence >= pingInterval && !pinged {
            pinged = true
            return .ping
        }
        return .wait
    }
}
