// Latency over time: one coarse histogram per time bucket (wall clock, so
// the workers' timelines merge in the coordinator), for the HTML report.
import Foundation
import Histogram

/// Latencies (µs) by the time they were measured, in buckets of `bucketMicros`.
struct LatencyTimeline: Codable {
    var bucketMicros: Int64
    /// Bucket number (wall-clock µs / bucketMicros) → its latencies. Two
    /// significant digits: a bucket's histogram is ~2,600 counts, not ~17,000.
    var buckets: [Int64: Histogram<UInt64>] = [:]

    init(bucketMicros: Int64 = 1_000_000) { self.bucketMicros = max(1000, bucketMicros) }

    static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .two)
    }

    /// Records `latency` (µs) measured at `now` (wall-clock µs).
    mutating func record(_ latency: UInt64, at now: Int64) {
        _ = buckets[now / bucketMicros, default: Self.histogram()].record(min(latency, 60_000_000))
    }

    /// Adds another worker's timeline; an empty one takes the other's bucket
    /// width, and one of another width is left out (the keys would not match).
    mutating func merge(_ other: LatencyTimeline) {
        if buckets.isEmpty { bucketMicros = other.bucketMicros }
        guard other.bucketMicros == bucketMicros else { return }
        for (key, h) in other.buckets { buckets[key, default: Self.histogram()].add(h) }
    }

    /// One bucket, for the plot: seconds from `start`, count, and latency in ms.
    struct Point: Encodable {
        var t: Double
        var count: UInt64
        var p50, p99, max: Double
    }

    /// The buckets in time order, `t` in seconds from `startMicros` to the
    /// bucket's start (0 for the bucket `startMicros` falls in).
    func points(from startMicros: Int64) -> [Point] {
        buckets.keys.sorted().compactMap { key in
            guard let h = buckets[key], h.totalCount > 0 else { return nil }
            return Point(
                t: rounded(Double(max(0, key * bucketMicros - startMicros)) / 1e6), count: h.totalCount,
                p50: Double(h.valueAtPercentile(50)) / 1000, p99: Double(h.valueAtPercentile(99)) / 1000,
                max: Double(h.max) / 1000)
        }
    }
}
