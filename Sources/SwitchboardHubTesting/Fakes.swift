// In-memory fakes for the hub's ports: a transport that records, a store
// that records, and a clock the test moves.
import Logging
import SwitchboardAuth
import SwitchboardWire
import SwitchboardHub

public final class RecordingTransport: Transport {
    public init() {}
    public var sent: [(ConnectionID, OutboundFrame)] = []
    public var closed: [ConnectionID: CloseCode] = [:]
    public var responses: [HTTPRequestID: HTTPResponse] = [:]

    public func send(_ frame: OutboundFrame, to connection: ConnectionID) -> Bool {
        sent.append((connection, frame))
        return true
    }
    public func close(_ connection: ConnectionID, code: CloseCode) { closed[connection] = code }
    public func respond(_ request: HTTPRequestID, _ response: HTTPResponse) { responses[request] = response }

    public func frames(to id: ConnectionID) -> [JSON] {
        sent.filter { $0.0 == id }.compactMap { try? JSON.parse($0.1.text) }
    }
    public func types(to id: ConnectionID) -> [String] { frames(to: id).compactMap { $0["type"]?.stringValue } }
    public func lastError(to id: ConnectionID) -> String? {
        frames(to: id).last { $0["type"]?.stringValue == "error" }?["code"]?.stringValue
    }
}

public final class RecordingStore: HubStore {
    public init() {}
    public var isAvailable = true
    public var connects: [String] = []
    public var disconnects: [String] = []
    public var users: [String: UserRecord] = [:]
    public var pendingReplies: [() -> Void] = []

    public func recordConnect(user: String, role: String, atMillis: Int64) { connects.append(user) }
    public func recordDisconnect(user: String, atMillis: Int64) { disconnects.append(user) }
    public func fetchUser(id: String, reply: @escaping (Result<UserRecord?, StoreError>) -> Void) {
        let record = users[id]
        let available = isAvailable
        pendingReplies.append { reply(available ? .success(record) : .failure(StoreError(.unavailable))) }
    }
    public func flush() { let r = pendingReplies; pendingReplies = []; r.forEach { $0() } }
}

/// An in-memory chat store whose replies wait until `flush()`, so tests
/// control what commits while a subscription waits for its snapshot.
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
    public func commit(_ m: NewMessage) -> SendOutcome? { try? attempt(m).get() }

    /// As the store: a repeated client_msg_id (per sender) is a duplicate only
    /// with the same conversation, kind and body; else `idempotencyMismatch`.
    public func attempt(_ m: NewMessage) -> Result<SendOutcome, ChatFailure> {
        guard members[m.conversation]?.contains(m.sender) == true else { return .failure(.forbidden) }
        if let old = messages.values.joined().first(where: { $0.sender == m.sender && $0.clientMessageID == m.clientMessageID }) {
            guard old.conversation == m.conversation, old.kind == m.kind.rawValue, old.body == m.body else {
                return .failure(.idempotencyMismatch)
            }
            return .success(SendOutcome(id: old.id, conversation: old.conversation, seq: old.seq, createdAtMillis: old.createdAtMillis,
                               duplicate: true, members: members[m.conversation]!.sorted()))
        }
        nextID += 1
        let stored = StoredMessage(conversation: m.conversation, id: nextID, seq: lastSeq(m.conversation) + 1, sender: m.sender,
                                   clientMessageID: m.clientMessageID, kind: m.kind.rawValue, body: m.body, createdAtMillis: 5)
        messages[m.conversation, default: []].append(stored)
        participated[m.conversation]?.insert(m.sender)
        return .success(SendOutcome(id: stored.id, conversation: m.conversation, seq: stored.seq, createdAtMillis: 5, duplicate: false,
                                    members: members[m.conversation]!.sorted()))
    }

    /// Holds send answers back (committed, not yet answered) until `releaseSends()`.
    public var holdSends = false
    private var heldSends: [() -> Void] = []
    public func releaseSends() { let held = heldSends; heldSends = []; held.forEach { $0() } }

    public func send(_ message: NewMessage, reply: @escaping (Result<SendOutcome, ChatFailure>) -> Void) {
        guard available else { pending.append { reply(.failure(.unavailable)) }; return }
        let outcome = attempt(message)
        let answer = { reply(outcome) }
        if holdSends { heldSends.append(answer) } else { pending.append(answer) }
    }

    public func openConversation(_ id: ConversationID, user: String, since: Int64?, limit: Int,
                          reply: @escaping (Result<ConversationSnapshot, ChatFailure>) -> Void) {
        guard members[id]?.contains(user) == true else { pending.append { reply(.failure(.forbidden)) }; return }
        let snapshot = ConversationSnapshot(members: members[id]!.sorted(), lastSeq: lastSeq(id),
                                            messages: since.map { s in Array((messages[id] ?? []).filter { $0.seq > s }.prefix(limit)) } ?? [])
        pending.append { reply(.success(snapshot)) }
    }

    public func markRead(_ id: ConversationID, user: String, seq: Int64, reply: @escaping (Result<Int64, ChatFailure>) -> Void) {
        guard members[id]?.contains(user) == true else { pending.append { reply(.failure(.forbidden)) }; return }
        let key = "\(id)/\(user)"
        readPositions[key] = max(readPositions[key] ?? 0, min(seq, lastSeq(id)))
        if readPositions[key]! > 0 { participated[id]?.insert(user) }
        let stored = readPositions[key]!
        pending.append { reply(.success(stored)) }
    }

    public func createConversation(creator: String, participants: [String], projectID: String?,
                            reply: @escaping (Result<(id: ConversationID, created: Bool), ChatFailure>) -> Void) {
        let set = Set(participants + [creator])
        if let existing = members.first(where: { $0.value == set })?.key {
            pending.append { reply(.success((existing, false))) }
            return
        }
        let id = Int64(members.count + 1)
        members[id] = set
        participated[id] = [creator]
        pending.append { reply(.success((id, true))) }
    }

    public func history(_ id: ConversationID, user: String, before: Int64?, after: Int64?, limit: Int,
                 reply: @escaping (Result<[StoredMessage], ChatFailure>) -> Void) {
        guard members[id]?.contains(user) == true else { pending.append { reply(.failure(.forbidden)) }; return }
        let all = messages[id] ?? []
        let page = after.map { a in Array(all.filter { $0.seq > a }.prefix(limit)) }
            ?? Array(all.filter { before == nil || $0.seq < before! }.suffix(limit))
        pending.append { reply(.success(page)) }
    }

    public var lastSeen: [String: Int64] = [:]

    public func listConversations(user: String, after cursor: (activityMicros: Int64, id: ConversationID)?, limit: Int,
                           reply: @escaping (Result<[ConversationSummary], ChatFailure>) -> Void) {
        let list = members.filter { $0.value.contains(user) }.keys.sorted(by: >).map {
            ConversationSummary(id: $0, projectID: nil, members: members[$0]!.sorted(), lastSeq: lastSeq($0), lastReadSeq: 0,
                                unread: lastSeq($0), lastMessage: messages[$0]?.last, activityMicros: $0)
        }
        pending.append { reply(.success(Array(list.prefix(limit)))) }
    }

    public func editMessage(_ id: Int64, sender: String, body: [UInt8], reply: @escaping (Result<StoredMessage, ChatFailure>) -> Void) {
        change(id, sender: sender, reply: reply) { $0.body = body; $0.editedAtMillis = 9 }
    }

    public func deleteMessage(_ id: Int64, sender: String, reply: @escaping (Result<StoredMessage, ChatFailure>) -> Void) {
        change(id, sender: sender, reply: reply) { $0.body = Array("{}".utf8); $0.deleted = true }
    }

    private func change(_ id: Int64, sender: String, reply: @escaping (Result<StoredMessage, ChatFailure>) -> Void,
                        _ edit: (inout StoredMessage) -> Void) {
        for (c, list) in messages {
            if let i = list.firstIndex(where: { $0.id == id && $0.sender == sender && !$0.deleted }) {
                edit(&messages[c]![i])
                let m = messages[c]![i]
                pending.append { reply(.success(m)) }
                return
            }
        }
        pending.append { reply(.failure(.forbidden)) }
    }

    /// Members who took part (created, sent, read) per conversation; a
    /// conversation a test set up directly in `members` counts as one where
    /// everybody took part.
    public var participated: [ConversationID: Set<String>] = [:]
    public func tookPart(_ user: String, in c: ConversationID) -> Bool {
        members[c]?.contains(user) == true && (participated[c]?.contains(user) ?? true)
    }

    public func contacts(of user: String, reply: @escaping (Result<[String], ChatFailure>) -> Void) {
        let list = Set(members.filter { tookPart(user, in: $0.key) }.flatMap { $0.value }).subtracting([user]).sorted()
        pending.append { reply(.success(list)) }
    }

    public func presence(asker: String, users: [String], reply: @escaping (Result<[String: Int64?], ChatFailure>) -> Void) {
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

public final class ManualClock: HubClock, @unchecked Sendable {
    public init() {}
    public var millis: Int64 = 1_800_000_000_000
    public func nowMillis() -> Int64 { millis }
    public func advance(seconds: Double) { millis += Int64(seconds * 1000) }
}

public struct HubFixture {
    public static let secret = Array("test-secret-test-secret-test-sec".utf8)
    public static let apiKey = "backend-key-0123456789"
    public let hub: Hub
    public let transport = RecordingTransport()
    public let store = RecordingStore()
    public let clock = ManualClock()
    public let chat = FakeChatStore()
    public let scans = FakeScanStore()
    public let notes = FakeNotificationStore()
    public let market = FakeMarketStore()

    public init(configure: (inout HubConfiguration) -> Void = { _ in }) {
        var config = HubConfiguration(jwt: JWTConfiguration(hmacSecret: Self.secret),
                                      apiKeys: try! APIKeyRing(entries: ["matcher:" + Self.apiKey]))
        configure(&config)
        hub = Hub(configuration: config, clock: clock, store: store, chat: chat, scans: scans, notifications: notes, market: market, metrics: HubMetrics(), logger: Logger(label: "test"))
        hub.transport = transport
    }

    public func token(_ user: String, ttl: Int64 = 600, role: String = "user") -> String {
        JWTSigner.hs256(Claims(subject: user, role: role, expiresAt: clock.millis / 1000 + ttl), secret: Self.secret)
    }

    public func send(_ id: ConnectionID, _ text: String) {
        Array(text.utf8).withUnsafeBytes { hub.textReceived(id, $0) }
    }
}

/// Scans in memory. Answers are computed when asked (like a snapshot taken
/// then) and delivered on `flush()`, so tests can reorder them.
public final class FakeScanStore: ScanStore {
    public init() {}
    public var codes: [QRCodeID: QRCode] = [:]
    public var counts: [QRCodeID: ScanCounts] = [:]
    public var failing = false
    private var pending: [() -> Void] = []
    private var nextID: QRCodeID = 0

    public func flush() {
        while !pending.isEmpty { let work = pending; pending = []; work.forEach { $0() } }
    }

    @discardableResult
    public func register(owner: String, label: String = "code") -> QRCodeID {
        nextID += 1
        codes[nextID] = QRCode(id: nextID, owner: owner, label: label, target: "https://example.com", total: 0, createdAtMillis: 0)
        counts[nextID] = ScanCounts(qr: nextID, owner: owner, label: label, total: 0)
        return nextID
    }

    public func ingest(_ scans: [ScanInput], reply: @escaping (Result<IngestOutcome, StoreError>) -> Void) {
        if failing { pending.append { reply(.failure(StoreError(.unavailable))) }; return }
        var unknown: [Int] = []
        var touched: [QRCodeID: ScanCounts] = [:]
        for (index, scan) in scans.enumerated() {
            guard var c = counts[scan.qr] else { unknown.append(index); continue }
            c.total += 1
            c.minutes[ScanTime.minute(scan.atMillis), default: 0] += 1
            c.days[ScanTime.day(scan.atMillis), default: 0] += 1
            c.devices[scan.device, default: 0] += 1
            c.countries[scan.country, default: 0] += 1
            counts[scan.qr] = c
            codes[scan.qr]?.total = c.total
            var t = touched[scan.qr] ?? ScanCounts(qr: scan.qr, owner: c.owner, total: 0)
            t.total = c.total
            t.minutes[ScanTime.minute(scan.atMillis)] = c.minutes[ScanTime.minute(scan.atMillis)]
            t.days[ScanTime.day(scan.atMillis)] = c.days[ScanTime.day(scan.atMillis)]
            t.devices[scan.device] = c.devices[scan.device]
            t.countries[scan.country] = c.countries[scan.country]
            touched[scan.qr] = t
        }
        let outcome = IngestOutcome(accepted: scans.count - unknown.count, duplicates: 0, unknownCodes: unknown,
                                    counts: touched.values.sorted { $0.qr < $1.qr })
        pending.append { reply(.success(outcome)) }
    }

    public func createCode(owner: String, label: String, target: String, reply: @escaping (Result<QRCode, StoreError>) -> Void) {
        let id = register(owner: owner, label: label)
        let code = codes[id]!
        pending.append { reply(.success(code)) }
    }

    public func listCodes(owner: String, limit: Int, reply: @escaping (Result<[QRCode], StoreError>) -> Void) {
        let list = codes.values.filter { $0.owner == owner }.sorted { $0.id < $1.id }
        pending.append { reply(.success(Array(list.prefix(limit)))) }
    }

    public func counters(qr: QRCodeID, sinceMinute: Int64, sinceDay: Int64, reply: @escaping (Result<ScanCounts?, StoreError>) -> Void) {
        if failing { pending.append { reply(.failure(StoreError(.unavailable))) }; return }
        let snapshot = counts[qr]
        pending.append { reply(.success(snapshot)) }
    }

    public func counters(owner: String, sinceMinute: Int64, sinceDay: Int64, limit: Int,
                  reply: @escaping (Result<[ScanCounts], StoreError>) -> Void) {
        let snapshot = counts.values.filter { $0.owner == owner }.sorted { $0.qr < $1.qr }
        pending.append { reply(.success(snapshot)) }
    }

    public func stats(qr: QRCodeID, fromMillis: Int64, toMillis: Int64, bucket: ScanBucket,
               reply: @escaping (Result<ScanStats?, StoreError>) -> Void) {
        guard let c = counts[qr] else { pending.append { reply(.success(nil)) }; return }
        var byBucket: [Int64: Int64] = [:]
        for (minute, n) in c.minutes { byBucket[minute * ScanTime.minuteMillis / bucket.millis * bucket.millis, default: 0] += n }
        let points = stride(from: fromMillis, to: toMillis, by: Int(bucket.millis)).map { (atMillis: $0, count: byBucket[$0] ?? 0) }
        pending.append { reply(.success(ScanStats(owner: c.owner, points: points))) }
    }
}

/// Notifications in memory; answers computed when asked, delivered on `flush()`.
public final class FakeNotificationStore: NotificationStore {
    public init() {}
    public var stored: [StoredNotification] = []
    public var keys: [String: (fingerprint: String, notified: Int)] = [:]
    private var pending: [() -> Void] = []
    private var nextID: Int64 = 0
    public var clock: Int64 = 1_800_000_000_000

    public func flush() {
        while !pending.isEmpty { let work = pending; pending = []; work.forEach { $0() } }
    }

    /// Commits now (as the writer would); the answer waits for `flush()`.
    @discardableResult
    public func commit(_ user: String, title: String = "t") -> StoredNotification {
        nextID += 1
        let n = StoredNotification(id: nextID, user: user, kind: "project_update", title: title, body: "", data: Array("{}".utf8),
                                   entityType: nil, entityID: nil, createdAtMillis: clock)
        stored.append(n)
        return n
    }

    public func notify(_ request: NotifyRequest,
                reply: @escaping (Result<(notified: Int, duplicate: Bool, created: [StoredNotification]), DomainFailure>) -> Void) {
        if let key = request.idempotencyKey, let prior = keys[key] {
            let outcome: Result<(notified: Int, duplicate: Bool, created: [StoredNotification]), DomainFailure> =
                prior.fingerprint == request.fingerprint ? .success((prior.notified, true, [])) : .failure(.idempotencyMismatch)
            pending.append { reply(outcome) }
            return
        }
        if let key = request.idempotencyKey { keys[key] = (request.fingerprint, request.recipients.count) }
        let created = request.recipients.map { commit($0, title: request.title) }
        pending.append { reply(.success((created.count, false, created))) }
    }

    public func notifications(user: String, after: Int64?, unreadOnly: Bool, limit: Int,
                       reply: @escaping (Result<(items: [StoredNotification], unread: Int), StoreError>) -> Void) {
        let mine = stored.filter { $0.user == user && $0.id > (after ?? 0) && (!unreadOnly || $0.readAtMillis == nil) }
        let unread = stored.filter { $0.user == user && $0.readAtMillis == nil }.count
        pending.append { reply(.success((Array(mine.prefix(limit)), unread))) }
    }

    public func markNotificationsRead(user: String, ids: [Int64]?, upTo: Int64?,
                               reply: @escaping (Result<(marked: Int, unread: Int), StoreError>) -> Void) {
        var marked = 0
        for i in stored.indices where stored[i].user == user && stored[i].readAtMillis == nil
            && (ids?.contains(stored[i].id) ?? (stored[i].id <= (upTo ?? 0))) {
            stored[i].readAtMillis = clock
            marked += 1
        }
        let unread = stored.filter { $0.user == user && $0.readAtMillis == nil }.count
        pending.append { reply(.success((marked, unread))) }
    }

    public func notificationsSince(user: String, since: Int64, limit: Int,
                            reply: @escaping (Result<MissedNotifications, StoreError>) -> Void) {
        let mine = stored.filter { $0.user == user }
        let snapshot = MissedNotifications(items: Array(mine.filter { $0.id > since }.prefix(limit)),
                                           newestID: mine.map(\.id).max() ?? 0)
        pending.append { reply(.success(snapshot)) }
    }

    public func createQuoteRequest(_ request: QuoteRequest, reply: @escaping (Result<QuoteRequest, DomainFailure>) -> Void) {
        pending.append { reply(.failure(.store(StoreError(.failed)))) }
    }
    public func addMatches(request: Int64, _ matches: [QuoteMatchInput],
                    reply: @escaping (Result<(created: [QuoteMatch], existing: [QuoteMatch], notifications: [StoredNotification]), DomainFailure>) -> Void) {
        pending.append { reply(.failure(.notFound("no such quote request"))) }
    }
    public func respond(match: Int64, builder: String, _ response: MatchResponse,
                 reply: @escaping (Result<(QuoteMatch, StoredNotification), DomainFailure>) -> Void) {
        pending.append { reply(.failure(.conflict("no"))) }
    }
    public func matches(request: Int64, requester: String, reply: @escaping (Result<[QuoteMatch], DomainFailure>) -> Void) {
        pending.append { reply(.success([])) }
    }
    public func matches(builder: String, limit: Int, reply: @escaping (Result<[QuoteMatch], DomainFailure>) -> Void) {
        pending.append { reply(.success([])) }
    }
}

/// Records market calls; answers with a fixed outcome. The rules themselves
/// live in SQL and are tested end to end against PostgreSQL.
public final class FakeMarketStore: MarketStore {
    public init() {}
    public var calls: [String] = []
    public var answer: Result<MarketOutcome, DomainFailure> = .failure(.notFound("nothing here"))
    private func record(_ name: String, _ reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        calls.append(name)
        reply(answer)
    }
    public func createProject(client: String, craftsman: String, title: String, budget: Int64?, currency: String, conversation: Int64?,
                       actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("createProject", reply) }
    public func project(_ id: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("project", reply) }
    public func createContract(project: Int64, terms: [UInt8], milestones: [UInt8], actor: Actor,
                        reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("createContract", reply)
    }
    public func contract(_ id: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("contract", reply) }
    public func sign(contract: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("sign", reply) }
    public func amend(contract: Int64, terms: [UInt8], actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("amend", reply)
    }
    /// What step one of a payment answers (created, a replay, or a refusal).
    public var paymentStart: Result<PaymentStart, DomainFailure> = .failure(.notFound("nothing here"))
    /// The provider answers recorded by step two.
    public var recordedCharges: [(payment: Int64, charge: ProviderCharge)] = []
    public func createPayment(project: Int64, _ payment: NewPayment, fees: FeeBreakdown, actor: Actor,
                       idempotencyKey: String?, fingerprint: String,
                       reply: @escaping (Result<PaymentStart, DomainFailure>) -> Void) {
        calls.append("createPayment")
        reply(paymentStart)
    }
    public func recordCharge(payment: Int64, charge: ProviderCharge, actor: Actor, idempotencyKey: String?,
                      reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        recordedCharges.append((payment, charge))
        record("recordCharge", reply)
    }
    public func release(payment: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("release", reply) }
    public func refund(payment: Int64, amount: Int64?, reason: String, actor: Actor,
                reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) { record("refund", reply) }
    public func payments(project: Int64, page: Int, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("payments", reply)
    }
    public func createMilestone(project: Int64, title: String, dueOn: String?, amount: Int64?, percentage: Double?,
                         requiresApproval: Bool, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("createMilestone", reply)
    }
    public func completeMilestone(project: Int64, milestone: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("completeMilestone", reply)
    }
    public func approveMilestone(project: Int64, milestone: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("approveMilestone", reply)
    }
    public func providerEvent(reference: String, succeeded: Bool, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        record("providerEvent", reply)
    }
}
