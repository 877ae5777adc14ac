// An in-memory bus for unit tests of several hubs in one process: every
// link attached to one bus receives what any of them sends, in order,
// and a test can cut a link and bring it back.
import Foundation
import SwitchboardHub

/// A bus shared by `FakeClusterLink`s.
// Unchecked: its links list is behind `lock`.
public final class FakeClusterBus: @unchecked Sendable {
    private let lock = NSLock()
    private var links: [FakeClusterLink] = []

    /// An empty bus.
    public init() {}

    /// A new link on this bus (started by the hub's broker).
    public func link() -> FakeClusterLink {
        let link = FakeClusterLink(bus: self)
        lock.withLock { links.append(link) }
        return link
    }

    fileprivate func broadcast(_ message: [UInt8]) {
        for link in lock.withLock({ links }) { link.deliver(message) }
    }
}

/// One node's link on a `FakeClusterBus`. Delivery is synchronous: the
/// receiver's `receive` runs inside `send` (the hub's loop hop makes it
/// asynchronous again).
// Unchecked: its state is behind `lock`.
public final class FakeClusterLink: ClusterLink, @unchecked Sendable {
    private let lock = NSLock()
    private unowned let bus: FakeClusterBus
    private var receive: (@Sendable ([UInt8]) -> Void)?
    private var changed: (@Sendable (Bool) -> Void)?
    private var up = true
    /// Messages this link has sent.
    public private(set) var sent = 0

    fileprivate init(bus: FakeClusterBus) { self.bus = bus }

    public let kind = "fake"
    public var isHealthy: Bool { lock.withLock { up } }

    public func start(receive: @escaping @Sendable ([UInt8]) -> Void, changed: @escaping @Sendable (Bool) -> Void) {
        lock.withLock {
            self.receive = receive
            self.changed = changed
        }
        changed(true)
    }

    public func send(_ message: [UInt8]) -> Bool {
        let taken = lock.withLock {
            guard up else { return false }
            sent += 1
            return true
        }
        guard taken else { return false }
        bus.broadcast(message)
        return true
    }

    public func stop() { lock.withLock { receive = nil } }

    /// Cuts the link (`up: false`) or brings it back: nothing is sent or
    /// received while it is cut; the hub hears `changed`.
    public func set(up: Bool) {
        let changed = lock.withLock {
            self.up = up
            return self.changed
        }
        changed?(up)
    }

    fileprivate func deliver(_ message: [UInt8]) {
        guard let receive = lock.withLock({ up ? self.receive : nil }) else { return }
        receive(message)
    }
}
