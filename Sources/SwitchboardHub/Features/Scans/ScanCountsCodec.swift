// Committed scan counts as control messages between the nodes of a cluster:
// `{"c":[{"q":7,"o":"shop","l":"Door","t":12,"d":[day,n,…],"m":[minute,n,…],
// "dv":{"mobile":9},"co":{"RO":3}},…]}`. The sender keeps only what a
// receiver's board can show (the latest minutes and days, the largest device
// types and countries) and splits a batch into messages of bounded size; the
// receiver trusts nothing: every number is range-checked, every size bounded,
// and a message with anything out of place is refused whole.
import SwitchboardWire

/// Encodes and decodes the `scans` control messages.
enum ScanCountsCodec {
    /// The control topic.
    static let topic = "scans"
    /// Bytes of one message's body the encoder aims at: with the envelope's
    /// header it stays under PostgreSQL NOTIFY's 8,000-byte payload, so a
    /// usual batch goes inline, not by reference. One code larger than this
    /// goes alone in its message.
    static let messageBudgetBytes = 6_000
    /// Most codes in one message (an ingest batch touches at most 1,000).
    static let maxCodes = 1_000
    /// Latest minutes kept per code: the board's window plus the clock skew
    /// an ingest allows, with room to spare.
    static let maxMinutes = 128
    /// Latest days kept per code (the board shows today; it keeps yesterday).
    static let maxDays = 4
    /// Device types or countries kept per code (the board keeps no more).
    static let maxNames = CodeCounter.dimensionCap
    /// Largest count accepted: every JSON number up to it is exact.
    static let maxCount: Int64 = 1 << 53
    /// Largest minute and day index: those of `Timestamp.maxMillis`.
    static let maxMinute = ScanTime.minute(Timestamp.maxMillis)
    static let maxDay = ScanTime.day(Timestamp.maxMillis)
    /// Longest label (as `POST /v1/qr-codes` allows) and device type (as an ingest allows).
    static let maxLabelBytes = 200
    static let maxDeviceBytes = 32

    // MARK: Encoding

    /// The bodies of the messages that carry `all`: one unless the batch is
    /// larger than `messageBudgetBytes`. Codes the receiver would refuse
    /// (never the case for counts read from the store) are left out.
    static func messages(_ all: [ScanCounts]) -> [JSON] {
        // `{"c":[` and `]}` around the entries.
        let wrapper = 8
        var out: [JSON] = []
        var entries: [JSON] = []
        var bytes = wrapper
        for counts in all {
            guard let entry = entry(counts) else { continue }
            let size = entry.bytes.count + 1
            if !entries.isEmpty && (bytes + size > messageBudgetBytes || entries.count == maxCodes) {
                out.append(.object(["c": .array(entries)]))
                entries = []
                bytes = wrapper
            }
            entries.append(entry)
            bytes += size
        }
        if !entries.isEmpty { out.append(.object(["c": .array(entries)])) }
        return out
    }

    private static func entry(_ counts: ScanCounts) -> JSON? {
        guard isQR(counts.qr), isOwner(counts.owner), isCount(counts.total) else { return nil }
        var object: [String: JSON] = [
            "q": .int(counts.qr), "o": .string(counts.owner), "t": .int(counts.total),
            "d": pairs(counts.days, isKey: isDay, keep: maxDays),
            "m": pairs(counts.minutes, isKey: isMinute, keep: maxMinutes),
            "dv": names(counts.devices, isName: isDevice),
            "co": names(counts.countries, isName: isCountry),
        ]
        if let label = counts.label, isLabel(label) { object["l"] = .string(label) }
        return .object(object)
    }

    /// The latest `keep` valid keys, as a flat `[key, count, …]`.
    private static func pairs(_ counts: [Int64: Int64], isKey: (Int64) -> Bool, keep: Int) -> JSON {
        let kept = counts.filter { isKey($0.key) && isCount($0.value) }.sorted { $0.key > $1.key }.prefix(keep)
        return .array(kept.flatMap { [JSON.int($0.key), JSON.int($0.value)] })
    }

    /// The `maxNames` largest valid names.
    private static func names(_ counts: [String: Int64], isName: (String) -> Bool) -> JSON {
        let valid = counts.filter { isName($0.key) && isCount($0.value) }
        return .object(
            Dictionary(uniqueKeysWithValues: CodeCounter.ranked(valid).prefix(maxNames).map { ($0.name, JSON.int($0.count)) }))
    }

    // MARK: Decoding

    /// The counts in a message body, or nil when anything in it is out of
    /// place (the whole message is refused).
    static func decode(_ body: JSON) -> [ScanCounts]? {
        guard case .object(let root) = body, root.count == 1, case .array(let list)? = root["c"],
            (1...maxCodes).contains(list.count)
        else { return nil }
        var out: [ScanCounts] = []
        out.reserveCapacity(list.count)
        for item in list {
            guard let counts = counts(item) else { return nil }
            out.append(counts)
        }
        return out
    }

    private static func counts(_ item: JSON) -> ScanCounts? {
        guard case .object(let fields) = item, fields.count <= 8,
            let qr = fields["q"]?.intValue, isQR(qr),
            let owner = fields["o"]?.stringValue, isOwner(owner),
            let total = fields["t"]?.intValue, isCount(total),
            let days = pairs(fields["d"], isKey: isDay, max: maxDays),
            let minutes = pairs(fields["m"], isKey: isMinute, max: maxMinutes),
            let devices = names(fields["dv"], isName: isDevice),
            let countries = names(fields["co"], isName: isCountry)
        else { return nil }
        var label: String?
        if let field = fields["l"] {
            guard let text = field.stringValue, isLabel(text) else { return nil }
            label = text
        }
        return ScanCounts(
            qr: qr, owner: owner, label: label, total: total, days: days, minutes: minutes, devices: devices,
            countries: countries)
    }

    private static func pairs(_ json: JSON?, isKey: (Int64) -> Bool, max: Int) -> [Int64: Int64]? {
        guard case .array(let flat)? = json, flat.count % 2 == 0, flat.count <= 2 * max else { return nil }
        var out: [Int64: Int64] = [:]
        var index = 0
        while index < flat.count {
            guard let key = flat[index].intValue, isKey(key), let count = flat[index + 1].intValue, isCount(count),
                out[key] == nil
            else { return nil }
            out[key] = count
            index += 2
        }
        return out
    }

    private static func names(_ json: JSON?, isName: (String) -> Bool) -> [String: Int64]? {
        guard case .object(let members)? = json, members.count <= maxNames else { return nil }
        var out: [String: Int64] = [:]
        for (name, value) in members {
            guard isName(name), let count = value.intValue, isCount(count) else { return nil }
            out[name] = count
        }
        return out
    }

    // MARK: What a field may hold

    static func isQR(_ qr: Int64) -> Bool { qr > 0 }
    static func isCount(_ n: Int64) -> Bool { (0...maxCount).contains(n) }
    static func isMinute(_ minute: Int64) -> Bool { (0...maxMinute).contains(minute) }
    static func isDay(_ day: Int64) -> Bool { (0...maxDay).contains(day) }
    static func isOwner(_ owner: String) -> Bool { Identifier.isUserID(owner) }
    static func isLabel(_ label: String) -> Bool { Identifier.isValid(label, maxBytes: maxLabelBytes) }
    /// Lower-case letters, digits, '-' and '_', as an ingest normalises them.
    static func isDevice(_ name: String) -> Bool {
        let utf8 = name.utf8
        return (1...maxDeviceBytes).contains(utf8.count)
            && utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 95 }
    }
    /// Two upper-case ASCII letters (`ZZ` when unknown).
    static func isCountry(_ name: String) -> Bool {
        name.utf8.count == 2 && name.utf8.allSatisfy { (65...90).contains($0) }
    }
}
