// Human-readable table by default, JSON with --json. The JSON is each
// scenario's typed result (its own struct, explicit snake_case keys), so
// scripts read numbers as numbers; the same concept has the same key in
// every scenario (`sent`, `errors`, `*_ms` percentile objects,
// `calibration_*`, `ratio`).
import Foundation
import Histogram

enum Report {
    /// Prints `rows` as a table, or `result` as one line of JSON.
    static func print(title: String, rows: [(String, String)], result: some Encodable, json: Bool) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = (try? encoder.encode(result)) ?? Data(#"{"error":"report not encodable"}"#.utf8)
            Swift.print(String(decoding: data, as: UTF8.self))
            return
        }
        let width = rows.map(\.0.count).max() ?? 0
        Swift.print("== \(title)")
        for (k, v) in rows { Swift.print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
    }
}

/// A latency distribution in milliseconds: `{p50, p99, p999, max}`.
struct Percentiles: Encodable {
    var p50: Double
    var p99: Double
    var p999: Double
    var max: Double

    /// From a histogram of microseconds (zeros when it is empty).
    init(_ micros: Histogram<UInt64>) {
        func ms(_ value: UInt64) -> Double { Double(value) / 1000 }
        let empty = micros.totalCount == 0
        p50 = empty ? 0 : ms(micros.valueAtPercentile(50))
        p99 = empty ? 0 : ms(micros.valueAtPercentile(99))
        p999 = empty ? 0 : ms(micros.valueAtPercentile(99.9))
        max = empty ? 0 : ms(micros.max)
    }

    /// "p50 / p99 / p99.9 / max" with `decimals`, for the tables.
    func text(decimals: Int = 2) -> String {
        [p50, p99, p999, max].map { String(format: "%.\(decimals)f", $0) }.joined(separator: " / ")
    }
}

/// `x` to `places` decimals: the JSON's figures without float noise.
func rounded(_ x: Double, places: Int = 3) -> Double {
    let scale = pow(10, Double(places))
    return x.isFinite ? (x * scale).rounded() / scale : 0
}

/// "k×n; …" for a table row, most frequent first.
func countsText(_ counts: [String: Int]) -> String {
    counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key)×\($0.value)" }.joined(separator: "; ")
}

/// An optional that is encoded as `null` rather than left out, so that a
/// scenario's JSON always has the same keys.
struct Nullable<Value: Encodable>: Encodable {
    var value: Value?

    init(_ value: Value?) { self.value = value }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let value { try c.encode(value) } else { try c.encodeNil() }
    }
}
