// The only way into the loop thread from another thread: push work here, then
// wake the loop with lws_cancel_service (the only thread-safe lws call).
import Synchronization
internal import CLibWebSockets

/// A thread-safe queue of work for the loop thread.
public final class Mailbox: @unchecked Sendable {
    private struct State {
        var items: [() -> Void] = []
        var context: OpaquePointer?
    }
    private let state = Mutex(State())
    /// Items above this depth are refused (the caller gets false).
    public let capacity: Int

    /// A mailbox holding at most `capacity` items.
    public init(capacity: Int = 1 << 20) {
        self.capacity = capacity
    }

    /// Queues work for the loop and wakes it. Returns false when full.
    @discardableResult
    public func post(_ work: @escaping () -> Void) -> Bool {
        let context: OpaquePointer? = state.withLock { state in
            guard state.items.count < capacity else { return nil }
            state.items.append(work)
            return state.context ?? OpaquePointer(bitPattern: -1)
        }
        guard let context else { return false }
        if context != OpaquePointer(bitPattern: -1) { lws_cancel_service(context) }
        return true
    }

    /// Items waiting.
    public var depth: Int { state.withLock { $0.items.count } }

    func attach(_ context: OpaquePointer?) {
        state.withLock { $0.context = context }
    }

    /// Runs everything queued (loop thread only).
    func drain() {
        let items = state.withLock { state -> [() -> Void] in
            let items = state.items
            state.items.removeAll(keepingCapacity: true)
            return items
        }
        for item in items { item() }
    }
}
