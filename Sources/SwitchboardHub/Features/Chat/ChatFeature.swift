// Chat: conversations whose members subscribe to `conversation:<id>` with a
// replay and a seamless switch to live, send messages acked after commit,
// and move their read position. Committed messages, notices and receipts
// reach subscribers through the hub's one publication path. The REST side
// is in ChatRoutes.swift.
import SwitchboardWire
#if canImport(Glibc)
import Glibc
#endif

/// The chat feature.
public final class ChatFeature: HubFeature {
    let store: ChatStore
    private let presence: PresenceFeature?
    unowned var hub: Hub!

    /// Most messages replayed on subscribe; past it `recovered: false`.
    static let replayCap = 1_000

    /// Fault injection for the crash tests: die after a send's commit.
    private let crashAfterCommit: Bool

    /// Chat over `store`; `presence` learns who took part in a conversation;
    /// `crashAfterCommit` is the crash tests' failpoint (never set in production).
    public init(store: ChatStore, presence: PresenceFeature?, crashAfterCommit: Bool = false) {
        self.store = store
        self.presence = presence
        self.crashAfterCommit = crashAfterCommit
    }

    public func install(on hub: Hub) {
        self.hub = hub
        hub.register(ConversationChannels(chat: self))
        hub.handleFrames("send") { [unowned self] call in
            guard case .send(let requestID, let request) = call.frame else { return }
            send(request, from: call.principal.user, for: .frame(call.connection, requestID: requestID))
        }
        hub.handleFrames("read") { [unowned self] call in
            guard case .read(let requestID, let conversation, let seq) = call.frame else { return }
            markRead(
                conversation: conversation, seq: seq, user: call.principal.user,
                for: .frame(call.connection, requestID: requestID))
        }
        installRoutes(on: hub)
        hub.onStreamRepair(ConversationChannels.kindPrefix) { [unowned self] gap in repair(gap) }
        hub.broker.onControl(Self.headsTopic) { [unowned self] _, body in heard(heads: body) }
    }

    /// The control topic on which PostgreSQL itself tells every node, at
    /// commit, how far the conversations of a batch go (the postgres
    /// broker: PostgresStore+ChatSend.swift's `announcingSendSQL`).
    static let headsTopic = "chat.heads"

    /// `{"h":[["<conversation>",<seq>],…]}`: what is expected on each
    /// conversation watched here; missing publications become holes.
    private func heard(heads body: JSON) {
        guard case .array(let entries)? = body["h"] else { return }
        for entry in entries.prefix(1_000) {
            guard let text = entry[0]?.stringValue, let conversation = ConversationChannel.id(rest: text),
                let seq = entry[1]?.intValue, seq > 0
            else { continue }
            let channel = ConversationChannel.name(conversation)
            hub.expectStream(StreamPosition(stream: channel, seq: seq, contiguous: true))
        }
    }

    // MARK: Repairing

    /// Reads a conversation's messages this node missed (a hole, or the
    /// time the link to the other nodes was down) and delivers them to its
    /// subscribers here, in order; the delivery drops what was sent already.
    private func repair(_ gap: StreamGap) {
        guard let (_, rest) = ChannelName.split(gap.channel), let conversation = ConversationChannel.id(rest: rest),
            let member = hub.subscriberUser(of: gap.channel)
        else { return }
        store.history(
            conversation, user: member, before: nil, after: gap.after, limit: Self.replayCap,
            reply: Reply(on: hub.loop, to: self) { chat, result in
                guard case .success(let messages) = result else { return }
                for message in messages {
                    if let before = gap.before, message.seq >= before { break }
                    chat.hub.deliverRepaired(
                        Publication(
                            channel: gap.channel, frame: ServerFrame.message(message, replay: false),
                            position: StreamPosition(stream: gap.stream, seq: message.seq, contiguous: true)))
                }
                // More than one read holds: the rest, from where this one ended.
                if gap.before == nil, messages.count == Self.replayCap, let last = messages.last {
                    chat.repair(StreamGap(stream: gap.stream, channel: gap.channel, after: last.seq, before: nil))
                }
            })
    }

    // MARK: Subscribing

    /// Opens the conversation for a member: the missed messages since
    /// `since`, then live. Live messages committed meanwhile wait at the
    /// stream's seam and go out after the replay, once.
    func subscribe(_ request: SubscribeRequest, conversation: ConversationID) {
        let channel = request.channel
        let id = request.connection
        hub.unsubscribe(id, from: channel)
        hub.beginResume(id, stream: channel, requestID: request.requestID, since: request.since)
        store.openConversation(
            conversation, user: request.principal.user, since: request.since, limit: Self.replayCap + 1,
            reply: Reply(on: hub.loop, to: self) { chat, result in
                chat.finishSubscribe(id, channel: channel, result: result)
            })
    }

    private func finishSubscribe(_ id: ConnectionID, channel: String, result: Result<ConversationSnapshot, HubError>) {
        guard let pending = hub.endResume(id, stream: channel) else { return }
        let snapshot: ConversationSnapshot
        switch result {
        case .failure(let error):
            hub.send(ServerFrame.error(id: pending.requestID, error, channel: channel), to: id)
            return
        case .success(let s): snapshot = s
        }
        var delivered = snapshot.lastSeq
        var recovered: Bool?
        if let since = pending.since {
            let frames =
                since > snapshot.lastSeq || snapshot.messages.count > Self.replayCap
                ? nil : hub.replayFrames(snapshot.messages.map { ServerFrame.message($0, replay: true) })
            if let frames {
                recovered = true
                for frame in frames { hub.send(frame, to: id) }
                delivered = max(snapshot.lastSeq, snapshot.messages.last?.seq ?? since)
            } else {
                // Too much to replay (in count or bytes), or a cursor from the
                // future (keeping it would drop every live message up to it):
                // `recovered: false` with the true position.
                recovered = false
            }
        }
        hub.send(
            ServerFrame.conversationSubscribed(id: pending.requestID, channel: channel, lastSeq: delivered, recovered: recovered),
            to: id)
        // The seam: what was committed while waiting and is not in the
        // replay goes out now, in order, once.
        hub.completeResume(id, stream: channel, pending, deliveredUpTo: delivered, contiguousOn: channel)
        hub.subscribe(id, to: channel)
    }

    // MARK: Sending

    /// Who asked, and so gets the answer: a connection's frame or a REST request.
    enum Asker: Sendable {
        case frame(ConnectionID, requestID: RequestID?)
        case request(HTTPRequestID)

        var connection: ConnectionID? { if case .frame(let id, _) = self { id } else { nil } }
    }

    /// Commits a message; the asker gets the ack (or the REST answer) or the error.
    func send(_ request: SendRequest, from user: String, for asker: Asker) {
        let message = NewMessage(
            conversation: request.conversation, sender: user, clientMessageID: request.clientMessageID,
            kind: MessageKind(rawValue: request.kind) ?? .text, body: request.body,
            quoteAmount: request.quoteAmount, quoteCurrency: request.quoteCurrency,
            quoteValidUntilMillis: request.quoteValidUntilMillis)
        store.send(
            message,
            reply: Reply(on: hub.loop, to: self) { chat, result in
                chat.sent(message, result, for: asker)
            })
    }

    private func sent(_ message: NewMessage, _ result: Result<SendOutcome, HubError>, for asker: Asker) {
        if crashAfterCommit, case .success = result { abort() }
        switch (result, asker) {
        case (.success(let outcome), .frame(let connection, let requestID)):
            hub.send(
                ServerFrame.ack(
                    id: requestID, conversation: outcome.conversation, messageID: outcome.id, seq: outcome.seq,
                    createdAtMillis: outcome.createdAtMillis, duplicate: outcome.duplicate), to: connection)
        case (.success(let outcome), .request(let id)):
            hub.respond(
                id,
                .json(
                    outcome.duplicate ? 200 : 201,
                    .object([
                        "conversation": .string(String(outcome.conversation)), "message_id": .string(String(outcome.id)),
                        "seq": .int(outcome.seq), "created_at": .int(outcome.createdAtMillis),
                        "duplicate": .bool(outcome.duplicate),
                    ])))
        case (.failure(let error), .frame(let connection, let requestID)):
            hub.refuse(error, requestID: requestID, on: connection)
        case (.failure(let error), .request(let id)):
            hub.respond(id, .error(error))
        }
        if case .success(let outcome) = result, !outcome.duplicate { publish(message, outcome, from: asker.connection) }
    }

    /// Publishes a `system` message committed by another action (contracts,
    /// payments) as if it had been sent.
    public func deliverSystemMessage(_ m: StoredMessage, members: [String]) {
        let message = NewMessage(
            conversation: m.conversation, sender: m.sender, clientMessageID: m.clientMessageID,
            kind: .system, body: m.body)
        publish(
            message,
            SendOutcome(
                id: m.id, conversation: m.conversation, seq: m.seq, createdAtMillis: m.createdAtMillis,
                duplicate: false, members: members), from: nil)
    }

    /// A committed message: to the conversation's subscribers (at its place
    /// in the stream), and a notice to each member's connections that do
    /// not watch the conversation.
    private func publish(_ message: NewMessage, _ outcome: SendOutcome, from sender: ConnectionID?) {
        let channel = ConversationChannel.name(outcome.conversation)
        tookPart(message.sender, members: outcome.members)
        let frame = ServerFrame.message(
            ServerFrame.MessageFields(
                conversation: outcome.conversation, id: outcome.id, seq: outcome.seq, sender: message.sender,
                clientMessageID: message.clientMessageID, kind: message.kind.rawValue, body: message.body,
                createdAtMillis: outcome.createdAtMillis), replay: false)
        // A commit visible to the subscribe's read before its answer reached
        // the loop was in the replay already: not again (the stream position).
        hub.publish(
            Publication(
                channel: channel, frame: frame,
                position: StreamPosition(stream: channel, seq: outcome.seq, contiguous: true)))
        var notice: OutboundFrame?
        for member in outcome.members {
            let shared =
                notice
                ?? ServerFrame.notice(
                    conversation: outcome.conversation, messageID: outcome.id, seq: outcome.seq,
                    sender: message.sender, kind: message.kind.rawValue)
            notice = shared
            // The sending connection has its ack; its other devices the notice.
            hub.publish(
                Publication(
                    channel: ChannelName.user(member), frame: shared,
                    excluding: sender.map(PublicationExclusion.connection), unlessWatching: channel))
        }
    }

    /// `member` took part in the conversation of `members`: presence makes
    /// them contacts.
    func tookPart(_ member: String, members: [String]) {
        presence?.tookPart(member, members: members)
    }

    // MARK: Reading

    /// Moves the member's read position; the asker gets `receipt` (or the
    /// REST answer) or the error, the conversation's other subscribers the receipt.
    func markRead(conversation: ConversationID, seq: Int64, user: String, for asker: Asker) {
        store.markRead(
            conversation, user: user, seq: seq,
            reply: Reply(on: hub.loop, to: self) { chat, result in
                chat.read(conversation, user: user, result, for: asker)
            })
    }

    private func read(_ conversation: ConversationID, user: String, _ result: Result<Int64, HubError>, for asker: Asker) {
        switch (result, asker) {
        case (.success(let stored), .frame(let connection, let requestID)):
            hub.send(ServerFrame.receipt(id: requestID, conversation: conversation, user: user, seq: stored), to: connection)
        case (.success(let stored), .request(let id)):
            hub.respond(
                id,
                .json(
                    200,
                    .object([
                        "conversation": .string(String(conversation)), "user": .string(user),
                        "last_read_seq": .int(stored),
                    ])))
        case (.failure(let error), .frame(let connection, let requestID)):
            hub.refuse(error, requestID: requestID, on: connection)
        case (.failure(let error), .request(let id)):
            hub.respond(id, .error(error))
        }
        if case .success(let stored) = result {
            hub.publish(
                Publication(
                    channel: ConversationChannel.name(conversation),
                    frame: ServerFrame.receipt(id: nil, conversation: conversation, user: user, seq: stored),
                    excluding: asker.connection.map(PublicationExclusion.connection)))
        }
    }
}

/// `conversation:<id>`: members subscribe (the store decides membership).
final class ConversationChannels: ChannelKind {
    static let kindPrefix = "conversation"
    private unowned let chat: ChatFeature
    init(chat: ChatFeature) { self.chat = chat }
    let prefix = ConversationChannels.kindPrefix
    func accepts(_ rest: String) -> Bool { ConversationChannel.id(rest: rest) != nil }
    func subscribe(_ request: SubscribeRequest) {
        guard let conversation = ConversationChannel.id(rest: request.rest) else { return }
        chat.subscribe(request, conversation: conversation)
    }
}
