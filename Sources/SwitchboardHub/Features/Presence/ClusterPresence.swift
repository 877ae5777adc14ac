// Presence across the nodes of a cluster, as a value-type state machine
// with an injected clock: it knows which users each other node holds (online
// there, or within the grace there) and returns what the feature must do.
//
// Each node sends the others its changes as deltas with a sequence number,
// and heartbeats carrying the last one; a node that sees a gap, or a node
// it does not know, asks that node for a snapshot. A node silent for the
// timeout is dropped: its users that no other node holds go offline, told
// by ONE survivor (the alive node with the smallest name). A user's change
// is announced by the node where it happens, and only when the cluster-wide
// state changes: the first node to hold a user announces them online, the
// last to let go announces them offline. With one node nothing is sent and
// every change is announced, exactly as without a cluster.
import SwitchboardWire

/// What the other nodes hold, and what to tell them.
public struct ClusterPresence: Sendable {
    /// Who hears a presence announcement.
    public enum Scope: Equatable, Sendable {
        /// Every node's subscribers (`hub.publish`).
        case cluster
        /// This node's subscribers only: they alone were told the opposite
        /// while this node was cut off.
        case local
    }

    /// What the feature does.
    public enum Action: Equatable, Sendable {
        /// A control message for every other node (topic `presence`).
        case broadcast(JSON)
        /// Tell `user`'s contacts they are online.
        case online(String, Scope)
        /// Tell `user`'s contacts they are offline since `atMillis`; when
        /// `record`, their node is gone and this node writes `last_seen`.
        case offline(String, atMillis: Int64, record: Bool)
    }

    /// The control topic.
    public static let topic = "presence"
    /// This node's name.
    public let node: String
    /// How long another node may stay silent.
    public let timeoutMillis: Int64
    /// How often this node heartbeats (and re-asks for a missing snapshot).
    public var heartbeatMillis: Int64 { max(timeoutMillis / 5, 1) }

    private struct Peer {
        var incarnation: Int64
        var seq: Int64 = 0
        var users: Set<String> = []
        var lastHeardMillis: Int64
        var synced = false
        var askedMillis: Int64?
        /// Set when the node restarted: its previous run was last heard
        /// then, and held `users` until the new run's snapshot says otherwise.
        var previousRunHeardMillis: Int64?
        /// A snapshot being received: its seq, next part, users so far.
        var pending: (seq: Int64, next: Int, users: Set<String>)?
    }

    private enum Change { case on, off(atMillis: Int64, announced: Bool) }

    /// This run of the node: a restarted node with the same name is new.
    private let incarnation: Int64
    private var seq: Int64 = 0
    private var local: Set<String> = []
    private var outbox: [String: Change] = [:]
    private var peers: [String: Peer] = [:]
    /// Users this node let go while another held them: when that node
    /// lets go too without having told anybody, one of the two must.
    private var deferred: [String: Int64] = [:]
    /// Nodes dropped for silence (their run, and whether this node's own
    /// link was down then): their users coming back are announced again.
    private var dropped: [String: (incarnation: Int64, whileCut: Bool, atMillis: Int64)] = [:]
    private var linkUp = true
    private var snapshotDue = false
    private var lastSentMillis: Int64?

    /// Most other nodes this node keeps track of.
    static let maxPeers = 1_000

    /// The state of node `node` started at `incarnation` (its start time).
    public init(node: String, timeoutMillis: Int64, incarnation: Int64) {
        self.node = node
        self.timeoutMillis = max(timeoutMillis, 1)
        self.incarnation = incarnation
    }

    /// Whether another node holds `user`.
    public func isHeldElsewhere(_ user: String) -> Bool { peers.values.contains { $0.users.contains(user) } }

    /// `user` became online on this node; true when this node announces it
    /// (no other node holds them).
    public mutating func localOnline(_ user: String) -> Bool {
        local.insert(user)
        deferred[user] = nil
        outbox[user] = .on
        return !isHeldElsewhere(user)
    }

    /// `user` is offline on this node (grace over) since `atMillis`; true
    /// when this node announces it (no other node holds them).
    public mutating func localOffline(_ user: String, atMillis: Int64) -> Bool {
        local.remove(user)
        let announce = !isHeldElsewhere(user)
        outbox[user] = .off(atMillis: atMillis, announced: announce)
        if !announce { deferred[user] = atMillis }
        return announce
    }

    /// Periodic work: drops silent nodes, sends changes, a snapshot when
    /// asked, a heartbeat when due, and asks again for missing snapshots.
    public mutating func tick(nowMillis now: Int64) -> [Action] {
        var actions: [Action] = []
        let silent = peers.filter { now - $0.value.lastHeardMillis >= timeoutMillis }
        // Every silent node goes first, so the announcer is chosen among the living.
        for name in silent.keys { peers[name] = nil }
        for (name, peer) in silent.sorted(by: { $0.key < $1.key }) { actions += drop(name, peer) }
        if !outbox.isEmpty { actions += sendChanges(now) }
        if snapshotDue { actions += sendSnapshot(now) }
        if lastSentMillis.map({ now - $0 >= heartbeatMillis }) ?? true {
            actions.append(send(.heartbeat(incarnation: incarnation, seq: seq), now))
        }
        for name in peers.keys.sorted() where !peers[name]!.synced {
            if let ask = ask(name, now) { actions.append(ask) }
        }
        return actions
    }

    /// This node's link was lost (`up` false) or is back: then it asks every
    /// node for a snapshot and sends its own.
    public mutating func linkChanged(up: Bool, nowMillis now: Int64) -> [Action] {
        linkUp = up
        guard up else { return [] }
        for name in peers.keys {
            peers[name]!.synced = false
            peers[name]!.askedMillis = now
        }
        snapshotDue = true
        return [.broadcast(ClusterPresenceMessage.request(target: nil).json)]
    }

    /// A control message from node `from`.
    public mutating func received(from: String, _ body: JSON, nowMillis now: Int64) -> [Action] {
        guard from != node, let message = ClusterPresenceMessage(body) else { return [] }
        let sentIncarnation: Int64
        switch message {
        case .request(let target):
            if target == nil || target == node { snapshotDue = true }
            return []
        case .heartbeat(let i, _), .delta(let i, _, _, _), .snapshot(let i, _, _, _, _):
            sentIncarnation = i
        }
        var actions: [Action] = []
        if let known = peers[from], known.incarnation != sentIncarnation {
            // A message from before the node restarted is stale.
            guard sentIncarnation > known.incarnation else { return [] }
            // The node restarted: what its previous run held is gone, save
            // what its new run's snapshot holds again.
            var restarted = Peer(incarnation: sentIncarnation, lastHeardMillis: now)
            restarted.users = known.users
            restarted.previousRunHeardMillis = known.previousRunHeardMillis ?? known.lastHeardMillis
            peers[from] = restarted
        }
        if peers[from] == nil {
            guard peers.count < Self.maxPeers else { return actions }
            // A run starts holding nobody at seq 0: a node not heard of
            // before is known from its first delta on (a later seq is a gap,
            // and a snapshot is asked for). Its first delta may come before
            // its first snapshot, and it may die before sending one.
            peers[from] = Peer(incarnation: sentIncarnation, lastHeardMillis: now, synced: true)
        }
        peers[from]!.lastHeardMillis = now
        let peer = peers[from]!
        switch message {
        case .heartbeat(_, let seq):
            if !peer.synced || seq != peer.seq { actions += resync(from, now) }
        case .delta(_, let seq, let on, let off):
            if peer.synced && seq > 0 && seq - 1 == peer.seq {
                actions += apply(from, seq: seq, on: on, off: off)
            } else if !peer.synced || seq > peer.seq {
                actions += resync(from, now)
            }
        case .snapshot(_, let seq, let part, let parts, let users):
            actions += snapshotPart(from, seq: seq, part: part, parts: parts, users: users, now)
        case .request:
            break
        }
        return actions
    }

    // MARK: Receiving

    private mutating func apply(_ from: String, seq: Int64, on: [String], off: [ClusterPresenceMessage.Departure])
        -> [Action]
    {
        peers[from]!.seq = seq
        peers[from]!.users.formUnion(on)
        var actions: [Action] = []
        for departure in off {
            guard peers[from]!.users.remove(departure.user) != nil else { continue }
            actions += letGo(departure.user, by: from, atMillis: departure.atMillis, announced: departure.announced)
        }
        return actions
    }

    private mutating func snapshotPart(
        _ from: String, seq: Int64, part: Int, parts: Int, users: [String], _ now: Int64
    ) -> [Action] {
        var peer = peers[from]!
        if part == 0 {
            peer.pending = (seq, 0, [])
        }
        guard var pending = peer.pending, pending.seq == seq, pending.next == part else {
            peers[from]!.pending = nil
            return resync(from, now)
        }
        pending.users.formUnion(users)
        pending.next += 1
        guard part == parts - 1 else {
            peers[from]!.pending = pending
            return []
        }
        peers[from]!.pending = nil
        // An older snapshot than the deltas already applied says nothing new.
        guard !peer.synced || seq >= peer.seq else { return [] }
        let before = peer.users
        peers[from]!.users = pending.users
        peers[from]!.seq = seq
        peers[from]!.synced = true
        peers[from]!.askedMillis = nil
        peers[from]!.previousRunHeardMillis = nil
        var actions: [Action] = []
        for user in before.subtracting(pending.users).sorted() {
            if let previousRun = peer.previousRunHeardMillis {
                actions += gone(user, lastHeardMillis: previousRun, announcer: isAnnouncer(excluding: from))
            } else {
                actions += letGo(user, by: from, atMillis: nil, announced: false)
            }
        }
        if let (incarnation, whileCut, _) = dropped.removeValue(forKey: from), incarnation == peer.incarnation {
            // A node this node had dropped is back: its users were told
            // offline, and are online again.
            let announcer = !whileCut && isAnnouncer(excluding: from)
            for user in pending.users.subtracting(before).sorted() where !local.contains(user) {
                let elsewhere = peers.contains { $0.key != from && $0.value.users.contains(user) }
                if elsewhere { continue }
                if whileCut {
                    actions.append(.online(user, .local))
                } else if announcer {
                    actions.append(.online(user, .cluster))
                }
            }
        }
        return actions
    }

    /// Node `by` no longer holds `user`. When nobody does now, and `by` did
    /// not announce it because it saw this node hold them, one of the two
    /// announces: the one with the smaller name.
    private mutating func letGo(_ user: String, by: String, atMillis: Int64?, announced: Bool) -> [Action] {
        guard !local.contains(user), !isHeldElsewhere(user), let mine = deferred.removeValue(forKey: user) else {
            return []
        }
        guard !announced, node < by else { return [] }
        return [.offline(user, atMillis: max(mine, atMillis ?? mine), record: false)]
    }

    /// Node `name` went silent: its users that nobody else holds are
    /// offline since it was last heard, told by one survivor. If the same
    /// run comes back, its users are announced online again then.
    private mutating func drop(_ name: String, _ peer: Peer) -> [Action] {
        // Nodes named host:pid never come back after a restart: the oldest go.
        if dropped.count >= Self.maxPeers, let oldest = dropped.min(by: { $0.value.atMillis < $1.value.atMillis }) {
            dropped[oldest.key] = nil
        }
        dropped[name] = (peer.incarnation, !linkUp, peer.lastHeardMillis)
        let announcer = isAnnouncer(excluding: name)
        return peer.users.sorted().flatMap {
            gone($0, lastHeardMillis: peer.previousRunHeardMillis ?? peer.lastHeardMillis, announcer: announcer)
        }
    }

    /// The node that held `user` is gone (or restarted without them).
    private mutating func gone(_ user: String, lastHeardMillis: Int64, announcer: Bool) -> [Action] {
        guard !local.contains(user), !isHeldElsewhere(user) else { return [] }
        deferred[user] = nil
        return announcer ? [.offline(user, atMillis: lastHeardMillis, record: true)] : []
    }

    /// This node is the alive node with the smallest name.
    private func isAnnouncer(excluding: String) -> Bool {
        !peers.keys.contains { $0 != excluding && $0 < node }
    }

    private mutating func resync(_ from: String, _ now: Int64) -> [Action] {
        peers[from]!.synced = false
        return ask(from, now).map { [$0] } ?? []
    }

    /// Asks `name` for a snapshot, at most once per heartbeat interval.
    private mutating func ask(_ name: String, _ now: Int64) -> Action? {
        if let asked = peers[name]!.askedMillis, now - asked < heartbeatMillis { return nil }
        peers[name]!.askedMillis = now
        return .broadcast(ClusterPresenceMessage.request(target: name).json)
    }

    // MARK: Sending

    private mutating func send(_ message: ClusterPresenceMessage, _ now: Int64) -> Action {
        lastSentMillis = now
        return .broadcast(message.json)
    }

    private mutating func sendChanges(_ now: Int64) -> [Action] {
        let changes = outbox.sorted { $0.key < $1.key }
        outbox = [:]
        var actions: [Action] = []
        for chunk in ClusterPresenceMessage.chunks(changes, bytes: { $0.key.utf8.count + 32 }) {
            var on: [String] = []
            var off: [ClusterPresenceMessage.Departure] = []
            for (user, change) in chunk {
                switch change {
                case .on: on.append(user)
                case .off(let at, let announced): off.append(.init(user: user, atMillis: at, announced: announced))
                }
            }
            seq += 1
            actions.append(send(.delta(incarnation: incarnation, seq: seq, on: on, off: off), now))
        }
        return actions
    }

    private mutating func sendSnapshot(_ now: Int64) -> [Action] {
        snapshotDue = false
        var parts = ClusterPresenceMessage.chunks(local.sorted(), bytes: { $0.utf8.count + 3 })
        if parts.isEmpty { parts = [[]] }
        return parts.indices.map { index in
            send(
                .snapshot(incarnation: incarnation, seq: seq, part: index, parts: parts.count, users: parts[index]), now)
        }
    }
}
