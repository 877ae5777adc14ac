// Per-connection frame rate limit.

/// A token bucket: `rate` tokens per second up to `burst`.
public struct TokenBucket: Sendable, Equatable {
    private var tokens: Double
    private var lastMillis: Int64
    private let rate: Double
    private let burst: Double

    /// A full bucket.
    public init(ratePerSecond: Double, burst: Double, nowMillis: Int64) {
        self.rate = ratePerSecond
        self.burst = burst
        self.tokens = burst
        self.lastMillis = nowMillis
    }

    /// Takes one token; false when the bucket is empty.
    public mutating func take(nowMillis: Int64) -> Bool {
        if nowMillis > lastMillis {
            tokens = min(burst, tokens + Double(nowMillis - lastMillis) * rate / 1000)
            lastMillis = nowMillis
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
