// Presence: a user is online from their first connection to their last
// (plus a grace), on any node of the cluster. Changes go to the user's
// contacts — everyone who shares a conversation the user took part in — on
// their `user:` channels; queries (the `presence` frame, GET /v1/presence)
// are answered for contacts only, for the whole cluster. This node's own
// connections are tracked by PresenceTracker, the other nodes' users by
// ClusterPresence; this object performs what they decide.
import SwitchboardWire

/// The presence feature.
public final class PresenceFeature: HubFeature {
    private let store: PresenceStore
    private unowned var hub: Hub!
    private var tracker: PresenceTracker
    private let nodeTimeoutMillis: Int64
    private var cluster: ClusterPresence
    private var clustered = false
    /// For users online on this node: who shares a conversation with them.
    private var contacts: [String: Set<String>] = [:]

    /// Presence over `store`; a user with no connection stays online for
    /// `graceMillis`; another node silent for `nodeTimeoutMillis` is gone.
    public init(store: PresenceStore, graceMillis: Int64, nodeTimeoutMillis: Int64 = 15_000) {
        self.store = store
        self.tracker = PresenceTracker(graceMillis: graceMillis)
        self.nodeTimeoutMillis = nodeTimeoutMillis
        self.cluster = ClusterPresence(node: "local", timeoutMillis: nodeTimeoutMillis, incarnation: 0)
    }

    public func install(on hub: Hub) {
        self.hub = hub
        cluster = ClusterPresence(
            node: hub.broker.node, timeoutMillis: nodeTimeoutMillis, incarnation: hub.clock.nowMillis())
        hub.handleFrames("presence") { [unowned self] call in
            guard case .presence(let requestID, let users) = call.frame else { return }
            query(asker: call.principal.user, users: users, for: .frame(call.connection, requestID: requestID))
        }
        hub.route("GET", "/v1/presence", caller: .user) { [unowned self] call throws(HubError) in
            try presenceRoute(call)
        }
        hub.onAdmission { [unowned self] admission in admitted(admission.principal.user) }
        hub.onDeparture { [unowned self] _, principal in
            tracker.disconnected(principal.user, nowMillis: hub.clock.nowMillis())
        }
        // One node (the in-process broker) has no other node to hear of.
        clustered = hub.broker.kind != "memory"
        hub.every(millis: 250) { [unowned self] in
            let now = hub.clock.nowMillis()
            for change in tracker.tick(nowMillis: now) {
                guard case .offline(let user, let at) = change else { continue }
                if !clustered || cluster.localOffline(user, atMillis: at) {
                    announce(change)
                } else {
                    contacts[user] = nil  // another node holds them; it tells
                }
            }
        }
        guard clustered else { return }
        // Changes reach the other nodes in batches at most 50 ms old: a
        // burst of connections costs the broker a few messages, not one each.
        hub.every(millis: 50) { [unowned self] in perform(cluster.tick(nowMillis: hub.clock.nowMillis())) }
        hub.broker.onControl(ClusterPresence.topic) { [unowned self] from, body in
            perform(cluster.received(from: from, body, nowMillis: hub.clock.nowMillis()))
        }
        hub.broker.onLinkChange { [unowned self] up in
            perform(cluster.linkChanged(up: up, nowMillis: hub.clock.nowMillis()))
        }
    }

    /// Whether `user` counts as online (a connection, or within the grace)
    /// on any node.
    public func isOnline(_ user: String) -> Bool { tracker.isOnline(user) || cluster.isHeldElsewhere(user) }

    /// A member took part in a conversation (created it, sent in it): the
    /// other members become contacts who see the member's presence. Being
    /// added by somebody else makes nobody a contact.
    public func tookPart(_ member: String, members: [String]) {
        guard let known = contacts[member], !known.isSuperset(of: members.lazy.filter { $0 != member }) else { return }
        let met = members.filter { $0 != member && !known.contains($0) }
        contacts[member]?.formUnion(met)
        // The new contacts learn at once that the member is online.
        guard tracker.isOnline(member) else { return }
        let frame = ServerFrame.presenceChange(user: member, online: true, lastSeenMillis: nil)
        for contact in met { hub.publish(Publication(channel: ChannelName.user(contact), frame: frame)) }
    }

    private func admitted(_ user: String) {
        // Online on this node; announced only when no other node held them.
        let local = tracker.connected(user)
        let change = local != nil && (!clustered || cluster.localOnline(user)) ? local : nil
        if contacts[user] != nil {
            if let change { announce(change) }
            return
        }
        store.contacts(
            of: user,
            reply: Reply(on: hub.loop, to: self) { presence, result in
                guard case .success(let list) = result else { return }
                // Still online (or within the grace) by the time the answer came?
                guard presence.tracker.isOnline(user) else { return }
                presence.contacts[user] = Set(list)
                if let change { presence.announce(change) }
            })
    }

    /// Tells the user's contacts.
    private func announce(_ change: PresenceTracker.Change) {
        // The other nodes first learn that this node holds the user (the
        // pending deltas go now, not at the next tick): a node that dies
        // right after its announcement still has the user announced
        // offline by the survivors (found by ClusterEndToEndTests).
        if clustered { perform(cluster.tick(nowMillis: hub.clock.nowMillis())) }
        let frame: OutboundFrame
        let user: String
        switch change {
        case .online(let u):
            user = u
            frame = ServerFrame.presenceChange(user: u, online: true, lastSeenMillis: nil)
        case .offline(let u, let at):
            user = u
            frame = ServerFrame.presenceChange(user: u, online: false, lastSeenMillis: at)
        }
        for contact in contacts[user] ?? [] { hub.publish(Publication(channel: ChannelName.user(contact), frame: frame)) }
        if case .offline = change { contacts[user] = nil }
    }

    /// Performs what the cluster state decided.
    private func perform(_ actions: [ClusterPresence.Action]) {
        for action in actions {
            switch action {
            case .broadcast(let body):
                hub.broker.broadcast(topic: ClusterPresence.topic, body)
            case .online(let user, let scope):
                tellContacts(of: user, online: true, lastSeenMillis: nil, scope)
            case .offline(let user, let at, let record):
                // Their node is gone and cannot write when they were last seen.
                if record { hub.store.recordDisconnect(user: user, atMillis: at) }
                tellContacts(of: user, online: false, lastSeenMillis: at, .cluster)
            }
        }
    }

    /// Announces a change of a user this node may not hold: their contacts
    /// come from the store.
    private func tellContacts(of user: String, online: Bool, lastSeenMillis: Int64?, _ scope: ClusterPresence.Scope) {
        store.contacts(
            of: user,
            reply: Reply(on: hub.loop, to: self) { presence, result in
                guard case .success(let list) = result else { return }
                // Changed again by the time the answer came: that change is told instead.
                guard presence.isOnline(user) == online else { return }
                let frame = ServerFrame.presenceChange(user: user, online: online, lastSeenMillis: lastSeenMillis)
                for contact in list {
                    let publication = Publication(channel: ChannelName.user(contact), frame: frame)
                    if scope == .cluster { presence.hub.publish(publication) } else { _ = presence.hub.deliver(publication) }
                }
            })
    }

    /// Who asked: a `presence` frame, or GET /v1/presence.
    private enum Asker: Sendable {
        case frame(ConnectionID, requestID: RequestID?)
        case request(HTTPRequestID)
    }

    private func query(asker: String, users: [String], for target: Asker) {
        store.presence(
            asker: asker, users: users,
            reply: Reply(on: hub.loop, to: self) { presence, result in
                presence.answer(target, users: users, result)
            })
    }

    private func answer(_ target: Asker, users: [String], _ result: Result<[String: Int64?], HubError>) {
        // Users the asker shares no conversation with are left out, not
        // reported offline: nothing about them is revealed.
        let answer = result.map { visible in
            users.filter { visible.keys.contains($0) }.map { user in
                (user: user, online: isOnline(user), lastSeenMillis: visible[user] ?? nil)
            }
        }
        switch (target, answer) {
        case (.frame(let connection, let requestID), .success(let users)):
            hub.send(ServerFrame.presenceState(id: requestID, users: users), to: connection)
        case (.frame(let connection, let requestID), .failure(let error)):
            hub.refuse(error, requestID: requestID, on: connection)
        case (.request(let id), .success(let users)):
            hub.respond(
                id,
                .json(
                    200,
                    .object([
                        "users": .array(
                            users.map { u in
                                .object([
                                    "user": .string(u.user), "online": .bool(u.online),
                                    "last_seen": u.lastSeenMillis.map(JSON.int) ?? .null,
                                ])
                            })
                    ])))
        case (.request(let id), .failure(let error)):
            hub.respond(id, .error(error))
        }
    }

    /// GET /v1/presence?users=a,b
    private func presenceRoute(_ call: RouteCall) throws(HubError) -> HTTPResponse? {
        let users = (call.request.query["users"] ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        guard !users.isEmpty, users.count <= 200 else { throw HubError(.badRequest, "'users' must list 1 to 200 user ids") }
        guard hub.isStoreAvailable else { throw .unavailable }
        query(asker: call.user, users: users, for: .request(call.id))
        return nil
    }
}
