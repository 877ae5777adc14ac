// A PostgresLink under test: started on its own channel (tests share one
// database), recording what it receives and each `changed`.
import Foundation
import Logging
@testable import SwitchboardPostgres

final class LinkProbe: Sendable {
    let link: PostgresLink
    let received = Locked<[String]>([])
    let events = Locked<[Bool]>([])

    init(
        channel: String, conninfo: String = TestDatabase.conninfo, maxMessagesPerPayload: Int = .max,
        maxNotifiesPerTransaction: Int = PostgresLink.maxStatementsPerTransaction, recording: Bool = true
    ) {
        link = PostgresLink(
            conninfo: conninfo, logger: Logger(label: "test.cluster"), channel: channel,
            maxMessagesPerPayload: maxMessagesPerPayload, maxNotifiesPerTransaction: maxNotifiesPerTransaction)
        let received = self.received, events = self.events
        link.start(
            receive: { message in
                let text = recording ? String(decoding: message, as: UTF8.self) : ""
                received.withLock { $0.append(text) }
            },
            changed: { up in events.withLock { $0.append(up) } })
    }

    var count: Int { received.withLock { $0.count } }
    var messages: [String] { received.withLock { $0 } }
    var changes: [Bool] { events.withLock { $0 } }

    /// Waits (bounded) until the link has said it is up.
    func waitUp() -> Bool { eventually { changes.last == true && link.isHealthy } }

    /// The messages received from one sender (those starting `prefix`).
    func messages(from prefix: String) -> [String] { messages.filter { $0.hasPrefix(prefix) } }
}

/// A channel of this test alone.
func uniqueChannel() -> String { "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20) }

/// `text`'s UTF-8 bytes.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
