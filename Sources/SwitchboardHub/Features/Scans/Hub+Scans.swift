// QR-scan counters on the loop: who may watch which code, the snapshot a new
// subscriber gets at once, and the coalesced `counter` frames after commits.
import SwitchboardWire

/// A subscriber of a scan channel waiting for the snapshot.
struct CounterWaiter {
    var connection: ConnectionID
    var requestID: String?
    var principal: Principal
}

extension Hub {
    /// Most codes in the snapshot of `scans:owner:<id>`.
    static let ownerCodeCap = 1_000

    func subscribeToCounters(_ id: ConnectionID, principal: Principal, channel: ScanChannel, requestID: String?) {
        let waiter = CounterWaiter(connection: id, requestID: requestID, principal: principal)
        let now = clock.nowMillis()
        let window = (sinceMinute: ScanTime.minute(now) - Int64(CounterBoard.windowMinutes) + 1, sinceDay: ScanTime.day(now) - 1)
        switch channel {
        case .code(let qr):
            if let code = counters.codes[qr], code.loaded {
                admitCounterSubscriber(waiter, channel: channel, owner: code.owner)
                return
            }
            codeWaiters[qr, default: []].append(waiter)
            guard codeWaiters[qr]!.count == 1 else { return }  // a snapshot is already on its way
            counters.beginLoading(qr: qr)
            scans.counters(qr: qr, sinceMinute: window.sinceMinute, sinceDay: window.sinceDay) { [weak self] result in
                self?.codeSnapshotArrived(qr, result)
            }
        case .owner(let owner):
            guard owner == principal.user || principal.isAdmin else {
                transport?.send(ServerFrame.error(id: requestID, code: .forbidden,
                                                  message: "only the owner or an admin may watch these counters"), to: id)
                return
            }
            if counters.owners[owner] == .loaded {
                admitCounterSubscriber(waiter, channel: channel, owner: owner)
                return
            }
            ownerWaiters[owner, default: []].append(waiter)
            guard ownerWaiters[owner]!.count == 1 else { return }
            counters.beginLoading(owner: owner)
            scans.counters(owner: owner, sinceMinute: window.sinceMinute, sinceDay: window.sinceDay,
                           limit: Self.ownerCodeCap) { [weak self] result in
                self?.ownerSnapshotArrived(owner, result)
            }
        }
    }

    private func codeSnapshotArrived(_ qr: QRCodeID, _ result: Result<ScanCounts?, StoreError>) {
        let waiters = codeWaiters.removeValue(forKey: qr) ?? []
        switch result {
        case .success(let counts?):
            counters.loaded(counts, nowMillis: clock.nowMillis())
            for waiter in waiters { admitCounterSubscriber(waiter, channel: .code(qr), owner: counts.owner) }
        case .success(nil):
            counters.abandon(qr: qr)
            for waiter in waiters {
                transport?.send(ServerFrame.error(id: waiter.requestID, code: .notFound, message: "no such QR code"),
                                to: waiter.connection)
            }
        case .failure(let error):
            counters.abandon(qr: qr)
            for waiter in waiters { refuse(waiter, error) }
        }
    }

    private func ownerSnapshotArrived(_ owner: String, _ result: Result<[ScanCounts], StoreError>) {
        let waiters = ownerWaiters.removeValue(forKey: owner) ?? []
        switch result {
        case .success(let all):
            counters.loaded(owner: owner, all, nowMillis: clock.nowMillis())
            for waiter in waiters { admitCounterSubscriber(waiter, channel: .owner(owner), owner: owner) }
        case .failure(let error):
            counters.abandon(owner: owner)
            for waiter in waiters { refuse(waiter, error) }
        }
    }

    private func refuse(_ waiter: CounterWaiter, _ error: StoreError) {
        let code: ErrorCode = error.code == .failed ? .internalError : .unavailable
        transport?.send(ServerFrame.error(id: waiter.requestID, code: code, message: "counters unavailable; retry later"),
                        to: waiter.connection)
    }

    /// Authorizes, subscribes and sends the current counters at once.
    private func admitCounterSubscriber(_ waiter: CounterWaiter, channel: ScanChannel, owner: String) {
        guard isOpen(waiter.connection) else { return }
        guard owner == waiter.principal.user || waiter.principal.isAdmin else {
            transport?.send(ServerFrame.error(id: waiter.requestID, code: .forbidden,
                                              message: "only the owner or an admin may watch these counters"),
                            to: waiter.connection)
            return
        }
        subscribe(waiter.connection, to: channel.name)
        transport?.send(ServerFrame.subscribed(id: waiter.requestID, channel: channel.name), to: waiter.connection)
        transport?.send(counterFrame(channel: channel.name, counters.snapshot(of: channel)), to: waiter.connection)
    }

    func counterFrame(channel: String, _ codes: [CodeCounter]) -> OutboundFrame {
        let now = clock.nowMillis()
        let start = (ScanTime.minute(now) - Int64(CounterBoard.windowMinutes) + 1) * ScanTime.minuteMillis
        return ServerFrame.counter(channel: channel, atMillis: now, minuteStartMillis: start,
                                   codes: codes.map { $0.fields(nowMillis: now) })
    }

    /// Committed scans: merge the new counts, then send what is due.
    func scansCommitted(_ all: [ScanCounts]) {
        let now = clock.nowMillis()
        for counts in all {
            counters.committed(counts, nowMillis: now) { hasSubscribers($0) }
        }
        flushCounters()
    }

    /// Sends a `counter` frame to every channel whose interval has passed
    /// since its last one; the loop calls it several times per interval.
    public func flushCounters() {
        guard counters.hasPending else { return }
        for (channel, codes) in counters.due(nowMillis: clock.nowMillis()) {
            guard hasSubscribers(channel) else { continue }
            publish(Publication(channel: channel, frame: counterFrame(channel: channel, codes)))
        }
    }

    /// Forgets counters nobody watches; the loop calls it every few seconds.
    public func sweepCounters() {
        counters.sweep(nowMillis: clock.nowMillis(), isWatched: { hasSubscribers($0) },
                       isAwaited: { codeWaiters[$0] != nil })
    }
}
