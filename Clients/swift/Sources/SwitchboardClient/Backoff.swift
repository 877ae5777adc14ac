/// Exponential backoff with full jitter: the n-th retry waits a uniformly
/// random time in 0…min(cap, base·2ⁿ), so clients that lost the same hub do
/// not come back in step.
public struct Backoff: Sendable {
    public var baseMilliseconds: Int64
    public var capMilliseconds: Int64
    /// Uniform in 0…upper (injected so tests can pin it).
    let random: @Sendable (Int64) -> Int64

    public init(
        baseMilliseconds: Int64 = 500, capMilliseconds: Int64 = 30_000,
        random: @escaping @Sendable (Int64) -> Int64 = { Int64.random(in: 0...$0) }
    ) {
        self.baseMilliseconds = baseMilliseconds
        self.capMilliseconds = capMilliseconds
        self.random = random
    }

    /// The ceiling of retry `attempt` (0-based): min(cap, base·2^attempt), without overflow.
    public func ceiling(attempt: Int) -> Int64 {
        let shift = min(max(attempt, 0), 40)
        let (grown, overflow) = baseMilliseconds.multipliedReportingOverflow(by: Int64(1) << shift)
        return overflow ? capMilliseconds : min(capMilliseconds, grown)
    }

    /// The delay before retry `attempt`.
    public func delay(attempt: Int) -> Int64 { random(ceiling(attempt: attempt)) }
}
