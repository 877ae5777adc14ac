// One libpq connection, used by exactly one thread. Errors are typed and
// never carry SQL text or the connection string.
import SwitchboardHub
import Foundation
internal import CLibPQ

/// A statement and its bound values.
typealias Statement = (sql: String, values: [SQLValue])

/// A failed database operation. Internal to the adapter: what leaves it is
/// a `HubError` (`hubError`).
package struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// Why.
    package enum Kind: Sendable { case connection, statement, decode }
    /// Connection trouble (retry later), a statement the server rejected, or
    /// a row that does not hold what the code reads from it.
    package let kind: Kind
    /// SQLSTATE when the server sent one.
    package let sqlState: String?
    /// The column a decode failed on.
    package let column: String?

    package init(kind: Kind, sqlState: String?, column: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.column = column
    }

    /// A row without `column`, or with a value there that does not parse.
    package static func decode(_ column: String) -> PostgresError { PostgresError(kind: .decode, sqlState: nil, column: column) }

    package var description: String {
        switch kind {
        case .connection: return "database connection failed"
        case .statement: return "statement failed (SQLSTATE \(sqlState ?? "?"))"
        case .decode: return "row cannot be decoded (column \(column ?? "?"))"
        }
    }

    /// The refusal a caller sees.
    package var hubError: HubError {
        if kind == .connection { return .unavailable }
        // Class 22 (data exception: a NUL character in text or JSON, a number
        // out of range, a bad date): the caller's value, not a failure here.
        if kind == .statement, sqlState?.hasPrefix("22") == true { return .invalidValue }
        return .storeFailed
    }
}

/// A blocking libpq connection.
package final class PGConnection {
    // Read by the LISTEN/NOTIFY extension (PGConnection+Notify.swift).
    private(set) var conn: OpaquePointer?
    /// Server-side prepared statements of this session, by SQL text
    /// (`prepareForPipeline`): a statement run again is neither parsed nor,
    /// once PostgreSQL settles on a generic plan, planned again. A batch's
    /// planning was a fifth of the chat send's cost (issue 12).
    private var prepared: [String: String] = [:]
    /// Statements that could not be prepared (run unprepared, not tried again).
    private var unpreparable: Set<String> = []
    /// Most statements prepared per session: the writers' statements are a
    /// few dozen literal texts; past it a statement simply runs unprepared.
    static let preparedLimit = 128

    /// The `application_name` a session gets unless the conninfo names one:
    /// the process id makes each hub's sessions findable in pg_stat_activity
    /// (operators, and tests that wait for a killed hub's sessions to end).
    package static let defaultApplicationName = "switchboard/\(getpid())"

    /// TCP settings a session gets unless the conninfo sets them: across a
    /// partition nothing is refused, packets just vanish, and without them a
    /// statement waits for the kernel's retransmissions (~15 min), its
    /// writer stuck and its clients unanswered. Data unacknowledged for
    /// 10 s, or an idle peer silent for 10 s + 3 × 5 s, ends the session
    /// (then the writer answers `unavailable` and reconnects). Ignored on
    /// unix sockets.
    static let tcpDefaults = [
        ("tcp_user_timeout", "10000"), ("keepalives_idle", "10"), ("keepalives_interval", "5"), ("keepalives_count", "3"),
    ]

    /// Connects; throws a connection error if the server does not answer.
    /// `conninfo` is a URL or key=value string; `purpose`, if given, is
    /// appended to the default application_name (`switchboard/<pid>/<purpose>`).
    package init(_ conninfo: String, purpose: String? = nil) throws(PostgresError) {
        // expand_dbname = 1: "dbname" carries the whole conninfo; the fallback
        // applies only when the conninfo sets no application_name itself.
        // Keywords before "dbname" are overridden by the conninfo's own.
        let keywords = Self.tcpDefaults.map(\.0) + ["dbname", "fallback_application_name"]
        let values = Self.tcpDefaults.map(\.1) + [conninfo, Self.defaultApplicationName + (purpose.map { "/" + $0 } ?? "")]
        // Both arrays end with NULL, as PQconnectdbParams expects.
        conn = withCStrings(keywords + [nil]) { k in
            withCStrings(values + [nil]) { v in PQconnectdbParams(k, v, 1) }
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            PQfinish(conn)
            conn = nil
            throw PostgresError(kind: .connection, sqlState: nil)
        }
    }

    deinit { PQfinish(conn) }

    /// True while libpq believes the connection is good.
    package var isHealthy: Bool { conn != nil && PQstatus(conn) == CONNECTION_OK }

    /// Runs one statement with bound values; its rows are read by column name.
    @discardableResult
    package func query(_ sql: String, _ values: [SQLValue] = []) throws(PostgresError) -> [Row] {
        let (sql, values) = refusingNUL((sql, values))
        let result = withCStrings(values.map(\.wireText)) { texts in
            PQexecParams(conn, sql, Int32(values.count), nil, texts, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Runs several statements separated by semicolons (simple query
    /// protocol, no parameters): migrations.
    package func executeScript(_ sql: String) throws(PostgresError) {
        _ = try consume(PQexec(conn, sql))
    }

    private func consume(_ result: OpaquePointer?) throws(PostgresError) -> [Row] {
        defer { PQclear(result) }
        guard let result else { throw PostgresError(kind: .connection, sqlState: nil) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_PIPELINE_SYNC:
            return []
        case PGRES_TUPLES_OK:
            return rows(of: result)
        default:
            throw error(of: result)
        }
    }

    private func error(of result: OpaquePointer) -> PostgresError {
        if PQstatus(conn) != CONNECTION_OK { return PostgresError(kind: .connection, sqlState: nil) }
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        // Class 08 (connection exception) and 57P (operator intervention,
        // e.g. shutdown) mean: try again on a new connection.
        if let state, state.hasPrefix("08") || state.hasPrefix("57P") {
            return PostgresError(kind: .connection, sqlState: state)
        }
        return PostgresError(kind: .statement, sqlState: state)
    }

    private func rows(of result: OpaquePointer) -> [Row] {
        let count = Int(PQntuples(result))
        let fields = Int(PQnfields(result))
        let columns = Columns((0..<fields).map { String(cString: PQfname(result, Int32($0))) })
        var out: [Row] = []
        out.reserveCapacity(count)
        for r in 0..<count {
            var row: [String?] = []
            row.reserveCapacity(fields)
            for f in 0..<fields {
                if PQgetisnull(result, Int32(r), Int32(f)) != 0 {
                    row.append(nil)
                } else {
                    row.append(String(cString: PQgetvalue(result, Int32(r), Int32(f))))
                }
            }
            out.append(Row(columns: columns, values: row))
        }
        return out
    }

    /// libpq takes C strings: a NUL inside a value would cut it short and
    /// store something else than was sent. Such a statement is replaced by
    /// one the server rejects with the data exception PostgreSQL itself
    /// gives for NUL (22021), so it fails alone, in its place in a batch.
    func refusingNUL(_ statement: Statement) -> Statement {
        guard statement.values.contains(where: { $0.wireText?.utf8.contains(0) == true }) else { return statement }
        return ("SELECT convert_from('\\x00'::bytea, 'UTF8')", [])
    }

    /// Prepares the parameterised statements not prepared yet (one round
    /// trip each, once per session). Outside a transaction only: a failure
    /// then says something about the statement, not about the transaction.
    private func prepareForPipeline(_ statements: [Statement]) throws(PostgresError) {
        for statement in statements where !statement.values.isEmpty {
            let sql = statement.sql
            guard prepared[sql] == nil, !unpreparable.contains(sql), prepared.count < Self.preparedLimit else { continue }
            let name = "sb_\(prepared.count)"
            guard let result = PQprepare(conn, name, sql, 0, nil) else { throw PostgresError(kind: .connection, sqlState: nil) }
            let ok = PQresultStatus(result) == PGRES_COMMAND_OK
            let failure = ok ? nil : error(of: result)
            PQclear(result)
            if ok {
                prepared[sql] = name
            } else {
                guard isHealthy else { throw PostgresError(kind: .connection, sqlState: nil) }
                // It runs unprepared, and fails in its place in the batch with
                // its own error. Only a statement that can never be prepared
                // (class 42: syntax, names; 0A: not supported) is not tried
                // again; a passing failure (cancelled, out of memory) is.
                let state = failure?.sqlState ?? ""
                if state.hasPrefix("42") || state.hasPrefix("0A") { unpreparable.insert(sql) }
            }
        }
    }

    /// Queues one statement of a pipeline: by its prepared name when it has one.
    private func send(_ statement: Statement) -> Bool {
        withCStrings(statement.values.map(\.wireText)) { texts in
            if let name = prepared[statement.sql] {
                return PQsendQueryPrepared(conn, name, Int32(statement.values.count), texts, nil, nil, 0) == 1
            }
            return PQsendQueryParams(conn, statement.sql, Int32(statement.values.count), nil, texts, nil, nil, 0) == 1
        }
    }

    /// Runs statements as ONE transaction in pipeline mode (one round trip,
    /// one commit). Returns per-statement results; if any statement fails the
    /// transaction is rolled back and `.failure` marks the culprit(s), the
    /// others `.success([])` that were not applied; `committed` says which.
    func pipelineTransaction(_ statements: [Statement]) throws(PostgresError)
        -> (committed: Bool, results: [Result<[Row], PostgresError>])
    {
        let statements = statements.map(refusingNUL)
        try prepareForPipeline(statements)
        guard PQenterPipelineMode(conn) == 1 else { throw PostgresError(kind: .connection, sqlState: nil) }
        defer { _ = PQexitPipelineMode(conn) }
        var sent = PQsendQueryParams(conn, "BEGIN", 0, nil, nil, nil, nil, 0) == 1
        for statement in statements where sent { sent = send(statement) }
        if sent { sent = PQsendQueryParams(conn, "COMMIT", 0, nil, nil, nil, nil, 0) == 1 }
        if sent { sent = PQpipelineSync(conn) == 1 }
        guard sent else { throw PostgresError(kind: .connection, sqlState: nil) }

        var results: [Result<[Row], PostgresError>] = []
        var committed = true
        // BEGIN, each statement, COMMIT: each answer is followed by a NULL.
        for index in 0..<(statements.count + 2) {
            guard let result = PQgetResult(conn) else { throw PostgresError(kind: .connection, sqlState: nil) }
            let status = PQresultStatus(result)
            var outcome: Result<[Row], PostgresError>
            switch status {
            case PGRES_COMMAND_OK: outcome = .success([])
            case PGRES_TUPLES_OK: outcome = .success(rows(of: result))
            case PGRES_PIPELINE_ABORTED: outcome = .success([]); committed = false
            default: outcome = .failure(error(of: result)); committed = false
            }
            PQclear(result)
            while let extra = PQgetResult(conn) { PQclear(extra) }
            if index > 0 && index <= statements.count { results.append(outcome) }
            if case .failure(let e) = outcome, e.kind == .connection { throw e }
        }
        // The PIPELINE_SYNC marker.
        guard let sync = PQgetResult(conn) else { throw PostgresError(kind: .connection, sqlState: nil) }
        let syncStatus = PQresultStatus(sync)
        PQclear(sync)
        guard syncStatus == PGRES_PIPELINE_SYNC else { throw PostgresError(kind: .connection, sqlState: nil) }
        if !committed {
            // A Sync does not end an explicit transaction block that failed:
            // the session would stay in "current transaction is aborted".
            _ = PQexitPipelineMode(conn)
            try query("ROLLBACK")
        }
        return (committed, results)
    }
}

extension PGConnection {
    /// Runs statements as ONE transaction, each under its own savepoint, so
    /// that a statement the server rejects is rolled back alone and the
    /// others commit (one commit for all). Pipelined: one round trip, plus
    /// one per rejected statement (the pipeline stops at an error and is
    /// resumed after it). `committed` is false only if the COMMIT itself
    /// failed (then nothing was applied).
    func savepointTransaction(_ statements: [Statement]) throws(PostgresError)
        -> (committed: Bool, results: [Result<[Row], PostgresError>])
    {
        var results: [Result<[Row], PostgresError>] = []
        results.reserveCapacity(statements.count)
        // Commands that go before the next round: BEGIN, then the undo of a
        // rejected statement.
        var prefix: [Statement] = [("BEGIN", [])]
        var next = 0
        while next < statements.count {
            let first = next
            var commands = prefix
            for statement in statements[first...] {
                commands += [("SAVEPOINT sb_job", []), statement, ("RELEASE SAVEPOINT sb_job", [])]
            }
            let answers = try pipeline(commands)
            for case .failure(let e)? in answers.prefix(prefix.count) { throw e }
            let base = prefix.count
            prefix = []
            next = statements.count
            for k in first..<statements.count {
                let at = base + (k - first) * 3
                // Only what follows a rejected statement is skipped, and the
                // round ends there: a savepoint or release that failed or was
                // skipped means the session is not in the state we think.
                guard case .success? = answers[at], let answer = answers[at + 1] else {
                    throw PostgresError(kind: .connection, sqlState: nil)
                }
                if case .failure(let e) = answer {
                    if e.kind == .connection { throw e }
                    results.append(.failure(e))
                    prefix = [("ROLLBACK TO SAVEPOINT sb_job", []), ("RELEASE SAVEPOINT sb_job", [])]
                    next = k + 1
                    break
                }
                results.append(answer)
                guard case .success? = answers[at + 2] else { throw PostgresError(kind: .connection, sqlState: nil) }
            }
        }
        let answers = try pipeline(prefix + [("COMMIT", [])])
        for case .failure(let e)? in answers.dropLast() { throw e }
        if case .failure(let e)? = answers.last {
            if e.kind == .connection { throw e }
            _ = try? query("ROLLBACK")
            return (false, results)
        }
        return (true, results)
    }

    /// Sends commands in pipeline mode with one Sync and reads every answer:
    /// a result, a failure, or nil for a command skipped after a failure.
    private func pipeline(_ commands: [Statement]) throws(PostgresError) -> [Result<[Row], PostgresError>?] {
        guard PQenterPipelineMode(conn) == 1 else { throw PostgresError(kind: .connection, sqlState: nil) }
        defer { _ = PQexitPipelineMode(conn) }
        var sent = true
        for command in commands.map(refusingNUL) where sent { sent = send(command) }
        if sent { sent = PQpipelineSync(conn) == 1 }
        guard sent else { throw PostgresError(kind: .connection, sqlState: nil) }
        var answers: [Result<[Row], PostgresError>?] = []
        answers.reserveCapacity(commands.count)
        for _ in commands {
            guard let result = PQgetResult(conn) else { throw PostgresError(kind: .connection, sqlState: nil) }
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK: answers.append(.success([]))
            case PGRES_TUPLES_OK: answers.append(.success(rows(of: result)))
            case PGRES_PIPELINE_ABORTED: answers.append(nil)
            default: answers.append(.failure(error(of: result)))
            }
            PQclear(result)
            while let extra = PQgetResult(conn) { PQclear(extra) }
            if case .failure(let e)? = answers.last, e.kind == .connection { throw e }
        }
        guard let sync = PQgetResult(conn) else { throw PostgresError(kind: .connection, sqlState: nil) }
        let syncStatus = PQresultStatus(sync)
        PQclear(sync)
        guard syncStatus == PGRES_PIPELINE_SYNC else { throw PostgresError(kind: .connection, sqlState: nil) }
        return answers
    }
}

/// Calls `body` with C copies of `strings` (nil stays NULL), freed afterwards.
private func withCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let cStrings: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for s in cStrings { free(s) } }
    let pointers: [UnsafePointer<CChar>?] = cStrings.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
