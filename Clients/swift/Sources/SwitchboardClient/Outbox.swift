import Foundation

/// A message sent but not yet acked: kept (and persisted) until its ack, and
/// resent with the same `client_msg_id` after every reconnect.
public struct PendingMessage: Sendable, Equatable, Codable {
    public let clientMsgID: String
    public let conversation: String
    public let kind: String
    public let body: JSONValue
    /// When it was first queued, ms since the epoch.
    public let queuedAt: Int64

    public init(clientMsgID: String, conversation: String, kind: String, body: JSONValue, queuedAt: Int64) {
        self.clientMsgID = clientMsgID
        self.conversation = conversation
        self.kind = kind
        self.body = body
        self.queuedAt = queuedAt
    }

    /// The `send` frame for request `id`.
    func frame(id: String) -> JSONValue {
        [
            "type": "send", "id": .string(id), "conversation": .string(conversation),
            "client_msg_id": .string(clientMsgID), "kind": .string(kind), "body": body,
        ]
    }
}

/// Where the outbox lives between runs of the app.
public protocol OutboxStorage: Sendable {
    /// Every pending message, oldest first.
    func load() async throws -> [PendingMessage]
    /// Replaces what is stored with `messages`.
    func save(_ messages: [PendingMessage]) async throws
}

/// An outbox that lives as long as the process (the default).
public actor InMemoryOutboxStorage: OutboxStorage {
    private var messages: [PendingMessage] = []
    public init(_ messages: [PendingMessage] = []) { self.messages = messages }
    public func load() -> [PendingMessage] { messages }
    public func save(_ messages: [PendingMessage]) { self.messages = messages }
}

/// An outbox in one JSON file, replaced atomically on every change, so a
/// message queued before a crash is sent after the next start.
public actor FileOutboxStorage: OutboxStorage {
    private let url: URL

    public init(fileURL: URL) { url = fileURL }

    public func load() throws -> [PendingMessage] {
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        return try JSONDecoder().decode([PendingMessage].self, from: Data(contentsOf: url))
    }

    public func save(_ messages: [PendingMessage]) throws {
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONEncoder().encode(messages).write(to: url, options: .atomic)
    }
}
