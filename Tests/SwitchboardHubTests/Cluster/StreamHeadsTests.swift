// The node's record of what it delivered per stream: repeats refused, holes
// found (only in streams with every position), ranges to read back after a drop.
import Testing
@testable import SwitchboardHub

@Suite struct StreamHeadsTests {
    func chat(_ seq: Int64) -> StreamPosition { StreamPosition(stream: "conversation:1", seq: seq, contiguous: true) }
    func note(_ id: Int64) -> StreamPosition { StreamPosition(stream: "notifications:al", seq: id) }

    @Test func aRepeatIsRefusedInOrderOrNot() {
        var heads = StreamHeads()
        let r1 = heads.record(chat(5), channel: "conversation:1", nowMillis: 0, floorIfNew: 4)
        #expect(r1)
        let r2 = heads.record(chat(5), channel: "conversation:1", nowMillis: 0, floorIfNew: nil)
        #expect(!r2)
        let r3 = heads.record(chat(7), channel: "conversation:1", nowMillis: 0, floorIfNew: nil)
        #expect(r3)
        let r4 = heads.record(chat(7), channel: "conversation:1", nowMillis: 0, floorIfNew: nil)
        #expect(!r4)
        let r5 = heads.record(chat(3), channel: "conversation:1", nowMillis: 0, floorIfNew: nil)
        #expect(!r5)
        let r6 = heads.record(chat(6), channel: "conversation:1", nowMillis: 0, floorIfNew: nil)
        #expect(r6)
        #expect(heads.heads["conversation:1"]?.floor == 7)
    }

    @Test func aHoleIsAskedForOnceItIsOldAndAgainOnlyAfterTheRetry() {
        var heads = StreamHeads()
        let r7 = heads.record(chat(2), channel: "conversation:1", nowMillis: 0, floorIfNew: 0)
        #expect(r7)
        func holes(at now: Int64) -> [StreamGap] { heads.holesToRepair(nowMillis: now, ageMillis: 250, retryMillis: 2_000) }
        #expect(holes(at: 0).isEmpty)  // 1 is a hole, too young
        #expect(holes(at: 300) == [StreamGap(stream: "conversation:1", channel: "conversation:1", after: 0, before: 2)])
        #expect(holes(at: 400).isEmpty)
        #expect(holes(at: 2_400).count == 1)
        let r8 = heads.record(chat(1), channel: "conversation:1", nowMillis: 2_500, floorIfNew: nil)
        #expect(r8)
        #expect(holes(at: 9_000).isEmpty)
    }

    @Test func aStreamWithoutEveryPositionHasNoHolesAndTakesLateOnes() {
        var heads = StreamHeads()
        let r9 = heads.record(note(10), channel: "user:al", nowMillis: 0, floorIfNew: nil)
        #expect(r9)
        let r10 = heads.record(note(8), channel: "user:al", nowMillis: 0, floorIfNew: nil)  // out of id order: still sent
        #expect(r10)
        let r11 = heads.record(note(8), channel: "user:al", nowMillis: 0, floorIfNew: nil)
        #expect(!r11)
        let holes = heads.holesToRepair(nowMillis: 10_000, ageMillis: 250, retryMillis: 2_000)
        #expect(holes.isEmpty)
    }

    @Test func aRepairOfEverythingReadsPastTheFloorOrFromTheOldestRememberedId() {
        var heads = StreamHeads()
        _ = heads.record(chat(3), channel: "conversation:1", nowMillis: 0, floorIfNew: 2)
        _ = heads.record(chat(5), channel: "conversation:1", nowMillis: 0, floorIfNew: nil)
        _ = heads.record(note(10), channel: "user:al", nowMillis: 0, floorIfNew: nil)
        _ = heads.record(note(12), channel: "user:al", nowMillis: 0, floorIfNew: nil)
        let gaps = heads.gapsToRepairAll().sorted { $0.stream < $1.stream }
        #expect(
            gaps == [
                StreamGap(stream: "conversation:1", channel: "conversation:1", after: 3, before: nil),
                StreamGap(stream: "notifications:al", channel: "user:al", after: 9, before: nil),
            ])
    }

    @Test func tooFarBehindTheOldestKeptPositionCountsAsDelivered() {
        var heads = StreamHeads()
        _ = heads.record(chat(1), channel: "conversation:1", nowMillis: 0, floorIfNew: 0)
        for seq in Int64(3)...Int64(3 + StreamHeads.maxAbove) {
            _ = heads.record(chat(seq), channel: "conversation:1", nowMillis: 0, floorIfNew: nil)
        }
        #expect(heads.heads["conversation:1"]!.above.count <= StreamHeads.maxAbove)
        let r12 = heads.record(chat(2), channel: "conversation:1", nowMillis: 0, floorIfNew: nil)
        #expect(!r12)
        _ = heads.record(chat(.max), channel: "conversation:1", nowMillis: 0, floorIfNew: nil)  // no trap at the edge
    }

    @Test func aCommitHeardOfButNeverPublishedBecomesAHole() {
        var heads = StreamHeads()
        heads.start(stream: "conversation:1", channel: "conversation:1", floor: 4)
        heads.expect(chat(6), nowMillis: 0)
        heads.expect(StreamPosition(stream: "conversation:9", seq: 3, contiguous: true), nowMillis: 0)  // not followed here
        let early = heads.holesToRepair(nowMillis: 100, ageMillis: 250, retryMillis: 2_000)
        #expect(early.isEmpty)
        let due = heads.holesToRepair(nowMillis: 300, ageMillis: 250, retryMillis: 2_000)
        #expect(due == [StreamGap(stream: "conversation:1", channel: "conversation:1", after: 4, before: 7)])
        // Its publications arrive after all: no hole left.
        let r1 = heads.record(chat(5), channel: "conversation:1", nowMillis: 400, floorIfNew: nil)
        let r2 = heads.record(chat(6), channel: "conversation:1", nowMillis: 400, floorIfNew: nil)
        #expect(r1 && r2)
        let after = heads.holesToRepair(nowMillis: 9_000, ageMillis: 250, retryMillis: 2_000)
        #expect(after.isEmpty)
    }
}
