// QR codes and scans: one set-based statement per ingest request (stores the
// scans, bumps minute / day / device / country buckets and the code's total,
// and returns the new absolute counts), snapshots and stats through the reader.
// Values are bound (typed), rows read by column name; the SQL pieces these
// statements share are functions of migration 7 (ScanMigrations).
import SwitchboardHub
import SwitchboardWire

extension PostgresStore: ScanStore {
    package static let ingestSQL = """
        WITH input AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(o int, q bigint, t bigint, d text, s text, c text, r text, e text)
        ), inserted AS (
            INSERT INTO scans (qr_id, scanned_at, device_type, os, country, referrer, event_id)
            SELECT i.q, at_epoch_ms(i.t), i.d, i.s, i.c, i.r, i.e
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
        // The batch travels as ONE bound JSON value: one statement per request,
        // whatever its size.
        writers.submit(
            WriteJob(Self.ingestSQL, [.json(Self.scanJSON(scans))]) { result in
                reply(Self.decoded(result) { rows throws(PostgresError) in try Self.ingestOutcome(rows, requested: count) })
            })
    }

    /// A store failure as the scan routes word it: a full queue keeps the
    /// wording these routes have always used.
    static func scanRefusal(_ error: HubError) -> HubError {
        error.code == .overloaded ? .storeBusy : error
    }

    /// The writer's rows decoded, or the refusal; a row that does not decode
    /// is a store failure.
    static func decoded<T>(
        _ result: Result<[Row], HubError>,
        _ decode: ([Row]) throws(PostgresError) -> T
    ) -> Result<T, HubError> {
        switch result {
        case .failure(let error): return .failure(scanRefusal(error))
        case .success(let rows):
            do throws(PostgresError) { return .success(try decode(rows)) } catch { return .failure(error.hubError) }
        }
    }

    static func scanJSON(_ scans: [ScanInput]) -> [UInt8] {
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
        return w.bytes
    }

    static func ingestOutcome(_ rows: [Row], requested: Int) throws(PostgresError) -> IngestOutcome {
        var unknown: [Int] = []
        var accepted = 0
        for row in rows {
            switch try row.text("kind") {
            case "u": unknown.append(try row.int("n"))
            case "a": accepted = try row.int("n")
            default: break
            }
        }
        unknown.sort()
        return IngestOutcome(
            accepted: accepted, duplicates: requested - accepted - unknown.count, unknownCodes: unknown,
            counts: try counts(from: rows))
    }

    /// Rows of (kind, qr, key, label, n) → counts per code. Kinds: `t` total
    /// (key: the owner), `m` minute, `d` day, `v` device, `c` country; others
    /// (the ingest's `u` and `a`) are skipped.
    static func counts(from rows: [Row]) throws(PostgresError) -> [ScanCounts] {
        var out: [QRCodeID: ScanCounts] = [:]
        for row in rows {
            let kind = try row.text("kind")
            guard kind.count == 1, "tmdvc".contains(kind) else { continue }
            let qr = try row.int64("qr")
            let n = try row.int64("n")
            var c = out[qr] ?? ScanCounts(qr: qr, owner: "", total: 0)
            switch kind {
            case "t": c.owner = try row.text("key"); c.label = try row.optionalText("label"); c.total = n
            case "m": c.minutes[try row.int64("key")] = n
            case "d": c.days[try row.int64("key")] = n
            case "v": c.devices[try row.text("key")] = n
            default: c.countries[try row.text("key")] = n
            }
            out[qr] = c
        }
        return out.values.sorted { $0.qr < $1.qr }
    }

    public func createCode(owner: String, label: String, target: String, reply: Reply<QRCode>) {
        writers.submit(
            WriteJob(
                """
                INSERT INTO qr_codes (owner_id, label, target) VALUES ($1, $2, $3)
                RETURNING \(Self.codeColumns)
                """, [.text(owner), .text(label), .text(target)]
            ) { result in
                reply(
                    Self.decoded(result) { rows throws(PostgresError) in
                        guard let row = rows.first else { throw .decode("id") }
                        return try Self.code(row)
                    })
            })
    }

    /// The columns `code(_:)` reads (a constant list: no values in it).
    static let codeColumns = "id, owner_id, label, target, total_scans, epoch_ms(created_at) AS created_at_ms"

    static func code(_ row: Row) throws(PostgresError) -> QRCode {
        QRCode(
            id: try row.int64("id"), owner: try row.text("owner_id"), label: try row.text("label"),
            target: try row.text("target"), total: try row.int64("total_scans"),
            createdAtMillis: try row.int64("created_at_ms"))
    }

    public func listCodes(owner: String, limit: Int, reply: Reply<[QRCode]>) {
        read(reply) { (conn: PGConnection) throws(PostgresError) -> [QRCode] in
            var codes: [QRCode] = []
            for row in try conn.query(
                "SELECT \(Self.codeColumns) FROM qr_codes WHERE owner_id = $1 ORDER BY id LIMIT $2",
                [.text(owner), .int(limit)])
            {
                codes.append(try Self.code(row))
            }
            return codes
        }
    }

    public func counters(qr: QRCodeID, sinceMinute: Int64, sinceDay: Int64, reply: Reply<ScanCounts?>) {
        read(reply) { (conn: PGConnection) throws(PostgresError) -> ScanCounts? in
            try Self.counts(
                snapshot: conn.query(
                    "SELECT * FROM scan_counters(ARRAY[$1::bigint], $2, $3)",
                    [.int64(qr), .int64(sinceMinute), .int64(sinceDay)])
            ).first
        }
    }

    public func counters(owner: String, sinceMinute: Int64, sinceDay: Int64, limit: Int, reply: Reply<[ScanCounts]>) {
        read(reply) { (conn: PGConnection) throws(PostgresError) -> [ScanCounts] in
            try Self.counts(
                snapshot: conn.query(
                    """
                    SELECT * FROM scan_counters(ARRAY(SELECT id FROM qr_codes WHERE owner_id = $1 ORDER BY id LIMIT $2), $3, $4)
                    """, [.text(owner), .int(limit), .int64(sinceMinute), .int64(sinceDay)]))
        }
    }

    /// Snapshot rows of `scan_counters` → counts per code. Buckets of a code
    /// that vanished between the parts have no `t` row and are dropped.
    static func counts(snapshot rows: [Row]) throws(PostgresError) -> [ScanCounts] {
        try counts(from: rows).filter { $0.label != nil }
    }

    public func stats(qr: QRCodeID, fromMillis: Int64, toMillis: Int64, bucket: ScanBucket, reply: Reply<ScanStats?>) {
        read(reply) { (conn: PGConnection) throws(PostgresError) -> ScanStats? in
            guard let owner = try conn.query("SELECT owner_id FROM qr_codes WHERE id = $1", [.int64(qr)]).first else {
                return nil
            }
            let rows = try conn.query(
                """
                SELECT epoch_ms(minute) / $4 * $4 AS bucket, sum(count)::bigint AS n
                FROM scan_minutes
                WHERE qr_id = $1 AND minute >= at_epoch_ms($2) AND minute < at_epoch_ms($3)
                GROUP BY 1 ORDER BY 1
                """, [.int64(qr), .int64(fromMillis), .int64(toMillis), .int64(bucket.millis)])
            var byBucket: [Int64: Int64] = [:]
            for row in rows { byBucket[try row.int64("bucket")] = try row.int64("n") }
            let points = stride(from: fromMillis, to: toMillis, by: Int(bucket.millis)).map {
                (atMillis: $0, count: byBucket[$0] ?? 0)
            }
            return ScanStats(owner: try owner.text("owner_id"), points: points)
        }
    }

    /// Runs `query` on the reader and answers `reply` with the scan wording.
    private func read<T>(_ reply: Reply<T>, _ query: @escaping @Sendable (PGConnection) throws(PostgresError) -> T) {
        reader.read(query, then: { reply($0.mapError(Self.scanRefusal)) })
    }
}
