// Live QR-scan counters: who may watch which code, the snapshot a new
// subscriber gets at once, the counts of every commit merged on the loop
// (this node's and, in a cluster, every other node's: ScansFeature+Cluster),
// and at most one `counter` frame per channel and interval.
import Metrics
import SwitchboardWire

/// The QR-scan feature: the `scans:` channels, the scan and QR-code routes,
/// and the counters behind them.
public final class ScansFeature: HubFeature {
    /// Most codes in the snapshot of `scans:owner:<id>`.
    static let ownerCodeCap = 1_000
    /// How often due counters go out: 0 is every tick of the loop (25 ms);
    /// a channel still gets at most one frame per `CounterBoard.intervalMillis`.
    static let flushMillis: Int64 = 0
    /// How often counters nobody watches are forgotten.
    static let sweepMillis: Int64 = 10_000
    /// Counters are for their owner and admins.
    static let notTheOwner = HubError(.forbidden, "only the owner or an admin may watch these counters")

    let store: ScanStore
    unowned var hub: Hub!
    /// QR scans durably stored.
    let ingested = Counter(label: "switchboard_scans_ingested_total")
    var board: CounterBoard
    /// Subscribers waiting for the snapshot of a code / of an owner's codes.
    var codeWaiters: [QRCodeID: [SubscribeRequest]] = [:]
    var ownerWaiters: [String: [SubscribeRequest]] = [:]
    /// Cluster state (ScansFeature+Cluster.swift).
    var cluster = ScanClusterState()

    /// Scans over `store`; a channel gets at most one `counter` frame per `intervalMillis`.
    public init(store: ScanStore, intervalMillis: Int64) {
        self.store = store
        self.board = CounterBoard(intervalMillis: intervalMillis)
    }

    public func install(on hub: Hub) {
        self.hub = hub
        hub.register(ScanChannels(feature: self))
        installRoutes(on: hub)
        hub.every(millis: Self.flushMillis) { [unowned self] in
            repairIfDue()
            sendOutbox()
            flush()
        }
        hub.every(millis: Self.sweepMillis) { [unowned self] in sweep() }
        installCluster(on: hub)
    }

    // MARK: Subscribing

    /// The first minute and day a snapshot read now needs.
    func snapshotWindow() -> (sinceMinute: Int64, sinceDay: Int64) {
        let now = hub.clock.nowMillis()
        return (ScanTime.minute(now) - Int64(CounterBoard.windowMinutes) + 1, ScanTime.day(now) - 1)
    }

    func subscribe(_ request: SubscribeRequest, to channel: ScanChannel) {
        let (sinceMinute, sinceDay) = snapshotWindow()
        switch channel {
        case .code(let qr):
            if let code = board.codes[qr], code.loaded {
                admit(request, channel: channel, owner: code.owner)
                return
            }
            codeWaiters[qr, default: []].append(request)
            guard codeWaiters[qr]!.count == 1 else { return }  // a snapshot is already on its way
            board.beginLoading(qr: qr)
            store.counters(
                qr: qr, sinceMinute: sinceMinute, sinceDay: sinceDay,
                reply: Reply(on: hub.loop, to: self) { me, result in me.codeSnapshotArrived(qr, result) })
        case .owner(let owner):
            guard owner == request.principal.user || request.principal.isAdmin else {
                hub.refuse(Self.notTheOwner, request)
                return
            }
            if board.owners[owner] == .loaded {
                admit(request, channel: channel, owner: owner)
                return
            }
            ownerWaiters[owner, default: []].append(request)
            guard ownerWaiters[owner]!.count == 1 else { return }
            board.beginLoading(owner: owner)
            store.counters(
                owner: owner, sinceMinute: sinceMinute, sinceDay: sinceDay, limit: Self.ownerCodeCap,
                reply: Reply(on: hub.loop, to: self) { me, result in me.ownerSnapshotArrived(owner, result) })
        }
    }

    private func codeSnapshotArrived(_ qr: QRCodeID, _ result: Result<ScanCounts?, HubError>) {
        let waiters = codeWaiters.removeValue(forKey: qr) ?? []
        switch result {
        case .success(let counts?):
            board.loaded(counts, nowMillis: hub.clock.nowMillis())
            for waiter in waiters { admit(waiter, channel: .code(qr), owner: counts.owner) }
        case .success(nil):
            board.abandon(qr: qr)
            for waiter in waiters {
                hub.refuse(HubError(.notFound, "no such QR code"), waiter)
            }
        case .failure(let error):
            board.abandon(qr: qr)
            for waiter in waiters { refuse(waiter, error) }
        }
    }

    private func ownerSnapshotArrived(_ owner: String, _ result: Result<[ScanCounts], HubError>) {
        let waiters = ownerWaiters.removeValue(forKey: owner) ?? []
        switch result {
        case .success(let all):
            board.loaded(owner: owner, all, nowMillis: hub.clock.nowMillis())
            for waiter in waiters { admit(waiter, channel: .owner(owner), owner: owner) }
        case .failure(let error):
            board.abandon(owner: owner)
            for waiter in waiters { refuse(waiter, error) }
        }
    }

    /// A snapshot that could not be read: a store that failed stays an
    /// internal error, anything else is worth a retry.
    private func refuse(_ waiter: SubscribeRequest, _ error: HubError) {
        let code: ErrorCode = error.code == .internalError ? .internalError : .unavailable
        hub.refuse(HubError(code, "counters unavailable; retry later"), waiter)
    }

    /// Authorizes, subscribes and sends the current counters at once.
    private func admit(_ request: SubscribeRequest, channel: ScanChannel, owner: String) {
        guard hub.isOpen(request.connection) else { return }
        guard owner == request.principal.user || request.principal.isAdmin else {
            hub.refuse(Self.notTheOwner, request)
            return
        }
        hub.confirm(request)
        hub.send(counterFrame(channel: request.channel, board.snapshot(of: channel)), to: request.connection)
    }

    // MARK: Counting

    private func counterFrame(channel: String, _ codes: [CodeCounter]) -> OutboundFrame {
        let now = hub.clock.nowMillis()
        let start = (ScanTime.minute(now) - Int64(CounterBoard.windowMinutes) + 1) * ScanTime.minuteMillis
        return ServerFrame.counter(
            channel: channel, atMillis: now, minuteStartMillis: start,
            codes: codes.map { $0.fields(nowMillis: now) })
    }

    /// Scans this node committed: merged here, and told to the other nodes.
    func committed(_ all: [ScanCounts]) {
        merge(all)
        broadcast(all)
    }

    /// Committed counts (this node's or another's): merge them, then send what is due.
    func merge(_ all: [ScanCounts]) {
        let now = hub.clock.nowMillis()
        for counts in all {
            board.committed(counts, nowMillis: now) { hub.hasSubscribers($0) }
        }
        flush()
    }

    /// Sends a `counter` frame on every channel whose interval has passed
    /// since its last one, to this node's subscribers only: every node
    /// merges every commit's counts into its own board and coalesces for its
    /// own subscribers, so a frame put on the cluster link as well would
    /// reach another node's subscribers twice and past their interval.
    func flush() {
        guard board.hasPending else { return }
        for (channel, codes) in board.due(nowMillis: hub.clock.nowMillis()) where hub.hasSubscribers(channel) {
            _ = hub.deliver(Publication(channel: channel, frame: counterFrame(channel: channel, codes)))
        }
    }

    /// Forgets counters nobody watches or waits for.
    private func sweep() {
        retryRepairs()
        board.sweep(
            nowMillis: hub.clock.nowMillis(), isWatched: { hub.hasSubscribers($0) },
            isAwaited: { codeWaiters[$0] != nil })
    }
}
