// The SQL functions of the scan statements, created by their own migration
// (number 7 in `Migrations.all`): the pieces the ingest, the snapshots and the
// stats share are written once, here.

/// Migrations of the scan tables.
enum ScanMigrations {
    /// Counter keys, time conversions and the live-window snapshot as SQL
    /// functions. Simple SQL functions (no STRICT, volatility no stricter
    /// than their bodies) are inlined by the planner, so the ingest costs
    /// what it cost with the expressions spelled out.
    static let counterFunctions = """
        -- The instant of a count of milliseconds since the epoch: the inverse of
        -- epoch_ms (migration 6).
        CREATE FUNCTION at_epoch_ms(ms bigint) RETURNS timestamptz
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT to_timestamp(ms / 1000.0) $$;
        -- The keys of the live counters: minutes and UTC days since the epoch.
        CREATE FUNCTION scan_minute_index(minute timestamptz) RETURNS bigint
            LANGUAGE sql STABLE PARALLEL SAFE
            AS $$ SELECT (extract(epoch FROM minute) / 60)::bigint $$;
        CREATE FUNCTION scan_day_index(day date) RETURNS bigint
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT (day - date '1970-01-01')::bigint $$;
        -- The kind of a dimension row in counter results: v device, c country.
        CREATE FUNCTION scan_dimension_kind(dimension text) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT CASE dimension WHEN 'device' THEN 'v' ELSE 'c' END $$;
        -- The live-window counters of some codes as rows (kind, qr, key, label, n):
        -- t the total (key: the owner), m per minute from since_minute, d per UTC
        -- day from since_day, v / c the 32 largest device types / countries.
        -- One statement, so the parts agree with each other.
        CREATE FUNCTION scan_counters(codes bigint[], since_minute bigint, since_day bigint)
            RETURNS TABLE (kind text, qr bigint, key text, label text, n bigint)
            LANGUAGE sql STABLE PARALLEL SAFE
            AS $$
            SELECT 't', q.id, q.owner_id, q.label, q.total_scans FROM qr_codes q WHERE q.id = ANY (codes)
            UNION ALL
            SELECT 'm', m.qr_id, scan_minute_index(m.minute)::text, NULL, m.count FROM scan_minutes m
            WHERE m.qr_id = ANY (codes) AND m.minute >= to_timestamp(since_minute * 60)
            UNION ALL
            SELECT 'd', d.qr_id, scan_day_index(d.day)::text, NULL, d.count FROM scan_days d
            WHERE d.qr_id = ANY (codes) AND d.day >= date '1970-01-01' + since_day::int
            UNION ALL
            SELECT scan_dimension_kind(r.dimension), r.qr_id, r.value, NULL, r.count FROM (
                SELECT x.*, row_number() OVER (PARTITION BY x.qr_id, x.dimension ORDER BY x.count DESC, x.value) AS rank
                FROM scan_dimensions x WHERE x.qr_id = ANY (codes)) r
            WHERE r.rank <= 32
            $$;
        """
}
