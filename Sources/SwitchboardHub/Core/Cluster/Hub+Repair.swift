// Filling what this node's subscribers missed: a hole in a conversation's
// seqs that stays open (its node died between commit and publication, or a
// reordering it could not wait out), and everything published while the
// link to the other nodes was down. The feature that owns a stream reads
// the range from PostgreSQL; the delivery's stream heads drop what was
// already sent, so nothing arrives twice.
import SwitchboardWire

extension Hub {
    /// How long a hole may stay open before it is fetched (a reordered
    /// publication usually arrives well within it).
    static let holeRepairAfterMillis: Int64 = 250
    /// How long a repair may take before it is asked for again.
    static let holeRepairRetryMillis: Int64 = 2_000

    /// Registers how streams named `<prefix>:…` are read back from the store.
    public func onStreamRepair(_ prefix: String, _ repair: @escaping (StreamGap) -> Void) {
        streamRepairers[prefix] = repair
    }

    /// Delivers a publication read back by a repair to this node's
    /// subscribers only (the other nodes have their own).
    @discardableResult
    public func deliverRepaired(_ publication: Publication) -> Int { deliver(publication) }

    /// A commit another node announced (`position` now exists): if its
    /// publication does not arrive in time, the position is read back.
    public func expectStream(_ position: StreamPosition) {
        heads.expect(position, nowMillis: clock.nowMillis())
    }

    /// A user admitted on a connection subscribed to `channel` (a member, to
    /// read a conversation on behalf of).
    public func subscriberUser(of channel: String) -> String? {
        registry.subscribers(of: channel).lazy.compactMap { self.connections[$0]?.admitted?.user }.first
    }

    func installStreamRepair() {
        every(millis: 100) { [unowned self] in
            let gaps = heads.holesToRepair(
                nowMillis: clock.nowMillis(), ageMillis: Self.holeRepairAfterMillis, retryMillis: Self.holeRepairRetryMillis)
            for gap in gaps { repair(gap) }
        }
        every(millis: 10_000) { [unowned self] in
            heads.forget { !hasSubscribers($0) }
        }
        // This node's link is back, or another node's is and it had to
        // drop publications meanwhile: whatever any stream may have missed.
        broker.onLinkChange { [unowned self] up in
            if up { repairAll() }
        }
        broker.onControl(ClusterBroker.missedTopic) { [unowned self] _, _ in repairAll() }
    }

    private func repairAll() {
        for gap in heads.gapsToRepairAll() { repair(gap) }
    }

    private func repair(_ gap: StreamGap) {
        guard let prefix = gap.stream.split(separator: ":", maxSplits: 1).first,
            let repairer = streamRepairers[String(prefix)]
        else { return }
        metrics.brokerRepairs.increment()
        repairer(gap)
    }
}
