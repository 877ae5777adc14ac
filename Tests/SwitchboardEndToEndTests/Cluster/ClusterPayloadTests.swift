// The NOTIFY payload format: round trips, the size limit, hostile payloads,
// and how a drain is cut into NOTIFYs and transactions.
import Foundation
import Logging
import Testing
@testable import SwitchboardPostgres

@Suite struct ClusterPayloadTests {
    @Test func messagesRoundTrip() throws {
        let messages = ["", "5:hello", "#1;", "é€🎉", "a\nb", String(repeating: "z", count: 1000)].map(bytes)
        let payload = try #require(ClusterPayload.encode(messages))
        #expect(payload.hasPrefix("0:7:5:hello3:#1;"))
        let (frames, malformed) = ClusterPayload.decode(bytes(payload))
        #expect(!malformed)
        #expect(frames == messages.map { .message($0) })
    }

    @Test func aPayloadStaysUnderTheLimit() {
        let fits = [UInt8](repeating: 97, count: ClusterPayload.maxPayloadBytes - 5)
        #expect(ClusterPayload.encode([fits])?.utf8.count == ClusterPayload.maxPayloadBytes)
        #expect(ClusterPayload.encode([fits + [97]]) == nil)
    }

    @Test func referencesAndMessagesMix() {
        let (frames, malformed) = ClusterPayload.decode(bytes("2:ab#42;1:c#9;"))
        #expect(!malformed)
        #expect(frames == [.message(bytes("ab")), .reference(42), .message(bytes("c")), .reference(9)])
    }

    @Test(arguments: [
        "3:ab", "abc", ":x", "-1:", "99999999:x", "12345678:", "#;", "#12", "#x;", "#1234567890123456789;", "1:a2",
        "9223372036854775807:", "2:ab#",
    ])
    func hostilePayloadsAreMalformedNotFatal(_ payload: String) {
        let (_, malformed) = ClusterPayload.decode(bytes(payload))
        #expect(malformed)
    }

    @Test func aDrainPacksMessagesAndSendsBigOnesByReference() {
        let link = PostgresLink(conninfo: "unused", logger: Logger(label: "test"), channel: "unit")
        let small = (0..<200).map { bytes(String(repeating: "s", count: 189) + "\($0 + 100)") }
        let big = [UInt8](repeating: 98, count: 10_000)
        let transactions = link.transactions(for: Array(small[..<100]) + [big] + Array(small[100...]))
        #expect(transactions.count == 1)
        let statements = transactions[0]
        #expect(statements.filter { $0.sql == PostgresLink.notifyByReferenceSQL }.count == 1)
        // 100 frames of ~196 bytes: 3 payloads before the reference, 3 after.
        #expect(statements.count == 7)
        #expect(statements.allSatisfy { ($0.values.first?.wireText) == "unit" })
        let inline = statements.filter { $0.sql == PostgresLink.notifySQL }.compactMap { $0.values.last?.wireText }
        #expect(inline.allSatisfy { $0.utf8.count <= ClusterPayload.maxPayloadBytes })
        let decoded = inline.flatMap { ClusterPayload.decode(bytes($0)).frames }
        #expect(decoded == small.map { .message($0) })
    }

    @Test func identicalPayloadsGoInSeparateTransactions() {
        let link = PostgresLink(conninfo: "unused", logger: Logger(label: "test"), channel: "unit")
        let same = [UInt8](repeating: 99, count: 7_000)
        #expect(link.transactions(for: [same, same, same]).map(\.count) == [1, 1, 1])
        #expect(link.transactions(for: [same, same, bytes("x"), same]).map(\.count) == [2, 1])
    }
}
