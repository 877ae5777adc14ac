// QR codes and scans in memory.
import Logging
import SwitchboardAuth
import SwitchboardWire
import SwitchboardHub

/// Scans in memory. Answers are computed when asked (like a snapshot taken
/// then) and delivered on `flush()`, so tests can reorder them. Rules the
/// database keeps (event-id duplicates, bucketing) are not modelled: a test
/// scripts `nextIngest` or `statsPoints` when it needs them.
public final class FakeScanStore: ScanStore {
    public init() {}
    public var codes: [QRCodeID: QRCode] = [:]
    public var counts: [QRCodeID: ScanCounts] = [:]
    /// When set, every call is refused with it.
    public var failure: HubError?
    /// When set, the next ingest answers it (and stores nothing).
    public var nextIngest: IngestOutcome?
    /// Every ingest as asked.
    public private(set) var ingested: [[ScanInput]] = []
    /// The points `stats` answers, by bucket start (zero elsewhere).
    public var statsPoints: [Int64: Int64] = [:]
    /// Every stats call as asked.
    public private(set) var statsAsked: [(qr: QRCodeID, fromMillis: Int64, toMillis: Int64, bucket: ScanBucket)] = []
    /// Every list call as asked.
    public private(set) var listsAsked: [(owner: String, limit: Int)] = []
    private var pending: [() -> Void] = []
    private var nextID: QRCodeID = 0

    public func flush() {
        while !pending.isEmpty { let work = pending; pending = []; work.forEach { $0() } }
    }

    @discardableResult
    public func register(owner: String, label: String = "code") -> QRCodeID {
        nextID += 1
        codes[nextID] = QRCode(
            id: nextID, owner: owner, label: label, target: "https://example.com", total: 0, createdAtMillis: 0)
        counts[nextID] = ScanCounts(qr: nextID, owner: owner, label: label, total: 0)
        return nextID
    }

    public func ingest(_ scans: [ScanInput], reply: Reply<IngestOutcome>) {
        ingested.append(scans)
        if let failure { pending.append { reply.fail(failure) }; return }
        if let scripted = nextIngest {
            nextIngest = nil
            pending.append { reply.succeed(scripted) }
            return
        }
        var unknown: [Int] = []
        var touched: [QRCodeID: ScanCounts] = [:]
        for (index, scan) in scans.enumerated() {
            guard var c = counts[scan.qr] else { unknown.append(index); continue }
            c.total += 1
            c.minutes[ScanTime.minute(scan.atMillis), default: 0] += 1
            c.days[ScanTime.day(scan.atMillis), default: 0] += 1
            c.devices[scan.device, default: 0] += 1
            c.countries[scan.country, default: 0] += 1
            counts[scan.qr] = c
            codes[scan.qr]?.total = c.total
            var t = touched[scan.qr] ?? ScanCounts(qr: scan.qr, owner: c.owner, total: 0)
            t.total = c.total
            t.minutes[ScanTime.minute(scan.atMillis)] = c.minutes[ScanTime.minute(scan.atMillis)]
            t.days[ScanTime.day(scan.atMillis)] = c.days[ScanTime.day(scan.atMillis)]
            t.devices[scan.device] = c.devices[scan.device]
            t.countries[scan.country] = c.countries[scan.country]
            touched[scan.qr] = t
        }
        let outcome = IngestOutcome(
            accepted: scans.count - unknown.count, duplicates: 0, unknownCodes: unknown,
            counts: touched.values.sorted { $0.qr < $1.qr })
        pending.append { reply.succeed(outcome) }
    }

    public func createCode(owner: String, label: String, target: String, reply: Reply<QRCode>) {
        if let failure { pending.append { reply.fail(failure) }; return }
        let id = register(owner: owner, label: label)
        let code = codes[id]!
        pending.append { reply.succeed(code) }
    }

    public func listCodes(owner: String, limit: Int, reply: Reply<[QRCode]>) {
        listsAsked.append((owner, limit))
        if let failure { pending.append { reply.fail(failure) }; return }
        let list = codes.values.filter { $0.owner == owner }.sorted { $0.id < $1.id }
        pending.append { reply.succeed(Array(list.prefix(limit))) }
    }

    public func counters(qr: QRCodeID, sinceMinute: Int64, sinceDay: Int64, reply: Reply<ScanCounts?>) {
        if let failure { pending.append { reply.fail(failure) }; return }
        let snapshot = counts[qr]
        pending.append { reply.succeed(snapshot) }
    }

    public func counters(owner: String, sinceMinute: Int64, sinceDay: Int64, limit: Int, reply: Reply<[ScanCounts]>) {
        if let failure { pending.append { reply.fail(failure) }; return }
        let snapshot = counts.values.filter { $0.owner == owner }.sorted { $0.qr < $1.qr }
        pending.append { reply.succeed(snapshot) }
    }

    public func stats(qr: QRCodeID, fromMillis: Int64, toMillis: Int64, bucket: ScanBucket, reply: Reply<ScanStats?>) {
        statsAsked.append((qr, fromMillis, toMillis, bucket))
        if let failure { pending.append { reply.fail(failure) }; return }
        guard let code = codes[qr] else { pending.append { reply.succeed(nil) }; return }
        let points = stride(from: fromMillis, to: toMillis, by: Int(bucket.millis)).map {
            (atMillis: $0, count: statsPoints[$0] ?? 0)
        }
        pending.append { reply.succeed(ScanStats(owner: code.owner, points: points)) }
    }
}
