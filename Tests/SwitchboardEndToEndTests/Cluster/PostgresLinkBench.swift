// NOTIFY's throughput through the cluster link, packed payloads against one
// message per NOTIFY (and per commit), in the same run. Prints; asserts only
// that every message arrived. Runs only with SWITCHBOARD_BENCH=1:
//   SWITCHBOARD_BENCH=1 swift test --skip-build --filter PostgresLinkBench
import Foundation
import Testing
@testable import SwitchboardPostgres

@Suite(.serialized) struct PostgresLinkBench {
    static let enabled = ProcessInfo.processInfo.environment["SWITCHBOARD_BENCH"] == "1"
    static let count = 50_000
    static let size = 200

    @Test(.enabled(if: enabled)) func notifyThroughput() throws {
        let packed = try run("packed payloads, one commit per drain", maxMessagesPerPayload: .max)
        let single = try run("one message per NOTIFY, one commit per drain", maxMessagesPerPayload: 1)
        let naive = try run("one message per NOTIFY and per commit", maxMessagesPerPayload: 1, maxNotifiesPerTransaction: 1)
        print(
            String(
                format: "pglink bench: packed/one-per-NOTIFY = %.1fx, packed/one-per-commit = %.1fx", packed / single,
                packed / naive))
    }

    /// Sends `count` messages of `size` bytes from one link to another; messages/s.
    private func run(_ name: String, maxMessagesPerPayload: Int, maxNotifiesPerTransaction: Int = 500) throws -> Double {
        let channel = uniqueChannel()
        let sender = LinkProbe(channel: channel, recording: false)
        let receiver = LinkProbe(
            channel: channel, maxMessagesPerPayload: maxMessagesPerPayload, maxNotifiesPerTransaction: maxNotifiesPerTransaction,
            recording: false)
        defer { sender.link.stop(); receiver.link.stop() }
        // The receiver's link sends (its options are the ones measured); the
        // other link only listens.
        #expect(sender.waitUp() && receiver.waitUp())
        let messages = (0..<Self.count).map { i -> [UInt8] in
            let head = Array("\(i):".utf8)
            return head + [UInt8](repeating: UInt8(ascii: "x"), count: Self.size - head.count)
        }
        let start = Date()
        let giveUp = start.addingTimeInterval(600)
        for message in messages {
            // A full queue waits for the sender thread (bounded).
            while !receiver.link.send(message) && Date() < giveUp { usleep(1_000) }
        }
        #expect(eventually(timeout: 600) { sender.count >= Self.count })
        let seconds = Date().timeIntervalSince(start)
        #expect(sender.count == Self.count)
        let rate = Double(Self.count) / seconds
        print(
            String(
                format: "pglink bench: %@: %d messages of %d bytes in %.2f s = %.0f messages/s", name, Self.count, Self.size,
                seconds, rate))
        return rate
    }
}
