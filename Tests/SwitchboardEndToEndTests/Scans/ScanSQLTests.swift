// The scan statements against a real PostgreSQL: the shared SQL functions of
// migration 7 are inlined by the planner, so the ingest (the write path) is
// still one statement whose plan holds no function call of ours.
import SwitchboardPostgres
import Testing

@Suite struct ScanSQLTests {
    static let ours = ["scan_minute_index", "scan_day_index", "scan_dimension_kind", "at_epoch_ms", "epoch_ms"]

    func plan(_ sql: String, _ values: [SQLValue]) throws -> String {
        try PGConnection(TestDatabase.conninfo).query("EXPLAIN (VERBOSE, COSTS OFF) " + sql, values)
            .map { try $0.text("QUERY PLAN") }.joined(separator: "\n")
    }

    @Test func theIngestPlanInlinesEverySharedFunction() throws {
        let batch = #"[{"o":0,"q":1,"t":1800000000000,"d":"mobile","c":"RO"}]"#
        let text = try plan(PostgresStore.ingestSQL, [.json(Array(batch.utf8))])
        #expect(text.contains("scan_minutes") && text.contains("scan_dimensions"))
        for name in Self.ours { #expect(!text.contains(name + "("), "\(name) is called, not inlined:\n\(text)") }
    }

    @Test func aCodeSnapshotIsOnePlanOverTheTables() throws {
        let text = try plan("SELECT * FROM scan_counters(ARRAY[$1::bigint], $2, $3)", [.int64(1), .int64(0), .int64(0)])
        #expect(!text.contains("Function Scan"), "scan_counters is not inlined:\n\(text)")
        for name in Self.ours { #expect(!text.contains(name + "("), "\(name) is called, not inlined:\n\(text)") }
    }
}
