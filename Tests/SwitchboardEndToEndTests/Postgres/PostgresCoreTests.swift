// The adapter's core against a real PostgreSQL: typed parameters reach the
// server as the values they name, rows decode by column name and refuse
// what they cannot read, failures leave as HubError.
import Foundation
import Logging
import SwitchboardHub
@testable import SwitchboardPostgres
import Testing

@Suite struct PostgresCoreTests {
    @Test func textArraysKeepEveryElementAsSent() throws {
        let tricky = ["plain", "a,b", "{braces}", "\"quoted\"", "back\\slash", "NULL", "", " spaced ", "ünï€ode"]
        let rows = try PGConnection(TestDatabase.conninfo).query(
            "SELECT x, n FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n) ORDER BY n", [.textArray(tricky)])
        #expect(try rows.map { try $0.text("x") } == tricky)
        #expect(try rows.map { try $0.int64("n") } == Array(1...Int64(tricky.count)))
    }

    @Test func concatenatedArraysKeepEveryElementOfEveryPartInOrder() throws {
        // How merged chat sends bind their columns: one-element arrays joined.
        let tricky = ["plain", "a,b", "{braces}", "\"quoted\"", "back\\slash", "NULL", "", " spaced ", "ünï€ode"]
        let texts: [String?] = tricky + [nil]
        let numbers: [Int64?] = [Int64.min, nil, 0, Int64.max, 7, nil, -1, 2, 3, nil]
        let rows = try PGConnection(TestDatabase.conninfo).query(
            "SELECT x, y, n FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS t(x, y, z, n) ORDER BY n",
            [
                .concatenatingArrays(texts.map { .optionalTextArray([$0]) }),
                .concatenatingArrays(numbers.map { .optionalInt64Array([$0]) }),
                // Empty parts add nothing.
                .concatenatingArrays([.int64Array([]), .int64Array([1, 2]), .int64Array([]), .int64Array([3])]),
            ])
        #expect(try rows.map { try $0.optionalText("x") } == texts)
        #expect(try rows.map { try $0.optionalInt64("y") } == numbers)
        #expect(rows.count == texts.count)
        let empty = try PGConnection(TestDatabase.conninfo).query(
            "SELECT cardinality($1::bigint[]) AS n", [.concatenatingArrays([.int64Array([]), .int64Array([])])])
        #expect(try empty.first?.int("n") == 0)
    }

    @Test func pipelinedStatementsArePreparedOnceAndOneThatCannotBeStillFailsInItsPlace() throws {
        let conn = try PGConnection(TestDatabase.conninfo)
        for i in Int64(1)...3 {
            let out = try conn.pipelineTransaction([("SELECT $1::bigint + 1 AS n", [.int64(i)])])
            #expect(out.committed)
            #expect(try out.results[0].get().first?.int64("n") == i + 1)
        }
        let prepared = try conn.query(
            "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = $1", [.text("SELECT $1::bigint + 1 AS n")])
        #expect(try prepared.first?.int("n") == 1, "prepared once, run three times")
        let bad = try conn.pipelineTransaction([("SELECT $1::bigint +", [.int64(1)])])
        #expect(!bad.committed)
        guard case .failure(let error) = bad.results[0] else {
            Issue.record("a syntax error succeeded")
            return
        }
        #expect(error.sqlState == "42601")
        // The session still works, its prepared statement included.
        let again = try conn.pipelineTransaction([("SELECT $1::bigint + 1 AS n", [.int64(41)])])
        #expect(try again.results[0].get().first?.int64("n") == 42)
    }

    @Test func int64ArraysBindForAny() throws {
        let rows = try PGConnection(TestDatabase.conninfo).query(
            "SELECT g FROM generate_series(1, 10) g WHERE g = ANY($1::bigint[]) ORDER BY g", [.int64Array([2, 5, 11, -1])])
        #expect(try rows.map { try $0.int64("g") } == [2, 5])
        let empty = try PGConnection(TestDatabase.conninfo).query("SELECT cardinality($1::bigint[]) AS n", [.int64Array([])])
        #expect(try empty.first?.int("n") == 0)
    }

    @Test func scalarsRoundTripAndNullsAreOptional() throws {
        let rows = try PGConnection(TestDatabase.conninfo).query(
            "SELECT $1::bigint AS big, $2::boolean AS yes, $3::float8 AS d, $4::bigint AS missing, $5::text AS t, $6::jsonb::text AS j",
            [.int64(Int64.min), .bool(true), .double(0.25), .int64(nil), .text("x"), .json(Array(#"{"a": 1}"#.utf8))])
        let row = try #require(rows.first)
        #expect(try row.int64("big") == Int64.min)
        #expect(try row.bool("yes"))
        #expect(try row.double("d") == 0.25)
        #expect(try row.optionalInt64("missing") == nil)
        #expect(try row.text("t") == "x")
        #expect(try row.bytes("j") == Array(#"{"a": 1}"#.utf8))
    }

    @Test func undecodableRowsThrowInsteadOfDefaulting() throws {
        let row = try #require(
            try PGConnection(TestDatabase.conninfo).query("SELECT 'abc' AS word, NULL::bigint AS nothing").first)
        #expect(throws: PostgresError.self) { try row.int64("word") }  // not a number
        #expect(throws: PostgresError.self) { try row.int64("nothing") }  // NULL where a value is required
        #expect(throws: PostgresError.self) { try row.text("absent") }  // no such column
        #expect(throws: PostgresError.self) { try row.bool("word") }
        #expect((try? row.text("absent")) == nil)
        do {
            _ = try row.int64("absent")
        } catch {
            #expect(error.kind == .decode && error.hubError == .storeFailed)
        }
    }

    @Test func aNULInAValueIsRefusedAsAnInvalidValueNotCutShort() throws {
        let conn = try PGConnection(TestDatabase.conninfo)
        do {
            _ = try conn.query("SELECT $1::text AS t", [.text("a\u{0}b")])
            Issue.record("a NUL reached the server")
        } catch {
            #expect(error.sqlState == "22021" && error.hubError == .invalidValue)
        }
        // The connection is still usable.
        #expect(try conn.query("SELECT 1 AS one").first?.int("one") == 1)
    }

    @Test func writerAnswersWithHubErrorsAndANULJobFailsAlone() throws {
        let table = "core_" + UUID().uuidString.prefix(8).lowercased()
        try TestDatabase.query("CREATE TABLE \(table) (name text PRIMARY KEY)")
        let writer = GroupCommitWriter(conninfo: TestDatabase.conninfo, logger: Logger(label: "test"))
        let answers = Locked<[String: Result<[Row], HubError>]>([:])
        for name in ["one", "bad\u{0}", "two"] {
            writer.submit(
                WriteJob("INSERT INTO \(table) (name) VALUES ($1) RETURNING name", [.text(name)]) { r in
                    answers.withLock { $0[name] = r }
                })
        }
        writer.start()
        #expect(eventually { answers.withLock { $0.count } == 3 })
        writer.drainAndStop(timeout: 5)
        let got = answers.withLock { $0 }
        #expect(try got["one"]?.get().first?.text("name") == "one")
        #expect(try got["two"]?.get().first?.text("name") == "two")
        if case .failure(let error)? = got["bad\u{0}"] {
            #expect(error == .invalidValue)
        } else {
            Issue.record("the NUL job was not refused")
        }
        #expect(try TestDatabase.query("SELECT count(*) FROM \(table)").first?.first == "2")
    }
}

/// A loop for store tests: runs the reply on the store's thread at once.
struct InlineLoop: HubLoop {
    func enqueue(_ job: @escaping @Sendable () -> Void) { job() }
}

extension HubError {
    /// A short name for comparing answers in tests.
    var testName: String { self == .invalidValue ? "invalidValue" : "\(code)" }
}
