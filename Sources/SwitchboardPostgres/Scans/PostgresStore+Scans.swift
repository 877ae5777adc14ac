// QR codes and scans: one set-based statement per ingest request (stores the
// scans, bumps minute / day / device / country buckets and the code's total,
// and returns the new absolute counts), snapshots and stats through the reader.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore: ScanStore {
    static let ingestSQL = """
        WITH input AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(o int, q bigint, t bigint, d text, s text, c text, r text, e text)
        ), inserted AS (
            INSERT INTO scans (qr_id, scanned_at, device_type, os, country, referrer, event_id)
            SELECT i.q, at_epoch_millis(i.t), i.d, i.s, i.c, i.r, i.e
            FROM input i JOIN qr_codes q ON q.id = i.q
            ORDER BY i.o
            ON CONFLICT (qr_id, event_id) WHERE event_id IS NOT NULL DO NOTHING
            RETURNING qr_id, scanned_at, device_type, country
        ), per_minute AS (
            INSERT INTO scan_minutes AS sm (qr_id, minute, count)
            SELECT qr_id, date_trunc('minute', scanned_at), count(*) FROM inserted GROUP BY 1, 2
            ON CONFLICT (qr_id, minute) DO UPDATE SET count = sm.count + EXCLUDED.count
            RETURNING qr_id, scan_minute_index(minute) AS k, count
        ), per_day AS (
            INSERT INTO scan_days AS sd (qr_id, day, count)
            SELECT qr_id, (scanned_at AT TIME ZONE 'UTC')::date, count(*) FROM inserted GROUP BY 1, 2
            ON CONFLICT (qr_id, day) DO UPDATE SET count = sd.count + EXCLUDED.count
            RETURNING qr_id, scan_day_index(day) AS k, count
        ), per_dimension AS (
            INSERT INTO scan_dimensions AS sx (qr_id, dimension, value, count)
            SELECT qr_id, 'device', device_type, count(*) FROM inserted GROUP BY 1, 3
            UNION ALL
            SELECT qr_id, 'country', country, count(*) FROM inserted GROUP BY 1, 3
            ON CONFLICT (qr_id, dimension, value) DO UPDATE SET count = sx.count + EXCLUDED.count
            RETURNING qr_id, dimension, value, count
        ), totals AS (
            UPDATE qr_codes q SET total_scans = q.total_scans + n.n
            FROM (SELECT qr_id, count(*) AS n FROM inserted GROUP BY qr_id) n
            WHERE q.id = n.qr_id
            RETURNING q.id, q.owner_id, q.total_scans
        )
        SELECT 't' AS kind, id AS qr, owner_id AS key, NULL::text AS label, total_scans AS n FROM totals
        UNION ALL SELECT 'm', qr_id, k::text, NULL, count FROM per_minute
        UNION ALL SELECT 'd', qr_id, k::text, NULL, count FROM per_day
        UNION ALL SELECT scan_dimension_kind(dimension), qr_id, value, NULL, count FROM per_dimension
        UNION ALL SELECT 'u', i.q, NULL, NULL, i.o FROM input i WHERE NOT EXISTS (SELECT 1 FROM qr_codes q WHERE q.id = i.q)
        UNION ALL SELECT 'a', NULL, NULL, NULL, count(*) FROM inserted
        """

    public func ingest(_ scans: [ScanInput], reply: Reply<IngestOutcome>) {
        let count = scans.count
        writer.submit(WriteJob(sql: Self.ingestSQL, params: [Self.scanJSON(scans)]) { result in
            reply(result.map { Self.ingestOutcome($0, requested: count) }.mapError(Self.scanRefusal))
        })
    }

    /// A store failure as the scan routes word it.
    static func scanRefusal(_ error: StoreError) -> HubError {
        error.code == .overloaded ? .storeBusy : error.hubError
    }

    static func scanJSON(_ scans: [ScanInput]) -> String {
        var w = JSONWriter(capacity: scans.count * 120)
        w.raw("[")
        for (o, s) in scans.enumerated() {
            if o > 0 { w.raw(",") }
            w.raw("{\"o\":"); w.int(o)
            w.key("q"); w.int(s.qr)
            w.key("t"); w.int(s.atMillis)
            w.key("d"); w.string(s.device)
            w.key("c"); w.string(s.country)
            if let os = s.os { w.key("s"); w.string(os) }
            if let r = s.referrer { w.key("r"); w.string(r) }
            if let e = s.eventID { w.key("e"); w.string(e) }
            w.raw("}")
        }
        w.raw("]")
        return w.string
    }

    static func ingestOutcome(_ rows: Rows, requested: Int) -> IngestOutcome {
        var unknown: [Int] = []
        var accepted = 0
        for row in rows {
            switch row[0] {
            case "u": if let index = row[4].flatMap({ Int($0) }) { unknown.append(index) }
            case "a": accepted = row[4].flatMap { Int($0) } ?? 0
            default: break
            }
        }
        unknown.sort()
        return IngestOutcome(accepted: accepted, duplicates: requested - accepted - unknown.count, unknownCodes: unknown,
                             counts: counts(from: rows))
    }

    /// Rows of (kind, qr, key, label, count) → counts per code. Kinds: `t`
    /// total (key = owner), `m` minute, `d` day, `v` device, `c` country;
    /// others are skipped.
    static func counts(from rows: Rows) -> [ScanCounts] {
        var out: [QRCodeID: ScanCounts] = [:]
        for row in rows {
            guard let kind = row[0], "tmdvc".contains(kind), let qr = row[1].flatMap({ Int64($0) }) else { continue }
            let n = row[4].flatMap { Int64($0) } ?? 0
            var c = out[qr] ?? ScanCounts(qr: qr, owner: "", total: 0)
            switch kind {
            case "t": c.owner = row[2] ?? ""; c.label = row[3]; c.total = n
            case "m": if let k = row[2].flatMap({ Int64($0) }) { c.minutes[k] = n }
            case "d": if let k = row[2].flatMap({ Int64($0) }) { c.days[k] = n }
            case "v": if let v = row[2] { c.devices[v] = n }
            default: if let v = row[2] { c.countries[v] = n }
            }
            out[qr] = c
        }
        return out.values.sorted { $0.qr < $1.qr }
    }

    public func createCode(owner: String, label: String, target: String, reply: Reply<QRCode>) {
        writer.submit(WriteJob(sql: """
            INSERT INTO qr_codes (owner_id, label, target) VALUES ($1, $2, $3)
            RETURNING \(Self.codeColumns)
            """, params: [owner, label, target]) { result in
            let outcome = result.flatMap { rows in rows.first.flatMap(Self.code).map { .success($0) } ?? .failure(StoreError(.failed)) }
            reply(outcome.mapError(Self.scanRefusal))
        })
    }

    static let codeColumns = "id, owner_id, label, target, total_scans, epoch_millis(created_at) AS created_at_ms"

    static func code(_ row: [String?]) -> QRCode? {
        guard let id = row[0].flatMap({ Int64($0) }) else { return nil }
        return QRCode(id: id, owner: row[1] ?? "", label: row[2] ?? "", target: row[3] ?? "",
                      total: row[4].flatMap { Int64($0) } ?? 0, createdAtMillis: row[5].flatMap { Int64($0) } ?? 0)
    }

    public func listCodes(owner: String, limit: Int, reply: Reply<[QRCode]>) {
        reader.read({ (conn: PGConnection) throws(PostgresError) -> [QRCode] in
            try conn.execute("SELECT \(Self.codeColumns) FROM qr_codes WHERE owner_id = $1 ORDER BY id LIMIT $2",
                             [owner, String(limit)]).compactMap(Self.code)
        }, completion: { reply($0.mapError(Self.scanRefusal)) })
    }

    public func counters(qr: QRCodeID, sinceMinute: Int64, sinceDay: Int64, reply: Reply<ScanCounts?>) {
        reader.read({ (conn: PGConnection) throws(PostgresError) -> ScanCounts? in
            try Self.counts(snapshot: conn.execute("SELECT * FROM scan_counters(ARRAY[$1::bigint], $2, $3)",
                                                   [String(qr), String(sinceMinute), String(sinceDay)])).first
        }, completion: { reply($0.mapError(Self.scanRefusal)) })
    }

    public func counters(owner: String, sinceMinute: Int64, sinceDay: Int64, limit: Int, reply: Reply<[ScanCounts]>) {
        reader.read({ (conn: PGConnection) throws(PostgresError) -> [ScanCounts] in
            try Self.counts(snapshot: conn.execute("""
                SELECT * FROM scan_counters(ARRAY(SELECT id FROM qr_codes WHERE owner_id = $1 ORDER BY id LIMIT $2), $3, $4)
                """, [owner, String(limit), String(sinceMinute), String(sinceDay)]))
        }, completion: { reply($0.mapError(Self.scanRefusal)) })
    }

    /// Snapshot rows of `scan_counters` → counts per code. Buckets of a code
    /// that vanished between the parts have no `t` row and are dropped.
    static func counts(snapshot rows: Rows) -> [ScanCounts] {
        counts(from: rows).filter { $0.label != nil }
    }

    public func stats(qr: QRCodeID, fromMillis: Int64, toMillis: Int64, bucket: ScanBucket, reply: Reply<ScanStats?>) {
        reader.read({ (conn: PGConnection) throws(PostgresError) -> ScanStats? in
            guard let owner = try conn.execute("SELECT owner_id FROM qr_codes WHERE id = $1", [String(qr)]).first?[0] ?? nil else {
                return nil
            }
            let rows = try conn.execute("""
                SELECT epoch_millis(minute) / $4::bigint * $4::bigint AS bucket, sum(count)::bigint AS n
                FROM scan_minutes
                WHERE qr_id = $1 AND minute >= at_epoch_millis($2) AND minute < at_epoch_millis($3)
                GROUP BY 1 ORDER BY 1
                """, [String(qr), String(fromMillis), String(toMillis), String(bucket.millis)])
            var byBucket: [Int64: Int64] = [:]
            for row in rows {
                if let b = row[0].flatMap({ Int64($0) }), let n = row[1].flatMap({ Int64($0) }) { byBucket[b] = n }
            }
            let points = stride(from: fromMillis, to: toMillis, by: Int(bucket.millis)).map { (atMillis: $0, count: byBucket[$0] ?? 0) }
            return ScanStats(owner: owner, points: points)
        }, completion: { reply($0.mapError(Self.scanRefusal)) })
    }
}
