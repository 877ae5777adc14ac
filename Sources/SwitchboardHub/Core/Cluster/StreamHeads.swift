// This node's view of each ordered stream it delivers (beside each
// connection's own marks): which positions its delivery has sent. With
// publications arriving from other nodes — and again from the store after a
// repair — a position must still reach subscribers once, and a position
// that never arrived (lost while the link was down, or its node died right
// after the commit) must be noticed and fetched.

/// Positions of a stream a node may have missed: after `after`, below
/// `before` (nil: up to now). The stream's feature fetches them from the
/// store and hands them to `Hub.deliverRepaired`.
public struct StreamGap: Equatable, Sendable {
    /// The stream (`conversation:7`, `notifications:alice`).
    public var stream: String
    /// The channel it is delivered on.
    public var channel: String
    /// Positions after this one…
    public var after: Int64
    /// …and below this one, if set.
    public var before: Int64?
}

/// Delivered positions per stream, as a value-type state machine.
struct StreamHeads {
    struct Head {
        /// The channel the stream is delivered on (to forget it when unwatched).
        var channel: String
        /// Every position up to here counts as delivered.
        var floor: Int64
        /// Delivered positions past `floor` (out of order, or — in a stream
        /// without every position — simply the recent ones).
        var above: Set<Int64> = []
        var contiguous: Bool
        /// Since when a contiguous stream has a hole below `above`.
        var holeSinceMillis: Int64?
        /// When a repair of the hole was last asked for.
        var repairAskedMillis: Int64?
        /// The stream is known to go at least this far (a commit heard of
        /// before its publication, or instead of it).
        var expected: Int64?

        var highest: Int64 { above.max() ?? floor }
    }

    /// Most positions remembered past the floor of one stream.
    static let maxAbove = 1_024
    private(set) var heads: [String: Head] = [:]
    /// The streams with a hole now: the periodic check looks at these only,
    /// not at every stream the node follows.
    private var holed: Set<String> = []

    /// Records that `position` is being delivered on `channel`. False when
    /// it was delivered already (then it must not be sent again).
    /// `floorIfNew`: for a stream not seen yet, how far its subscribers
    /// have come (their resume marks); positions past it that have not
    /// arrived are a hole.
    mutating func record(
        _ position: StreamPosition, channel: String, nowMillis: Int64, floorIfNew: @autoclosure () -> Int64?
    ) -> Bool {
        let seq = position.seq
        if heads[position.stream] == nil {
            // A stream without every position cannot tell a hole: it only
            // remembers what it sent.
            let floor = position.contiguous ? min(floorIfNew() ?? (seq &- 1), seq &- 1) : Int64.min
            heads[position.stream] = Head(channel: channel, floor: floor, contiguous: position.contiguous)
        }
        guard var head = heads[position.stream] else { return true }
        if seq <= head.floor || head.above.contains(seq) { return false }
        if head.contiguous && seq == head.floor &+ 1 {
            head.floor = seq
            while head.above.remove(head.floor &+ 1) != nil { head.floor += 1 }
        } else {
            head.above.insert(seq)
            if head.above.count > Self.maxAbove, let lowest = head.above.min() {
                // Too far behind to wait for: what is below the oldest kept
                // position counts as delivered (a stream without every
                // position forgets its oldest this way).
                head.above.remove(lowest)
                head.floor = lowest
                while head.above.remove(head.floor &+ 1) != nil { head.floor += 1 }
            }
        }
        store(Self.updatingHole(head, nowMillis: nowMillis), as: position.stream)
        return true
    }

    /// A contiguous stream a connection resumed up to `floor` (nothing to
    /// do when the node already follows it).
    mutating func start(stream: String, channel: String, floor: Int64) {
        guard heads[stream] == nil else { return }
        heads[stream] = Head(channel: channel, floor: floor, contiguous: true)
    }

    /// A contiguous stream delivered here goes at least to `position` (its
    /// commit was heard of): if its publication does not come, that is a hole.
    mutating func expect(_ position: StreamPosition, nowMillis: Int64) {
        guard var head = heads[position.stream], head.contiguous, position.seq > head.highest else { return }
        head.expected = max(head.expected ?? .min, position.seq)
        store(Self.updatingHole(head, nowMillis: nowMillis), as: position.stream)
    }

    private mutating func store(_ head: Head, as stream: String) {
        heads[stream] = head
        if head.holeSinceMillis != nil { holed.insert(stream) } else { holed.remove(stream) }
    }

    /// Whether positions are missing below what was delivered or expected,
    /// and since when.
    private static func updatingHole(_ head: Head, nowMillis: Int64) -> Head {
        guard head.contiguous else { return head }
        var head = head
        if let expected = head.expected, expected <= head.highest { head.expected = nil }
        if head.above.isEmpty && head.expected == nil {
            head.holeSinceMillis = nil
            head.repairAskedMillis = nil
        } else if head.holeSinceMillis == nil {
            head.holeSinceMillis = nowMillis
        }
        return head
    }

    /// Holes of contiguous streams older than `ageMillis` whose repair was
    /// not asked for in the last `retryMillis`; marks them asked.
    mutating func holesToRepair(nowMillis: Int64, ageMillis: Int64, retryMillis: Int64) -> [StreamGap] {
        var gaps: [StreamGap] = []
        for stream in holed {
            guard let head = heads[stream], let since = head.holeSinceMillis, nowMillis - since >= ageMillis,
                let next = head.above.min() ?? head.expected.map({ $0 &+ 1 })
            else { continue }
            if let asked = head.repairAskedMillis, nowMillis - asked < retryMillis { continue }
            heads[stream]?.repairAskedMillis = nowMillis
            gaps.append(StreamGap(stream: stream, channel: head.channel, after: head.floor, before: next))
        }
        return gaps
    }

    /// For each stream, what may have been missed: everything past the
    /// floor of a contiguous stream; in a stream without every position,
    /// everything from the oldest position it remembers (what was sent
    /// already is dropped again by `record`).
    func gapsToRepairAll() -> [StreamGap] {
        heads.map { stream, head in
            let after = head.floor != .min ? head.floor : (head.above.min() ?? 1) &- 1
            return StreamGap(stream: stream, channel: head.channel, after: after, before: nil)
        }
    }

    /// Forgets the streams whose channel nobody on this node watches.
    mutating func forget(where unwatched: (String) -> Bool) {
        heads = heads.filter { !unwatched($0.value.channel) }
        holed = holed.filter { heads[$0] != nil }
    }
}
