// QR codes and scans as the hub sees them, and the store port that keeps
// them durable.

/// Identifies a QR code.
public typealias QRCodeID = Int64

/// Time units of the scan counters: minutes and UTC days since the epoch.
public enum ScanTime {
    /// Milliseconds in a minute.
    public static let minuteMillis: Int64 = 60_000
    /// Milliseconds in a day.
    public static let dayMillis: Int64 = 86_400_000
    /// The minute (since the epoch) that contains `millis`.
    public static func minute(_ millis: Int64) -> Int64 { floorDiv(millis, minuteMillis) }
    /// The UTC day (since the epoch) that contains `millis`.
    public static func day(_ millis: Int64) -> Int64 { floorDiv(millis, dayMillis) }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}

/// One scan reported by the QR redirect service, validated and normalised.
public struct ScanInput: Sendable, Equatable {
    /// The code scanned.
    public var qr: QRCodeID
    /// When it was scanned, ms since the epoch.
    public var atMillis: Int64
    /// Device type, lower case (`mobile`, `tablet`, `desktop`, … or `unknown`).
    public var device: String
    /// Operating system, as reported.
    public var os: String?
    /// ISO 3166-1 alpha-2 country, upper case; `ZZ` when unknown.
    public var country: String
    /// Referrer URL, as reported.
    public var referrer: String?
    /// The reporter's id for the scan; a scan with the same id for the same
    /// code is stored once.
    public var eventID: String?

    /// A scan.
    public init(
        qr: QRCodeID, atMillis: Int64, device: String, os: String? = nil, country: String,
        referrer: String? = nil, eventID: String? = nil
    ) {
        self.qr = qr
        self.atMillis = atMillis
        self.device = device
        self.os = os
        self.country = country
        self.referrer = referrer
        self.eventID = eventID
    }
}

/// Absolute counts of one code as the database holds them after a commit or
/// in a snapshot. Only the keys present are known; merging takes the larger
/// value per key, so stale snapshots never move a counter back.
public struct ScanCounts: Sendable, Equatable {
    /// The code.
    public var qr: QRCodeID
    /// Its owner.
    public var owner: String
    /// Its label, when the source knows it.
    public var label: String?
    /// All scans ever stored for the code.
    public var total: Int64
    /// Scans per UTC day (day index → count).
    public var days: [Int64: Int64]
    /// Scans per minute (minute index → count).
    public var minutes: [Int64: Int64]
    /// Scans per device type (all time).
    public var devices: [String: Int64]
    /// Scans per country (all time).
    public var countries: [String: Int64]

    /// Counts.
    public init(
        qr: QRCodeID, owner: String, label: String? = nil, total: Int64, days: [Int64: Int64] = [:],
        minutes: [Int64: Int64] = [:], devices: [String: Int64] = [:], countries: [String: Int64] = [:]
    ) {
        self.qr = qr
        self.owner = owner
        self.label = label
        self.total = total
        self.days = days
        self.minutes = minutes
        self.devices = devices
        self.countries = countries
    }
}

/// What an ingest committed.
public struct IngestOutcome: Sendable, Equatable {
    /// Scans stored.
    public var accepted: Int
    /// Scans skipped because their event id was already stored.
    public var duplicates: Int
    /// Indexes (in the request) of scans whose code does not exist.
    public var unknownCodes: [Int]
    /// The new absolute counts of every code that got scans.
    public var counts: [ScanCounts]

    /// An outcome.
    public init(accepted: Int, duplicates: Int, unknownCodes: [Int], counts: [ScanCounts]) {
        self.accepted = accepted
        self.duplicates = duplicates
        self.unknownCodes = unknownCodes
        self.counts = counts
    }
}

/// A registered QR code.
public struct QRCode: Sendable, Equatable {
    /// Its id.
    public var id: QRCodeID
    /// The user who owns it.
    public var owner: String
    /// A human label.
    public var label: String
    /// Where the code redirects.
    public var target: String
    /// Scans stored.
    public var total: Int64
    /// Creation time, ms since the epoch.
    public var createdAtMillis: Int64

    /// A code.
    public init(id: QRCodeID, owner: String, label: String, target: String, total: Int64, createdAtMillis: Int64) {
        self.id = id
        self.owner = owner
        self.label = label
        self.target = target
        self.total = total
        self.createdAtMillis = createdAtMillis
    }
}

/// Granularity of `GET /v1/qr-codes/{id}/stats`.
public enum ScanBucket: String, Sendable, CaseIterable {
    case minute, hour, day

    /// The bucket's length in ms.
    public var millis: Int64 {
        switch self {
        case .minute: return ScanTime.minuteMillis
        case .hour: return 3_600_000
        case .day: return ScanTime.dayMillis
        }
    }
}

/// A code's scans per bucket over a range.
public struct ScanStats: Sendable, Equatable {
    /// The code's owner (for the authorization check).
    public var owner: String
    /// (bucket start ms, count), every bucket of the range, zeros included.
    public var points: [(atMillis: Int64, count: Int64)]

    /// Stats.
    public init(owner: String, points: [(atMillis: Int64, count: Int64)]) {
        self.owner = owner
        self.points = points
    }

    public static func == (a: ScanStats, b: ScanStats) -> Bool {
        a.owner == b.owner && a.points.map(\.atMillis) == b.points.map(\.atMillis)
            && a.points.map(\.count) == b.points.map(\.count)
    }
}

/// Durable QR codes and scans. Every call answers through its `Reply`, which
/// runs on the loop; refusals are `HubError`s.
public protocol ScanStore: AnyObject {
    /// Commits scans (one group commit) and answers with the new counts.
    func ingest(_ scans: [ScanInput], reply: Reply<IngestOutcome>)
    /// Registers a code.
    func createCode(owner: String, label: String, target: String, reply: Reply<QRCode>)
    /// An owner's codes, oldest first.
    func listCodes(owner: String, limit: Int, reply: Reply<[QRCode]>)
    /// One code's counters for the live window (minutes from `sinceMinute`,
    /// days from `sinceDay`); nil when the code does not exist.
    func counters(qr: QRCodeID, sinceMinute: Int64, sinceDay: Int64, reply: Reply<ScanCounts?>)
    /// The counters of every code of an owner (at most `limit` codes).
    func counters(owner: String, sinceMinute: Int64, sinceDay: Int64, limit: Int, reply: Reply<[ScanCounts]>)
    /// Scans per bucket in [from, to); nil when the code does not exist.
    func stats(qr: QRCodeID, fromMillis: Int64, toMillis: Int64, bucket: ScanBucket, reply: Reply<ScanStats?>)
}
