// Reading back what a scenario stored, to check it against what was acknowledged.
import SwitchboardPostgres

extension PGConnection {
    /// Rows by position with text parameters: the tests' and load tool's
    /// short form for counting what was stored (the adapter reads `Row`s by name).
    @discardableResult
    func execute(_ sql: String, _ params: [String?] = []) throws(PostgresError) -> [[String?]] {
        try query(sql, params.map(SQLValue.text)).map(\.values)
    }
}
