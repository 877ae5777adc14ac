// Throughput of one link to another through a local redis-server; only with
// SWITCHBOARD_BENCH=1 (it prints a figure, it asserts no time).
import Foundation
import Testing

@testable import SwitchboardRedis

@Suite struct RedisLinkBenchmark {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SWITCHBOARD_BENCH"] == "1"))
    func fiftyThousandMessagesOfTwoHundredBytes() throws {
        let count = 50_000
        let redis = try RedisServer()
        let (a, _) = try startedLink(redis.url)
        let (b, bGot) = try startedLink(redis.url)
        defer {
            a.stop()
            b.stop()
        }
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 200)
        let start = DispatchTime.now().uptimeNanoseconds
        var refused = 0
        for _ in 0..<count where !a.send(body) { refused += 1 }
        #expect(refused == 0)
        #expect(eventually(timeout: 120) { bGot.count == count })
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print(
            "redis link: \(count) messages of 200 bytes in \(String(format: "%.2f", seconds)) s = "
                + "\(Int(Double(count) / seconds)) messages/s")
    }
}
