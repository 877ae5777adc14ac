// Decoding what the QR redirect service reports: one scan, or a batch.
import SwitchboardWire

/// Scan bodies; a refusal is a `HubError` whose message names the scan and the field.
enum ScanRequest {
    /// Most scans in one `POST /v1/scans`.
    static let maxBatch = 1_000
    /// Scans older than this are refused (a redirect service replaying a
    /// buffer after an outage is fine; a wrong clock is not).
    static let maxAgeMillis: Int64 = 30 * ScanTime.dayMillis
    /// Scans this far in the future are refused (clock skew allowance).
    static let maxSkewMillis: Int64 = 5 * ScanTime.minuteMillis

    /// `{"scans": [scan, …]}` or a single scan object.
    static func decode(_ body: JSON, nowMillis: Int64) throws(HubError) -> [ScanInput] {
        guard body.isObject else { throw HubError(.badJSON, "body must be a JSON object") }
        let items: [JSON]
        if let list = body["scans"] {
            guard case .array(let array) = list else {
                throw HubError(.badRequest, "'scans' must be an array")
            }
            items = array
        } else {
            items = [body]
        }
        guard !items.isEmpty, items.count <= maxBatch else {
            throw HubError(.badRequest, "a batch holds 1 to \(maxBatch) scans")
        }
        var scans: [ScanInput] = []
        scans.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            scans.append(try scan(item, index: index, nowMillis: nowMillis))
        }
        return scans
    }

    private static func scan(_ item: JSON, index: Int, nowMillis: Int64) throws(HubError) -> ScanInput {
        func fail(_ message: String) -> HubError {
            HubError(.badRequest, "scans[\(index)]: " + message)
        }
        guard item.isObject else { throw fail("must be an object") }
        guard let qrField = item["qr"] else {
            throw HubError(.missingField, "scans[\(index)]: missing field 'qr'")
        }
        let qrID: Int64? = qrField.stringValue.flatMap { Int64($0) } ?? qrField.intValue
        guard let qr = qrID, qr > 0 else { throw fail("'qr' must be a QR code id") }
        var at = nowMillis
        if let field = item["at"], field != .null {
            guard let value = field.intValue else { throw fail("'at' must be ms since the epoch") }
            guard value >= nowMillis - maxAgeMillis, value <= nowMillis + maxSkewMillis else {
                throw fail("'at' must be within the last 30 days and at most 5 minutes ahead")
            }
            at = value
        }
        let device = try text(item, "device", max: 32, index: index).map(normalizedDevice) ?? "unknown"
        guard !device.isEmpty else { throw fail("'device' must be letters, digits, '-' or '_'") }
        var country = "ZZ"
        if let value = try text(item, "country", max: 2, index: index) {
            let upper = value.uppercased()
            guard upper.utf8.count == 2, upper.utf8.allSatisfy({ (65...90).contains($0) }) else {
                throw fail("'country' must be an ISO 3166-1 alpha-2 code")
            }
            country = upper
        }
        return ScanInput(
            qr: qr, atMillis: at, device: device, os: try text(item, "os", max: 64, index: index),
            country: country, referrer: try text(item, "referrer", max: 2048, index: index),
            eventID: try text(item, "event_id", max: 128, index: index))
    }

    private static func text(_ item: JSON, _ name: String, max: Int, index: Int) throws(HubError) -> String? {
        guard let field = item[name], field != .null else { return nil }
        guard let value = field.stringValue, !value.isEmpty, value.utf8.count <= max else {
            throw HubError(.badRequest, "scans[\(index)]: '\(name)' must be a string of 1 to \(max) bytes")
        }
        return value
    }

    /// Lower case; anything but letters, digits, '-' and '_' makes it empty.
    private static func normalizedDevice(_ raw: String) -> String {
        let lower = raw.lowercased()
        let ok = lower.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 95 }
        return ok ? lower : ""
    }
}
