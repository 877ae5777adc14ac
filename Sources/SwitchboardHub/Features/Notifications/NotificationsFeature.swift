// Durable notifications: committed first, then published on the user's
// `user:` channel; a connection that came with `since` first gets what it
// missed (replay), then live, with no gap and no duplicate at the seam. The
// REST side: the notify API for backends, a user's own list and read marks.
// Other features (quotes, market) publish the notifications they commit
// through `publish(_:)`.
import SwitchboardWire
#if canImport(Glibc)
import Glibc
#endif

/// The notifications feature.
public final class NotificationsFeature: HubFeature {
    /// Most notifications replayed on connect; past it `recovered: false`.
    public static let replayCap = 1_000
    /// Most recipients of one `POST /v1/notify`.
    public static let recipientCap = 10_000

    private let store: NotificationStore
    private unowned var hub: Hub!
    private let crashAfterCommit: Bool

    /// Notifications kept by `store`; `crashAfterCommit` is the crash tests'
    /// failpoint (abort after the commit, before the push).
    public init(store: NotificationStore, crashAfterCommit: Bool = false) {
        self.store = store
        self.crashAfterCommit = crashAfterCommit
    }

    public func install(on hub: Hub) {
        self.hub = hub
        hub.onStreamRepair(Self.streamPrefix) { [unowned self] gap in repair(gap) }
        hub.route("POST", "/v1/notify", caller: .backend) { [unowned self] call throws(HubError) in
            try notifyRoute(call)
        }
        hub.route("GET", "/v1/notifications", caller: .user) { [unowned self] call throws(HubError) in
            try listRoute(call)
        }
        hub.route("POST", "/v1/notifications/read", caller: .user) { [unowned self] call throws(HubError) in
            try markReadRoute(call)
        }
        hub.gateWelcome { [unowned self] admission, welcome in admit(admission, welcome) }
        hub.resumeUserChannel { [unowned self] request in
            resume(request.connection, user: request.principal.user, since: request.since ?? 0, requestID: request.requestID)
        }
        hub.onDeparture { [unowned self] connection, _ in
            queuedResumes[connection] = nil
            heldWelcomes[connection] = nil
        }
    }

    /// Resumes asked while another resume of the same connection's stream
    /// was being read: each runs after the one before it, so each is
    /// answered once and no live notification is lost between them.
    private var queuedResumes: [ConnectionID: [(requestID: RequestID?, since: Int64)]] = [:]

    // MARK: Welcome

    /// The welcomes waiting for the newest notification id, per connection.
    private var heldWelcomes: [ConnectionID: (ServerFrame.LastNotification) -> Void] = [:]

    /// Reads the user's newest notification for `welcome`. Live
    /// notifications committed meanwhile wait at the stream's seam: after
    /// `welcome` they go out past that id (none lost, none twice), or the
    /// replay asked with `since` takes them over.
    private func admit(_ admission: Admission, _ welcome: @escaping (ServerFrame.LastNotification) -> Void) {
        let id = admission.connection
        let user = admission.principal.user
        hub.beginResume(id, stream: Self.stream(user), requestID: admission.requestID, since: admission.since)
        heldWelcomes[id] = welcome
        store.newestNotificationID(
            user: user,
            reply: Reply(on: hub.loop, to: self) { me, result in
                me.welcomed(admission, result)
            })
    }

    private func welcomed(_ admission: Admission, _ result: Result<Int64, HubError>) {
        let id = admission.connection
        let user = admission.principal.user
        guard let welcome = heldWelcomes.removeValue(forKey: id), hub.isResuming(id, stream: Self.stream(user)) else {
            return  // it left
        }
        var newest: Int64 = 0
        switch result {
        case .success(0): welcome(.none)
        case .success(let last): welcome(.id(last)); newest = last
        case .failure: welcome(.unknown)
        }
        if let since = admission.since {
            if since >= 0 {
                readReplay(id, user: user, since: since)
                return
            }
            hub.refuse(
                HubError(.badRequest, "'since' must be a notification id (a string of digits or an integer ≥ 0)"),
                requestID: admission.requestID, on: id)
        }
        guard let pending = hub.endResume(id, stream: Self.stream(user)) else { return }
        hub.completeResume(id, stream: Self.stream(user), pending, deliveredUpTo: newest)
        startQueuedResume(id, user: user)
    }

    /// The ordered stream of a user's notifications (ids increase with commits).
    static func stream(_ user: String) -> String { streamPrefix + ":" + user }
    static let streamPrefix = "notifications"

    /// Reads a user's notifications this node may have missed while the
    /// link to the other nodes was down and delivers them to the user's
    /// connections here; the delivery drops what was sent already.
    private func repair(_ gap: StreamGap) {
        let user = String(gap.stream.dropFirst(Self.streamPrefix.utf8.count + 1))
        store.notificationsSince(
            user: user, since: gap.after, limit: Self.replayCap,
            reply: Reply(on: hub.loop, to: self) { me, result in
                guard case .success(let missed) = result else { return }
                for n in missed.items {
                    me.hub.deliverRepaired(
                        Publication(
                            channel: gap.channel, frame: ServerFrame.notification(n, replay: false),
                            position: StreamPosition(stream: gap.stream, seq: n.id)))
                }
            })
    }

    /// Publishes committed notifications on their users' channels.
    public func publish(_ notifications: [StoredNotification]) {
        // Fault injection for the crash test: die after the commit, before the push.
        if crashAfterCommit { abort() }
        for n in notifications {
            // A connection replaying its missed notifications gets this one
            // after the replay, or in it: never twice (the stream position).
            hub.publish(
                Publication(
                    channel: ChannelName.user(n.user), frame: ServerFrame.notification(n, replay: false),
                    position: StreamPosition(stream: Self.stream(n.user), seq: n.id)))
        }
    }

    // MARK: Replay on connect and on subscribe

    /// `subscribe` to the caller's `user:` channel with `since`: the same
    /// catch-up as `auth`'s `since`, after any resume still being read.
    private func resume(_ id: ConnectionID, user: String, since: Int64, requestID: RequestID?) {
        if hub.isResuming(id, stream: Self.stream(user)) {
            queuedResumes[id, default: []].append((requestID, since))
            return
        }
        hub.beginResume(id, stream: Self.stream(user), requestID: requestID, since: since)
        readReplay(id, user: user, since: since)
    }

    private func startQueuedResume(_ id: ConnectionID, user: String) {
        guard var queue = queuedResumes[id], !queue.isEmpty else { return }
        let next = queue.removeFirst()
        queuedResumes[id] = queue.isEmpty ? nil : queue
        resume(id, user: user, since: next.since, requestID: next.requestID)
    }

    private func readReplay(_ id: ConnectionID, user: String, since: Int64) {
        store.notificationsSince(
            user: user, since: since, limit: Self.replayCap + 1,
            reply: Reply(on: hub.loop, to: self) { me, result in
                me.finishReplay(id, user: user, since: since, result)
            })
    }

    private func finishReplay(_ id: ConnectionID, user: String, since: Int64, _ result: Result<MissedNotifications, HubError>) {
        guard let pending = hub.endResume(id, stream: Self.stream(user)) else { return }
        var last = since
        var recovered = true
        switch result {
        case .success(let missed) where since > missed.newestID:
            // A cursor from the future: keeping it would silently drop every
            // live notification up to it. Say so, with the true position.
            recovered = false
            last = missed.newestID
        case .success(let missed) where missed.items.count <= Self.replayCap:
            guard let frames = hub.replayFrames(missed.items.map { ServerFrame.notification($0, replay: true) }) else {
                recovered = false
                break
            }
            for frame in frames { hub.send(frame, to: id) }
            last = max(last, missed.items.last?.id ?? last)
        case .success:
            recovered = false
        case .failure:
            recovered = false
            hub.send(
                ServerFrame.error(
                    id: nil, code: .unavailable,
                    message: "notification replay failed; page GET /v1/notifications?after="), to: id)
        }
        hub.send(
            ServerFrame.notificationsReplayed(
                id: pending.requestID, channel: ChannelName.user(user),
                lastID: last, recovered: recovered), to: id)
        // The seam: what was committed while the replay was read and is not
        // in it goes out now, in order, once.
        hub.completeResume(id, stream: Self.stream(user), pending, deliveredUpTo: last)
        startQueuedResume(id, user: user)
    }

    // MARK: Routes

    /// POST /v1/notify (backends).
    private func notifyRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let notify = try NotifyRequestDecoder.decode(try call.jsonObject(), idempotencyKey: call.request.idempotencyKey)
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.notify(
            notify,
            reply: Reply(on: hub.loop, to: self) { me, result in
                switch result {
                case .success(let outcome):
                    me.publish(outcome.created)
                    me.hub.respond(
                        id,
                        .json(
                            outcome.duplicate ? 200 : 201,
                            .object([
                                "notified": .int(Int64(outcome.notified)), "duplicate": .bool(outcome.duplicate),
                            ])))
                case .failure(let error):
                    me.hub.respond(id, .error(error))
                }
            })
        return nil
    }

    /// GET /v1/notifications?after=&limit=&unread= (the caller's own).
    private func listRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let query = call.request.query
        var after: Int64?
        if let text = query["after"] {
            guard let value = NotificationID.parse(text) else { throw HubError(.badRequest, "'after' must be a notification id") }
            after = value
        }
        let limit = query["limit"].map { Int($0) ?? 0 } ?? 50
        guard (1...200).contains(limit) else { throw HubError(.badRequest, "'limit' must be 1 to 200") }
        let unreadText = query["unread"] ?? "false"
        guard unreadText == "true" || unreadText == "false" else { throw HubError(.badRequest, "'unread' must be true or false") }
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.notifications(
            user: call.user, after: after, unreadOnly: unreadText == "true", limit: limit,
            reply: Reply(on: hub.loop, to: self) { me, result in
                me.hub.respond(id, result.map(Self.pageResponse).get(or: { .error($0) }))
            })
        return nil
    }

    private static func pageResponse(_ page: NotificationPage) -> HTTPResponse {
        var w = JSONWriter(capacity: 256 + page.items.count * 300)
        w.raw("{\"notifications\":[")
        for (i, n) in page.items.enumerated() {
            w.raw(i == 0 ? "{" : ",{")
            w.raw("\"user\":"); w.string(n.user)
            ServerFrame.writeNotification(n, into: &w)
            w.raw("}")
        }
        w.raw("]")
        w.key("unread_count"); w.int(Int64(page.unread))
        w.key("last_id"); if let last = page.items.last { w.string(String(last.id)) } else { w.raw("null") }
        w.raw("}")
        return HTTPResponse(status: 200, body: w.bytes)
    }

    /// POST /v1/notifications/read {"ids":[…]} or {"up_to":id}.
    private func markReadRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let body = try call.jsonObject()
        var ids: [Int64]?
        var upTo: Int64?
        if case .array(let list)? = body["ids"] {
            let values = list.compactMap(NotificationID.read)
            guard values.count == list.count, !values.isEmpty, values.count <= 1000 else {
                throw HubError(.badRequest, "'ids' must be 1 to 1,000 notification ids")
            }
            ids = values
        } else if let field = body["up_to"] {
            guard let value = NotificationID.read(field), value > 0 else {
                throw HubError(.badRequest, "'up_to' must be a notification id")
            }
            upTo = value
        } else {
            throw HubError(.missingField, "give 'ids' or 'up_to'")
        }
        guard hub.isStoreAvailable else { throw .unavailable }
        let id = call.id
        store.markNotificationsRead(
            user: call.user, ids: ids, upTo: upTo,
            reply: Reply(on: hub.loop, to: self) { me, result in
                me.hub.respond(
                    id,
                    result.map {
                        .json(
                            200,
                            .object([
                                "marked": .int(Int64($0.marked)),
                                "unread_count": .int(Int64($0.unread)),
                            ]))
                    }
                    .get(or: { .error($0) }))
            })
        return nil
    }
}
