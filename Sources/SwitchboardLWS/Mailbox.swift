// The only way into the loop thread from another thread: push work here, then
// wake the loop with lws_cancel_service (the only thread-safe lws call).
//
// Bounded, and never silent: work that may be skipped (a periodic tick) is
// refused when the mailbox is full and counted; a result that must reach the
// loop (a committed write's answer) makes its producer wait for room, and is
// queued past the bound (counted) if the loop does not drain in time, since
// the store's own queues bound how many such results can exist. The loop
// thread itself never waits on its own mailbox.
import Foundation
import Synchronization
internal import CLibWebSockets
import SwitchboardHub

/// A thread-safe queue of work for the loop thread.
public final class Mailbox: Sendable {
    private struct State {
        var items: [@Sendable () -> Void] = []
        var context: WakeHandle?
        var loopThread: pthread_t?
        var waiting = 0
        var refused = 0
        var overflowed = 0
        /// When the oldest item still queued was queued (monotonic ns; 0: none).
        var pendingSince: UInt64 = 0
        /// Threads inside `holdingWakes`, and whether they queued work since.
        var holders: [(thread: pthread_t, owesWake: Bool)] = []

        /// Work queued now by a thread inside `holdingWakes` wakes the loop
        /// at the end of it, not now: returns true then.
        mutating func holdsWake() -> Bool {
            let me = pthread_self()
            guard let i = holders.firstIndex(where: { pthread_equal($0.thread, me) != 0 }) else { return false }
            holders[i].owesWake = true
            return true
        }
    }
    private let state = Mutex(State())
    /// How long the last drained batch waited for the loop (ns).
    private let lastWait = Atomic<UInt64>(0)
    private let room = NSCondition()
    /// Items above this depth are refused by `post` and make `deliver` wait.
    public let capacity: Int
    /// How long `deliver` waits for room before queueing past the bound.
    public let deliverWait: TimeInterval
    /// Called (on the posting thread) when `post` refused work or `deliver`
    /// queued past the bound: for metrics.
    public var onPressure: (@Sendable (Pressure) -> Void)? {
        get { pressureHandler.withLock { $0 } }
        set { pressureHandler.withLock { $0 = newValue } }
    }
    private let pressureHandler = Mutex<(@Sendable (Pressure) -> Void)?>(nil)

    /// What `onPressure` reports.
    public enum Pressure: Sendable { case refused, overflowed }

    /// A mailbox holding at most `capacity` items (more only as described).
    public init(capacity: Int = 1 << 20, deliverWait: TimeInterval = 2) {
        self.capacity = capacity
        self.deliverWait = deliverWait
    }

    /// Queues work that may be skipped and wakes the loop. Returns false,
    /// and counts it, when full.
    @discardableResult
    public func post(_ work: @escaping @Sendable () -> Void) -> Bool {
        let outcome: Append? = state.withLock { state in
            guard state.items.count < capacity || isLoopThread(state) else { state.refused += 1; return nil }
            if state.items.isEmpty { state.pendingSince = Self.now() }
            state.items.append(work)
            return state.holdsWake() ? .held : .queued(state.context)
        }
        guard let outcome else { onPressure?(.refused); return false }
        if case .queued(let context) = outcome { wake(context) }
        return true
    }

    /// Queues work that must reach the loop (a committed result). Waits up
    /// to `deliverWait` for room (backpressure on the producer), then queues
    /// it past the bound. From the loop thread it never waits.
    public func deliver(_ work: @escaping @Sendable () -> Void) {
        // Fast path: room, or the loop thread itself.
        switch append(work, force: false, wasWaiting: false) {
        case .queued(let context): wake(context); return
        case .held: return
        case .full: break
        }
        let deadline = Date().addingTimeInterval(deliverWait)
        // Full: the loop must drain, even of work held back by `holdingWakes`.
        wake(state.withLock { $0.context })
        room.lock()
        // Again under the room lock, so that a drain in between is not missed.
        var outcome = append(work, force: false, wasWaiting: true)
        while case .full = outcome {
            // Woken by drain(); the timeout only bounds each wait.
            _ = room.wait(until: min(deadline, Date().addingTimeInterval(0.05)))
            outcome = append(work, force: Date() >= deadline, wasWaiting: true)
        }
        room.unlock()
        if case .queued(let context) = outcome { wake(context) }
    }

    /// Queued (wake the loop), queued by a thread holding wakes, or full.
    private enum Append { case queued(WakeHandle?), held, full }

    /// Appends unless full (the loop thread and `force` always append; past
    /// the bound that counts as overflow). A full answer registers a waiter.
    private func append(_ work: @escaping @Sendable () -> Void, force: Bool, wasWaiting: Bool) -> Append {
        let (outcome, overflowed): (Append, Bool) = state.withLock { state in
            let full = state.items.count >= capacity && !isLoopThread(state)
            if full && !force {
                if !wasWaiting { state.waiting += 1 }
                return (.full, false)
            }
            if wasWaiting { state.waiting -= 1 }
            if full { state.overflowed += 1 }
            if state.items.isEmpty { state.pendingSince = Self.now() }
            state.items.append(work)
            return (state.holdsWake() ? .held : .queued(state.context), full)
        }
        if overflowed { onPressure?(.overflowed) }
        return outcome
    }

    /// Runs `body`; what it posts or delivers from this thread wakes the
    /// loop once, at its end, instead of once per item. A writer hands a
    /// committed batch's answers over this way: one wake (one syscall, one
    /// loop pass over every socket) per batch, not per message.
    public func holdingWakes(_ body: () -> Void) {
        let me = pthread_self()
        state.withLock { $0.holders.append((me, false)) }
        body()
        let context: WakeHandle?? = state.withLock { state in
            guard let i = state.holders.lastIndex(where: { pthread_equal($0.thread, me) != 0 }) else { return .none }
            let owed = state.holders.remove(at: i).owesWake
            return owed ? .some(state.context) : .none
        }
        if case .some(let context) = context { wake(context) }
    }

    /// Wakes of the loop so far (tests).
    var wakes: Int { wakeCount.load(ordering: .relaxed) }
    private let wakeCount = Atomic<Int>(0)

    /// Items waiting.
    public var depth: Int { state.withLock { $0.items.count } }
    /// How far behind the loop is, in seconds: how long the oldest item
    /// still queued has waited, or the last drained batch waited, whichever
    /// is longer. Work reaches the loop this late; so do the frames it reads.
    public var lag: Double {
        let since = state.withLock { $0.pendingSince }
        let waiting = since == 0 ? 0 : Self.now() &- since
        return Double(max(waiting, lastWait.load(ordering: .relaxed))) / 1e9
    }

    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    /// True at or past the bound: new work should be refused (`overloaded`).
    public var isFull: Bool { state.withLock { $0.items.count >= capacity } }
    /// Producers waiting in `deliver` for room.
    public var waitingProducers: Int { state.withLock { $0.waiting } }
    /// Work `post` refused, and results `deliver` queued past the bound, so far.
    public var counts: (refused: Int, overflowed: Int) { state.withLock { ($0.refused, $0.overflowed) } }

    private func isLoopThread(_ state: State) -> Bool {
        guard let loop = state.loopThread else { return false }
        return pthread_equal(loop, pthread_self()) != 0
    }

    private func wake(_ context: WakeHandle?) {
        wakeCount.add(1, ordering: .relaxed)
        if let context { lws_cancel_service(context.context) }
    }

    /// Called on the loop thread when it starts serving (or stops: nil).
    func attach(_ context: OpaquePointer?) {
        state.withLock {
            $0.context = context.map(WakeHandle.init)
            $0.loopThread = context == nil ? nil : pthread_self()
        }
    }

    /// Runs everything queued (loop thread only).
    func drain() {
        let (items, waiting, since) = state.withLock { state -> ([@Sendable () -> Void], Bool, UInt64) in
            state.loopThread = pthread_self()
            let items = state.items
            let since = state.pendingSince
            state.items.removeAll(keepingCapacity: true)
            state.pendingSince = 0
            return (items, state.waiting > 0, since)
        }
        if since != 0 { lastWait.store(Self.now() &- since, ordering: .relaxed) }
        if waiting {
            room.lock()
            room.broadcast()
            room.unlock()
        }
        for item in items { item() }
    }
}

/// The loop's lws context, kept only to wake it.
// Unchecked: the only call made through it is lws_cancel_service, the one lws call safe from any thread.
private struct WakeHandle: @unchecked Sendable {
    let context: OpaquePointer
}

/// The mailbox is the hub's loop: a store's replies reach the loop through it
/// and are never dropped (`deliver`).
extension Mailbox: HubLoop {
    public func enqueue(_ job: @escaping @Sendable () -> Void) { deliver(job) }
}
