// The loop's mailbox at its bound: skippable work is refused and counted; a
// result that must reach the loop waits for room, and is queued past the
// bound (counted) rather than dropped; the loop thread never waits on itself.
import Foundation
import Testing
@testable import SwitchboardLWS

@Suite struct MailboxTests {
    final class Ran: Sendable {
        let items = Locked<[Int]>([])
        func work(_ i: Int) -> @Sendable () -> Void { { self.items.withLock { $0.append(i) } } }
        var list: [Int] { items.withLock { $0 } }
    }

    @Test func postIsRefusedAtTheBoundAndCounted() {
        let mailbox = Mailbox(capacity: 2)
        let pressure = Locked<[Mailbox.Pressure]>([])
        mailbox.onPressure = { p in pressure.withLock { $0.append(p) } }
        let ran = Ran()
        #expect([1, 2, 3].map { mailbox.post(ran.work($0)) } == [true, true, false])
        #expect(mailbox.isFull)
        #expect(mailbox.counts.refused == 1)
        #expect(pressure.withLock { $0 } == [.refused])
        mailbox.drain()
        #expect(ran.list == [1, 2])
    }

    @Test func lagIsHowLongWorkWaitedForTheLoop() {
        let mailbox = Mailbox()
        #expect(mailbox.lag == 0)
        mailbox.post {}
        // Nothing drains: the oldest item's wait grows (lower bounds only).
        Thread.sleep(forTimeInterval: 0.05)
        #expect(mailbox.lag >= 0.05)
        mailbox.post {}
        #expect(mailbox.lag >= 0.05, "a later item does not reset the oldest one's wait")
        mailbox.drain()
        // Drained: the batch's wait is remembered until the next drain.
        #expect(mailbox.lag >= 0.05)
    }

    @Test func workHandedOverWhileHoldingWakesWakesTheLoopOnceAtTheEnd() {
        let mailbox = Mailbox()
        let ran = Ran()
        mailbox.deliver(ran.work(1))
        mailbox.post(ran.work(2))
        #expect(mailbox.wakes == 2, "one wake per item otherwise")
        mailbox.holdingWakes {
            for i in 3...5 { mailbox.deliver(ran.work(i)) }
            #expect(mailbox.wakes == 2, "none while held")
        }
        #expect(mailbox.wakes == 3, "one at the end")
        mailbox.holdingWakes {}
        #expect(mailbox.wakes == 3, "nothing queued, no wake owed")
        mailbox.drain()
        #expect(ran.list == [1, 2, 3, 4, 5])
        // Another thread's work still wakes at once while one thread holds.
        let done = Locked(false)
        mailbox.holdingWakes {
            Thread {
                mailbox.deliver(ran.work(6))
                done.withLock { $0 = true }
            }.start()
            #expect(eventually { done.withLock { $0 } })
            #expect(mailbox.wakes == 4)
        }
        #expect(mailbox.wakes == 4)
    }

    @Test func deliverWaitsForRoomInsteadOfDropping() {
        let mailbox = Mailbox(capacity: 1, deliverWait: 60)
        let ran = Ran()
        mailbox.post(ran.work(1))
        let done = Locked(false)
        Thread {
            mailbox.deliver(ran.work(2)); done.withLock { $0 = true }
        }.start()
        #expect(eventually { mailbox.waitingProducers == 1 })
        #expect(!done.withLock { $0 })
        mailbox.drain()  // makes room and wakes the producer
        #expect(eventually { done.withLock { $0 } })
        #expect(mailbox.waitingProducers == 0)
        mailbox.drain()
        #expect(ran.list == [1, 2])
        #expect(mailbox.counts.overflowed == 0)
    }

    @Test func deliverQueuesPastTheBoundWhenTheLoopDoesNotDrainInTime() {
        let mailbox = Mailbox(capacity: 1, deliverWait: 0.05)
        let pressure = Locked<[Mailbox.Pressure]>([])
        mailbox.onPressure = { p in pressure.withLock { $0.append(p) } }
        let ran = Ran()
        mailbox.post(ran.work(1))
        mailbox.deliver(ran.work(2))  // returns after its bounded wait
        #expect(mailbox.depth == 2)
        #expect(mailbox.counts.overflowed == 1)
        #expect(pressure.withLock { $0 } == [.overflowed])
        mailbox.drain()
        #expect(ran.list == [1, 2])
    }

    @Test func theLoopThreadNeverWaitsOnItsOwnMailbox() {
        let mailbox = Mailbox(capacity: 1, deliverWait: 60)
        let ran = Ran()
        mailbox.drain()  // this thread is the loop now
        mailbox.post(ran.work(1))
        mailbox.deliver(ran.work(2))  // would wait 60 s and overflow if it waited
        #expect(mailbox.post(ran.work(3)))
        #expect(mailbox.counts == (refused: 0, overflowed: 0))
        mailbox.drain()
        #expect(ran.list == [1, 2, 3])
    }
}

import Logging
import SwitchboardHub
import SwitchboardPostgres

@Suite struct CongestedStoreTests {
    @Test func whileTheMailboxIsFullNewRequestsAreRefusedAtOnce() {
        let writer = GroupCommitWriter(conninfo: TestDatabase.conninfo, logger: Logger(label: "test"))
        let congested = Locked(true)
        writer.isCongested = { congested.withLock { $0 } }
        let answers = Locked<[String]>([])
        let answer: @Sendable (Result<[Row], HubError>) -> Void = { r in
            let text = if case .failure(let e) = r { "\(e.code)" } else { "ok" }
            answers.withLock { $0.append(text) }
        }
        #expect(!writer.submit(WriteJob("SELECT 1", [], answer: answer)))
        #expect(answers.withLock { $0 } == ["overloaded"])
        // A job with no answer adds nothing to the mailbox, and one that
        // records what already happened (a provider's charge) must not be
        // lost: both still taken.
        #expect(writer.submit(WriteJob("SELECT 1", [], survivesOutage: true)))
        #expect(writer.submit(WriteJob("SELECT 1", [], survivesOutage: true, answer: answer)))
        congested.withLock { $0 = false }
        #expect(writer.submit(WriteJob("SELECT 1", [], answer: answer)))
        writer.start()
        #expect(writer.drainAndStop(timeout: 10))
        #expect(answers.withLock { $0 } == ["overloaded", "ok", "ok"])
    }
}
