// Scan counters across the nodes of a cluster. The node that commits scans
// tells the others the committed absolute counts (`scans` control messages,
// ScanCountsCodec), the commits of one tick of the loop merged into one
// message (split when large); each node merges them into its own board exactly as its
// own commits (largest wins, so repeats and reordering are harmless) and
// coalesces frames for its own subscribers. What a cut link lost is repaired
// by snapshot: when this node's link is back, every channel it watches is
// reloaded from the store (the read a new subscriber's snapshot takes) and
// sent; so is every watched channel when another node says it had to drop
// messages (`cluster.missed`: this node may have missed its counts). One
// node: broadcasts go nowhere and the link never changes.
import SwitchboardWire

/// What the cluster side of the scans feature remembers.
struct ScanClusterState {
    /// Control messages from other nodes refused as malformed or hostile.
    var refused = 0
    /// The link went down and has not come back yet.
    var linkLost = false
    /// A reload of every watched channel waits for `repairMinMillis`.
    var repairDue = false
    var lastRepairMillis: Int64 = .min / 2
    /// Channels whose reload failed: tried again at the next sweep.
    var retries: Set<ScanChannel> = []
    /// Counts committed since the last tick, merged per code: the next
    /// tick tells them to the other nodes.
    var outbox: [QRCodeID: ScanCounts] = [:]
}

extension ScansFeature {
    /// Least time between two reloads of every watched channel: another node
    /// saying again and again that it missed messages costs this node one
    /// read per channel per second.
    static let repairMinMillis: Int64 = 1_000

    func installCluster(on hub: Hub) {
        hub.broker.onControl(ScanCountsCodec.topic) { [unowned self] _, body in received(body) }
        // Sent by the broker of a node that had to drop messages (its link
        // was down or full) once it can: its counts may be among them.
        hub.broker.onControl(ClusterBroker.missedTopic) { [unowned self] _, _ in requestRepair() }
        hub.broker.onLinkChange { [unowned self] up in linkChanged(up) }
    }

    /// Queues what this node committed for the other nodes (`sendOutbox`);
    /// one node has nobody to tell.
    func broadcast(_ all: [ScanCounts]) {
        guard hub.broker.kind != "memory" else { return }
        for counts in all { cluster.outbox[counts.qr] = cluster.outbox[counts.qr]?.merged(with: counts) ?? counts }
    }

    /// Called every tick: tells the other nodes what was committed since the
    /// last one, in one message unless it is large (the link carries one
    /// message per tick, not one per commit).
    func sendOutbox() {
        guard !cluster.outbox.isEmpty else { return }
        let all = cluster.outbox.values.sorted { $0.qr < $1.qr }
        cluster.outbox = [:]
        for body in ScanCountsCodec.messages(all) { hub.broker.broadcast(topic: ScanCountsCodec.topic, body) }
    }

    private func received(_ body: JSON) {
        guard let all = ScanCountsCodec.decode(body) else { return refuse() }
        merge(all)
    }

    private func refuse() {
        cluster.refused += 1
        hub.metrics.brokerMalformed.increment()
    }

    private func linkChanged(_ up: Bool) {
        guard up else {
            cluster.linkLost = true
            return
        }
        // The first `true`, at start, repairs nothing.
        guard cluster.linkLost else { return }
        cluster.linkLost = false
        requestRepair()
    }

    // MARK: Repair by snapshot

    /// Reloads every watched channel now, or once `repairMinMillis` has
    /// passed since the last time.
    func requestRepair() {
        cluster.repairDue = true
        repairIfDue()
    }

    /// Called every tick: runs a requested repair when its time has come.
    func repairIfDue() {
        guard cluster.repairDue else { return }
        let now = hub.clock.nowMillis()
        guard now - cluster.lastRepairMillis >= Self.repairMinMillis else { return }
        cluster.repairDue = false
        cluster.lastRepairMillis = now
        for channel in watchedChannels() { reload(channel) }
    }

    /// Reloads the channels whose last reload failed.
    func retryRepairs() {
        let channels = cluster.retries
        cluster.retries = []
        for channel in channels where hub.hasSubscribers(channel.name) { reload(channel) }
    }

    /// Channels with a subscriber on this node whose counters are on the
    /// board (one still waiting for its first snapshot gets it from the store).
    private func watchedChannels() -> [ScanChannel] {
        var out: [ScanChannel] = []
        for (qr, code) in board.codes where code.loaded && codeWaiters[qr] == nil {
            if hub.hasSubscribers(ScanChannel.code(qr).name) { out.append(.code(qr)) }
        }
        for (owner, load) in board.owners where load == .loaded && ownerWaiters[owner] == nil {
            if hub.hasSubscribers(ScanChannel.owner(owner).name) { out.append(.owner(owner)) }
        }
        return out
    }

    /// Reads the channel's counters as a new subscriber's snapshot would,
    /// merges them and sends the channel a frame with every code.
    private func reload(_ channel: ScanChannel) {
        hub.metrics.brokerRepairs.increment()
        let (sinceMinute, sinceDay) = snapshotWindow()
        switch channel {
        case .code(let qr):
            store.counters(
                qr: qr, sinceMinute: sinceMinute, sinceDay: sinceDay,
                reply: Reply(on: hub.loop, to: self) { me, result in
                    me.reloaded(channel, result.map { $0.map { [$0] } ?? [] })
                })
        case .owner(let owner):
            store.counters(
                owner: owner, sinceMinute: sinceMinute, sinceDay: sinceDay, limit: Self.ownerCodeCap,
                reply: Reply(on: hub.loop, to: self) { me, result in me.reloaded(channel, result) })
        }
    }

    private func reloaded(_ channel: ScanChannel, _ result: Result<[ScanCounts], HubError>) {
        guard hub.hasSubscribers(channel.name) else { return }
        switch result {
        case .success(let all):
            let now = hub.clock.nowMillis()
            for counts in all { board.loaded(counts, nowMillis: now) }
            board.touch(channel)
            flush()
        case .failure:
            cluster.retries.insert(channel)
        }
    }
}

extension ScanCounts {
    /// Both counts in one, the larger value per key (counts only grow).
    func merged(with newer: ScanCounts) -> ScanCounts {
        func max<K>(_ a: [K: Int64], _ b: [K: Int64]) -> [K: Int64] { a.merging(b) { Swift.max($0, $1) } }
        return ScanCounts(
            qr: qr, owner: newer.owner, label: newer.label ?? label, total: Swift.max(total, newer.total),
            days: max(days, newer.days), minutes: max(minutes, newer.minutes), devices: max(devices, newer.devices),
            countries: max(countries, newer.countries))
    }
}
