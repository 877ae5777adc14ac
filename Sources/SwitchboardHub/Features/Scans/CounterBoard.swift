// Live QR-scan counters on the loop: absolute counts merged from commits and
// snapshots (largest value wins, so order does not matter), and per-channel
// coalescing so that a channel gets at most one `counter` frame per interval.
import SwitchboardWire

/// One code's counters as the loop knows them.
struct CodeCounter: Equatable {
    let qr: QRCodeID
    var owner: String
    var label: String
    var total: Int64 = 0
    var days: [Int64: Int64] = [:]
    var minutes: [Int64: Int64] = [:]
    var devices: [String: Int64] = [:]
    var countries: [String: Int64] = [:]
    /// True once a snapshot (or the owner's snapshot) has been merged: only
    /// then are the minutes complete enough to show.
    var loaded = false

    /// Distinct device types or countries kept per code; the smallest go
    /// first (a later commit brings their absolute count back).
    static let dimensionCap = 64

    init(qr: QRCodeID, owner: String, label: String) {
        self.qr = qr
        self.owner = owner
        self.label = label
    }

    mutating func merge(_ counts: ScanCounts, nowMillis: Int64) {
        owner = counts.owner
        if let label = counts.label { self.label = label }
        total = max(total, counts.total)
        Self.mergeMax(&days, counts.days)
        Self.mergeMax(&minutes, counts.minutes)
        Self.mergeMax(&devices, counts.devices)
        Self.mergeMax(&countries, counts.countries)
        prune(nowMillis: nowMillis)
    }

    private static func mergeMax<K: Hashable>(_ into: inout [K: Int64], _ from: [K: Int64]) {
        for (key, value) in from where value > into[key, default: -1] { into[key] = value }
    }

    mutating func prune(nowMillis: Int64) {
        let firstMinute = ScanTime.minute(nowMillis) - Int64(CounterBoard.windowMinutes) + 1
        minutes = minutes.filter { $0.key >= firstMinute }
        let today = ScanTime.day(nowMillis)
        days = days.filter { $0.key >= today - 1 }
        if devices.count > Self.dimensionCap { devices = Self.top(devices, Self.dimensionCap / 2) }
        if countries.count > Self.dimensionCap { countries = Self.top(countries, Self.dimensionCap / 2) }
    }

    private static func top(_ counts: [String: Int64], _ n: Int) -> [String: Int64] {
        Dictionary(uniqueKeysWithValues: ranked(counts).prefix(n).map { ($0.name, $0.count) })
    }

    /// Largest first; ties by name so the order is stable.
    static func ranked(_ counts: [String: Int64]) -> [(name: String, count: Int64)] {
        counts.map { (name: $0.key, count: $0.value) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.name < $1.name }
    }

    /// The frame fields at `nowMillis`.
    func fields(nowMillis: Int64) -> ServerFrame.CounterFields {
        let lastMinute = ScanTime.minute(nowMillis)
        let firstMinute = lastMinute - Int64(CounterBoard.windowMinutes) + 1
        return ServerFrame.CounterFields(
            qr: qr, label: label, total: total, today: days[ScanTime.day(nowMillis)] ?? 0,
            minutes: (firstMinute...lastMinute).map { minutes[$0] ?? 0 },
            devices: Array(Self.ranked(devices).prefix(CounterBoard.topCount)),
            countries: Array(Self.ranked(countries).prefix(CounterBoard.topCount)))
    }
}

/// Every watched code's counters, the owners whose codes are watched, and
/// what each channel still has to be told.
struct CounterBoard {
    /// Minutes in a `counter` frame.
    static let windowMinutes = 60
    /// Device types and countries in a `counter` frame.
    static let topCount = 5

    enum Load { case loading, loaded }

    /// Least time between two `counter` frames on one channel.
    let intervalMillis: Int64
    private(set) var codes: [QRCodeID: CodeCounter] = [:]
    private(set) var owners: [String: Load] = [:]
    private var dirty: [String: Set<QRCodeID>] = [:]
    private var lastSent: [String: Int64] = [:]

    init(intervalMillis: Int64) {
        self.intervalMillis = intervalMillis
    }

    static func channel(qr: QRCodeID) -> String { ScanChannel.code(qr).name }
    static func channel(owner: String) -> String { ScanChannel.owner(owner).name }

    /// Starts watching a code whose snapshot is on its way: commits that
    /// arrive meanwhile are merged, not lost.
    mutating func beginLoading(qr: QRCodeID) {
        if codes[qr] == nil { codes[qr] = CodeCounter(qr: qr, owner: "", label: "") }
    }

    /// Starts watching an owner whose snapshot is on its way.
    mutating func beginLoading(owner: String) {
        if owners[owner] == nil { owners[owner] = .loading }
    }

    /// Forgets a code whose snapshot failed or which does not exist.
    mutating func abandon(qr: QRCodeID) {
        if codes[qr]?.loaded == false { codes[qr] = nil }
    }

    /// Forgets an owner whose snapshot failed.
    mutating func abandon(owner: String) {
        if owners[owner] == .loading { owners[owner] = nil }
    }

    /// Merges a snapshot: the code's state is complete from now on.
    mutating func loaded(_ counts: ScanCounts, nowMillis: Int64) {
        var counter = codes[counts.qr] ?? CodeCounter(qr: counts.qr, owner: counts.owner, label: counts.label ?? "")
        counter.merge(counts, nowMillis: nowMillis)
        counter.loaded = true
        codes[counts.qr] = counter
    }

    /// Merges an owner's snapshot (every code of the owner).
    mutating func loaded(owner: String, _ all: [ScanCounts], nowMillis: Int64) {
        for counts in all { loaded(counts, nowMillis: nowMillis) }
        owners[owner] = .loaded
    }

    /// Merges committed counts and marks the watched channels dirty.
    mutating func committed(_ counts: ScanCounts, nowMillis: Int64, isWatched: (String) -> Bool) {
        if codes[counts.qr] == nil {
            // A code nobody watched: only kept when its owner is watched
            // (a code created after the owner's snapshot has all its scans
            // in commits from then on).
            guard let load = owners[counts.owner] else { return }
            var counter = CodeCounter(qr: counts.qr, owner: counts.owner, label: counts.label ?? "")
            counter.loaded = load == .loaded
            codes[counts.qr] = counter
        }
        codes[counts.qr]!.merge(counts, nowMillis: nowMillis)
        guard codes[counts.qr]!.loaded else { return }
        for channel in [Self.channel(qr: counts.qr), Self.channel(owner: counts.owner)] where isWatched(channel) {
            dirty[channel, default: []].insert(counts.qr)
        }
    }

    /// Marks every shown code of `channel` changed: its next frame carries
    /// them all (after a reload, whether or not they moved).
    mutating func touch(_ channel: ScanChannel) {
        let changed = snapshot(of: channel).filter(\.loaded).map(\.qr)
        guard !changed.isEmpty else { return }
        dirty[channel.name, default: []].formUnion(changed)
    }

    /// The counters a new subscriber of `channel` gets at once.
    func snapshot(of channel: ScanChannel) -> [CodeCounter] {
        switch channel {
        case .code(let qr): return codes[qr].map { [$0] } ?? []
        case .owner(let owner):
            return codes.values.filter { $0.owner == owner && $0.loaded }.sorted { $0.qr < $1.qr }
        }
    }

    /// Channels due for a frame now, with their changed codes; marks them sent.
    mutating func due(nowMillis: Int64) -> [(channel: String, codes: [CodeCounter])] {
        var out: [(channel: String, codes: [CodeCounter])] = []
        for (channel, changed) in dirty where nowMillis - lastSent[channel, default: .min / 2] >= intervalMillis {
            let list = changed.sorted().compactMap { codes[$0] }
            dirty[channel] = nil
            lastSent[channel] = nowMillis
            if !list.isEmpty { out.append((channel, list)) }
        }
        return out
    }

    /// True while some channel waits for its next frame.
    var hasPending: Bool { !dirty.isEmpty }

    /// Drops what no subscriber watches any more.
    mutating func sweep(nowMillis: Int64, isWatched: (String) -> Bool, isAwaited: (QRCodeID) -> Bool) {
        for (owner, load) in owners where load == .loaded && !isWatched(Self.channel(owner: owner)) {
            owners[owner] = nil
        }
        for (qr, counter) in codes {
            let watched = isWatched(Self.channel(qr: qr)) || owners[counter.owner] != nil || isAwaited(qr)
            if !watched { codes[qr] = nil } else { codes[qr]!.prune(nowMillis: nowMillis) }
        }
        lastSent = lastSent.filter { nowMillis - $0.value < intervalMillis * 10 }
    }
}
