// Chat values shared by the hub and its store: conversations, messages,
// and what a send or an open returns.
import SwitchboardWire

/// A conversation's numeric id (`conversation:<id>` on the wire).
public typealias ConversationID = Int64

/// What a message is.
public enum MessageKind: String, Sendable, CaseIterable {
    case text, image, document, quote
    case contractProposal = "contract_proposal"
    case system
}

/// A message to be committed.
public struct NewMessage: Sendable, Equatable {
    public var conversation: ConversationID
    public var sender: String
    public var clientMessageID: String
    public var kind: MessageKind
    /// The body as compact JSON text (an object).
    public var body: [UInt8]
    /// For quotes: amount in minor units, currency, valid-until (ms).
    public var quoteAmount: Int64?
    public var quoteCurrency: String?
    public var quoteValidUntilMillis: Int64?

    /// A message.
    public init(
        conversation: ConversationID, sender: String, clientMessageID: String, kind: MessageKind, body: [UInt8],
        quoteAmount: Int64? = nil, quoteCurrency: String? = nil, quoteValidUntilMillis: Int64? = nil
    ) {
        self.conversation = conversation
        self.sender = sender
        self.clientMessageID = clientMessageID
        self.kind = kind
        self.body = body
        self.quoteAmount = quoteAmount
        self.quoteCurrency = quoteCurrency
        self.quoteValidUntilMillis = quoteValidUntilMillis
    }
}

/// A committed message: the same fields the `message` frame carries, so
/// the store's rows go to the wire without a second shape.
public typealias StoredMessage = ServerFrame.MessageFields

/// The result of committing a send.
public struct SendOutcome: Sendable, Equatable {
    /// Message id, conversation, seq and time (the original ones for a duplicate).
    public var id: Int64
    public var conversation: ConversationID
    public var seq: Int64
    public var createdAtMillis: Int64
    /// True when the client_msg_id was already stored: nothing new was written.
    public var duplicate: Bool
    /// The conversation's members (for notices to those not subscribed).
    public var members: [String]

    /// An outcome.
    public init(id: Int64, conversation: ConversationID, seq: Int64, createdAtMillis: Int64, duplicate: Bool, members: [String]) {
        self.id = id
        self.conversation = conversation
        self.seq = seq
        self.createdAtMillis = createdAtMillis
        self.duplicate = duplicate
        self.members = members
    }
}

/// A conversation as a member opens it: members, last seq, missed messages.
public struct ConversationSnapshot: Sendable, Equatable {
    public var members: [String]
    public var lastSeq: Int64
    /// Messages with seq > since, ascending, at most the asked limit.
    public var messages: [StoredMessage]

    /// A snapshot.
    public init(members: [String], lastSeq: Int64, messages: [StoredMessage]) {
        self.members = members
        self.lastSeq = lastSeq
        self.messages = messages
    }
}

/// Chat's refusals (besides the common ones: `unavailable`, `overloaded`,
/// `storeFailed`, `invalidValue`).
extension HubError {
    /// Not a member, or no such conversation (indistinguishable on purpose).
    public static let notAMember = HubError(.forbidden, "not a member of this conversation")
    /// The conversation does not exist.
    public static let noSuchConversation = HubError(.notFound, "no such conversation")
    /// The sender's client_msg_id is already stored for another conversation
    /// or another content (kind + body): nothing was written.
    public static let clientMessageIDReused = HubError(
        .idempotencyMismatch,
        "this client_msg_id was already used for another conversation or content")
    /// An edit or delete of a message that is not the caller's own, or was deleted.
    public static let notTheSender = HubError(.forbidden, "only the sender can change a message, and not after deleting it")
}

/// A conversation as created (or found: `created` false).
public struct CreatedConversation: Sendable, Equatable {
    /// The conversation.
    public var id: ConversationID
    /// True when this call created it; false when it already existed.
    public var created: Bool
    /// A result.
    public init(id: ConversationID, created: Bool) {
        self.id = id
        self.created = created
    }
}

/// Durable chat operations; each answers through its `Reply` (on the loop).
public protocol ChatStore: PresenceStore, ChatManagementStore {
    /// Commits a message (group commit) or returns the original for a repeated
    /// client_msg_id with the same conversation and content (else `clientMessageIDReused`).
    func send(_ message: NewMessage, reply: Reply<SendOutcome>)
    /// Members, last seq and messages after `since` (at most `limit`), for a member (else `notAMember`).
    func openConversation(_ id: ConversationID, user: String, since: Int64?, limit: Int, reply: Reply<ConversationSnapshot>)
    /// Moves the member's read position forward (never back); returns the position now stored.
    func markRead(_ id: ConversationID, user: String, seq: Int64, reply: Reply<Int64>)
    /// Creates the conversation of these participants (+ project), or returns
    /// the existing one; `created` says which.
    func createConversation(creator: String, participants: [String], projectID: String?, reply: Reply<CreatedConversation>)
    /// A member's page of messages: after `after` ascending, else before
    /// `before` (or the newest), returned ascending; at most `limit`.
    func history(_ id: ConversationID, user: String, before: Int64?, after: Int64?, limit: Int, reply: Reply<[StoredMessage]>)
}

/// One line of a user's conversation list.
public struct ConversationSummary: Sendable, Equatable {
    public var id: ConversationID
    public var projectID: String?
    public var members: [String]
    public var lastSeq: Int64
    public var lastReadSeq: Int64
    /// Messages from others after the read position.
    public var unread: Int64
    public var lastMessage: StoredMessage?
    /// Cursor key: last activity in µs since the epoch.
    public var activityMicros: Int64

    /// A summary.
    public init(
        id: ConversationID, projectID: String?, members: [String], lastSeq: Int64, lastReadSeq: Int64, unread: Int64,
        lastMessage: StoredMessage?, activityMicros: Int64
    ) {
        self.id = id
        self.projectID = projectID
        self.members = members
        self.lastSeq = lastSeq
        self.lastReadSeq = lastReadSeq
        self.unread = unread
        self.lastMessage = lastMessage
        self.activityMicros = activityMicros
    }
}

/// Edits and deletions by the sender, and the conversation list.
public protocol ChatManagementStore: AnyObject {
    /// The user's conversations, most recently active first, after the cursor.
    func listConversations(
        user: String, after cursor: (activityMicros: Int64, id: ConversationID)?, limit: Int,
        reply: Reply<[ConversationSummary]>)
    /// Replaces the body of the sender's own, not deleted message (else `notTheSender`).
    func editMessage(_ id: Int64, sender: String, body: [UInt8], reply: Reply<StoredMessage>)
    /// Marks the sender's own message deleted, its body emptied (else `notTheSender`).
    func deleteMessage(_ id: Int64, sender: String, reply: Reply<StoredMessage>)
}
