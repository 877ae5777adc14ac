// Chat (and presence) in memory.
import Logging
import SwitchboardAuth
import SwitchboardWire
import SwitchboardHub

/// An in-memory chat store whose replies wait until `flush()`, so tests
/// control what commits while a subscription waits for its snapshot. It
/// keeps plain data (members, messages) and answers what a test scripts;
/// the store's rules are SQL and are tested end to end.
public final class FakeChatStore: ChatStore {
    public init() {}
    public var members: [ConversationID: Set<String>] = [:]
    public var messages: [ConversationID: [StoredMessage]] = [:]
    public var readPositions: [String: Int64] = [:]
    public var available = true
    public var pending: [() -> Void] = []
    public var nextID: Int64 = 100

    public func lastSeq(_ c: ConversationID) -> Int64 { messages[c]?.last?.seq ?? 0 }

    /// Commits directly (as if another node or the REST side had sent it).
    @discardableResult
    public func commit(_ m: NewMessage) -> SendOutcome? { try? store(m).get() }

    /// What the next sends are answered with, first first, instead of being
    /// stored: a duplicate or a refusal as the real store would give it (its
    /// rules — idempotency keys, content comparison — are SQL, tested end
    /// to end; the fake does not re-implement them).
    public var scriptedSends: [Result<SendOutcome, HubError>] = []

    /// The answer to a send: the next scripted one, else the message stored
    /// with the next seq (members only, as kept in `members`).
    public func attempt(_ m: NewMessage) -> Result<SendOutcome, HubError> {
        if !scriptedSends.isEmpty { return scriptedSends.removeFirst() }
        return store(m)
    }

    private func store(_ m: NewMessage) -> Result<SendOutcome, HubError> {
        guard members[m.conversation]?.contains(m.sender) == true else { return .failure(.notAMember) }
        nextID += 1
        let stored = StoredMessage(
            conversation: m.conversation, id: nextID, seq: lastSeq(m.conversation) + 1, sender: m.sender,
            clientMessageID: m.clientMessageID, kind: m.kind.rawValue, body: m.body, createdAtMillis: 5)
        messages[m.conversation, default: []].append(stored)
        participated[m.conversation]?.insert(m.sender)
        return .success(
            SendOutcome(
                id: stored.id, conversation: m.conversation, seq: stored.seq, createdAtMillis: 5, duplicate: false,
                members: members[m.conversation]!.sorted()))
    }

    /// Holds send answers back (committed, not yet answered) until `releaseSends()`.
    public var holdSends = false
    private var heldSends: [() -> Void] = []
    public func releaseSends() { let held = heldSends; heldSends = []; held.forEach { $0() } }

    public func send(_ message: NewMessage, reply: Reply<SendOutcome>) {
        guard available else { pending.append { reply(.failure(.unavailable)) }; return }
        let outcome = attempt(message)
        let answer = { reply(outcome) }
        if holdSends { heldSends.append(answer) } else { pending.append(answer) }
    }

    public func openConversation(
        _ id: ConversationID, user: String, since: Int64?, limit: Int, reply: Reply<ConversationSnapshot>
    ) {
        guard members[id]?.contains(user) == true else { pending.append { reply(.failure(.notAMember)) }; return }
        let snapshot = ConversationSnapshot(
            members: members[id]!.sorted(), lastSeq: lastSeq(id),
            messages: since.map { s in Array((messages[id] ?? []).filter { $0.seq > s }.prefix(limit)) } ?? [])
        pending.append { reply(.success(snapshot)) }
    }

    /// What the next reads are answered with, first first (the position the
    /// real store keeps: never back, at most the last seq — a SQL rule); by
    /// default the seq asked.
    public var scriptedReads: [Result<Int64, HubError>] = []

    public func markRead(_ id: ConversationID, user: String, seq: Int64, reply: Reply<Int64>) {
        guard members[id]?.contains(user) == true else { pending.append { reply(.failure(.notAMember)) }; return }
        let answer: Result<Int64, HubError> = scriptedReads.isEmpty ? .success(seq) : scriptedReads.removeFirst()
        if case .success(let stored) = answer {
            readPositions["\(id)/\(user)"] = stored
            if stored > 0 { participated[id]?.insert(user) }
        }
        pending.append { reply(answer) }
    }

    public func createConversation(creator: String, participants: [String], projectID: String?, reply: Reply<CreatedConversation>)
    {
        let set = Set(participants + [creator])
        if let existing = members.first(where: { $0.value == set })?.key {
            pending.append { reply(.success(CreatedConversation(id: existing, created: false))) }
            return
        }
        let id = Int64(members.count + 1)
        members[id] = set
        participated[id] = [creator]
        pending.append { reply(.success(CreatedConversation(id: id, created: true))) }
    }

    /// The history queries asked, in order (the paging itself is SQL).
    public var historyQueries: [(conversation: ConversationID, user: String, before: Int64?, after: Int64?, limit: Int)] = []

    /// Answers a member with the conversation's stored messages after
    /// `after`, at most `limit` of them from the start (a test stores the
    /// page it wants).
    public func history(
        _ id: ConversationID, user: String, before: Int64?, after: Int64?, limit: Int, reply: Reply<[StoredMessage]>
    ) {
        historyQueries.append((id, user, before, after, limit))
        guard let conversationMembers = members[id] else {
            pending.append { reply(.failure(.noSuchConversation)) }
            return
        }
        guard conversationMembers.contains(user) else { pending.append { reply(.failure(.notAMember)) }; return }
        let between = (messages[id] ?? []).filter { m in
            (after.map { m.seq > $0 } ?? true) && (before.map { m.seq < $0 } ?? true)
        }
        let page = Array(between.prefix(limit))
        pending.append { reply(.success(page)) }
    }

    public var lastSeen: [String: Int64] = [:]

    public func listConversations(
        user: String, after cursor: (activityMicros: Int64, id: ConversationID)?, limit: Int,
        reply: Reply<[ConversationSummary]>
    ) {
        let list = members.filter { $0.value.contains(user) }.keys.sorted(by: >).map {
            ConversationSummary(
                id: $0, projectID: nil, members: members[$0]!.sorted(), lastSeq: lastSeq($0), lastReadSeq: 0,
                unread: lastSeq($0), lastMessage: messages[$0]?.last, activityMicros: $0)
        }
        pending.append { reply(.success(Array(list.prefix(limit)))) }
    }

    public func editMessage(_ id: Int64, sender: String, body: [UInt8], reply: Reply<StoredMessage>) {
        change(id, sender: sender, reply: reply) {
            $0.body = body; $0.editedAtMillis = 9
        }
    }

    public func deleteMessage(_ id: Int64, sender: String, reply: Reply<StoredMessage>) {
        change(id, sender: sender, reply: reply) {
            $0.body = Array("{}".utf8); $0.deleted = true
        }
    }

    /// Changes the stored message with that id; none: `notTheSender` (who
    /// may change what is a SQL rule; a test refuses with an unknown id).
    private func change(_ id: Int64, sender: String, reply: Reply<StoredMessage>, _ edit: (inout StoredMessage) -> Void) {
        for (c, list) in messages {
            if let i = list.firstIndex(where: { $0.id == id }) {
                edit(&messages[c]![i])
                let m = messages[c]![i]
                pending.append { reply(.success(m)) }
                return
            }
        }
        pending.append { reply(.failure(.notTheSender)) }
    }

    /// Members who took part (created, sent, read) per conversation; a
    /// conversation a test set up directly in `members` counts as one where
    /// everybody took part.
    public var participated: [ConversationID: Set<String>] = [:]
    public func tookPart(_ user: String, in c: ConversationID) -> Bool {
        members[c]?.contains(user) == true && (participated[c]?.contains(user) ?? true)
    }

    public func contacts(of user: String, reply: Reply<[String]>) {
        let list = Set(members.filter { tookPart(user, in: $0.key) }.flatMap { $0.value }).subtracting([user]).sorted()
        pending.append { reply(.success(list)) }
    }

    public func presence(asker: String, users: [String], reply: Reply<[String: Int64?]>) {
        var out: [String: Int64?] = [:]
        for u in users where u == asker || members.contains(where: { $0.value.contains(asker) && tookPart(u, in: $0.key) }) {
            out[u] = lastSeen[u]
        }
        pending.append { reply(.success(out)) }
    }

    public func flush() {
        while !pending.isEmpty { let work = pending; pending = []; work.forEach { $0() } }
    }
}
