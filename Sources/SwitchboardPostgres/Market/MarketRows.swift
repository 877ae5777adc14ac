// How the market's statements answer, and how their rows become entities.
//
// One action is ONE statement (locks, rule, change, audit, notifications,
// system messages commit together), so its answer mixes several kinds of
// row. Each row is (tag, record): the tag says what it is, the record is a
// JSON object (the market_*_record functions of migration 10, or
// `json_build_object`) read BY COLUMN NAME into the entity it stands for:
//   'x' the state before (explains a refusal), 'r' the result, 'c'/'m'/'y'
//   contracts, milestones, payments of a result, 'p' a stored idempotent
//   answer, 'n' a notification to push, 's' a system message to deliver.
// The records carry columns, not REST answers: the hub renders entities.
import SwitchboardHub
import SwitchboardWire

/// A named record sent as JSON text by the statement, read by column name
/// into typed values: a missing column, a NULL where a value is required,
/// or a value of another type is a decode failure (the store failed),
/// never a default.
struct Record {
    let fields: [String: JSON]

    init(fields: [String: JSON]) { self.fields = fields }

    init(_ text: String?) throws(HubError) {
        guard let text, case .object(let fields)? = try? JSON.parse(Array(text.utf8)) else { throw HubError.storeFailed }
        self.fields = fields
    }

    private func value(_ column: String) throws(HubError) -> JSON? {
        guard let value = fields[column] else { throw HubError.storeFailed }
        return value == .null ? nil : value
    }

    func optionalText(_ column: String) throws(HubError) -> String? {
        guard let v = try value(column) else { return nil }
        guard let s = v.stringValue else { throw HubError.storeFailed }
        return s
    }

    // Ids are numbers in records; answers stored for an idempotency key
    // before migration 8 hold them as strings ("12"): both read the same.
    func optionalInt64(_ column: String) throws(HubError) -> Int64? {
        guard let v = try value(column) else { return nil }
        guard let n = v.intValue ?? v.stringValue.flatMap({ Int64($0) }) else { throw HubError.storeFailed }
        return n
    }

    func optionalBool(_ column: String) throws(HubError) -> Bool? {
        guard let v = try value(column) else { return nil }
        guard let b = v.boolValue else { throw HubError.storeFailed }
        return b
    }

    func optionalDouble(_ column: String) throws(HubError) -> Double? {
        switch try value(column) {
        case nil: return nil
        case .int(let i)?: return Double(i)
        case .double(let d)?: return d
        default: throw HubError.storeFailed
        }
    }

    func optionalJSON(_ column: String) throws(HubError) -> [UInt8]? { try value(column)?.bytes }

    func text(_ column: String) throws(HubError) -> String { try required(optionalText(column)) }
    func int64(_ column: String) throws(HubError) -> Int64 { try required(optionalInt64(column)) }
    func bool(_ column: String) throws(HubError) -> Bool { try required(optionalBool(column)) }
    /// A JSON column's text.
    func json(_ column: String) throws(HubError) -> [UInt8] { try required(optionalJSON(column)) }

    private func required<T>(_ value: T?) throws(HubError) -> T {
        guard let value else { throw HubError.storeFailed }
        return value
    }

    /// A text-array column.
    func texts(_ column: String) throws(HubError) -> [String] {
        guard let v = try value(column) else { return [] }
        guard case .array(let list) = v else { throw HubError.storeFailed }
        return list.compactMap(\.stringValue)
    }
}

/// A statement's rows (columns `tag` and `record`), by tag.
struct TaggedRows {
    private let rows: [(tag: String, record: String?)]

    init(_ rows: [Row]) throws(HubError) {
        var out: [(tag: String, record: String?)] = []
        do {
            for row in rows { out.append((try row.text("tag"), try row.optionalText("record"))) }
        } catch {
            throw HubError.storeFailed
        }
        self.rows = out
    }

    /// The records tagged `tag`, in row order.
    func records(_ tag: String) throws(HubError) -> [Record] {
        var out: [Record] = []
        for row in rows where row.tag == tag { out.append(try Record(row.record)) }
        return out
    }

    /// The first record tagged `tag`, if any.
    func record(_ tag: String) throws(HubError) -> Record? { try records(tag).first }

    /// The notifications ('n').
    var notifications: [StoredNotification] {
        rows.filter { $0.tag == "n" }.compactMap { PostgresStore.notification($0.record) }
    }

    /// The system messages ('s').
    func systemMessages() throws(HubError) -> [MarketSystemMessage] {
        var out: [MarketSystemMessage] = []
        for r in try records("s") {
            let message = StoredMessage(
                conversation: try r.int64("conversation"), id: try r.int64("id"), seq: try r.int64("seq"),
                sender: "system", clientMessageID: try r.text("client_msg_id"), kind: "system",
                body: try r.json("body"), createdAtMillis: try r.int64("created_at"))
            out.append(MarketSystemMessage(message: message, members: try r.texts("members")))
        }
        return out
    }

    /// The result ('r') as `V` with what it committed; nil when nothing changed.
    func change<V>(_ decode: (Record) throws(HubError) -> V) throws(HubError) -> MarketChange<V>? {
        guard let result = try record("r") else { return nil }
        return MarketChange(try decode(result), notifications: notifications, systemMessages: try systemMessages())
    }
}

// Entities from records: the column names are those of the market_*_record
// functions (Migrations.swift, migration 10).

extension Project {
    init(_ r: Record) throws(HubError) {
        self.init(
            id: try r.int64("id"), client: try r.text("client"), craftsman: try r.text("craftsman"), title: try r.text("title"),
            status: try r.text("status"), estimatedBudget: try r.optionalInt64("estimated_budget"),
            currency: try r.text("currency"), paymentStatus: try r.text("payment_status"),
            conversation: try r.optionalInt64("conversation"), createdAtMillis: try r.int64("created_at"))
    }
}

extension Contract {
    init(_ r: Record) throws(HubError) {
        self.init(
            id: try r.int64("id"), project: try r.int64("project"), number: try r.text("number"), terms: try r.json("terms"),
            parent: try r.optionalInt64("parent"), supersededBy: try r.optionalInt64("superseded_by"),
            clientSignedAtMillis: try r.optionalInt64("client_signed_at"),
            craftsmanSignedAtMillis: try r.optionalInt64("craftsman_signed_at"),
            signedAtMillis: try r.optionalInt64("signed_at"), expiresAtMillis: try r.int64("expires_at"),
            status: try r.text("status"))
    }
}

extension Milestone {
    init(_ r: Record) throws(HubError) {
        self.init(
            id: try r.int64("id"), project: try r.int64("project"), title: try r.text("title"),
            dueOn: try r.optionalText("due_on"),
            amount: try r.optionalInt64("amount"), percentage: try r.optionalDouble("percentage"),
            requiresApproval: try r.bool("requires_approval"), completedAtMillis: try r.optionalInt64("completed_at"),
            approvedAtMillis: try r.optionalInt64("approved_at"))
    }
}

extension Payment {
    init(_ r: Record) throws(HubError) {
        self.init(
            id: try r.int64("id"), project: try r.int64("project"), milestone: try r.optionalInt64("milestone"),
            type: try r.text("type"), amount: try r.int64("amount"), currency: try r.text("currency"),
            status: try r.text("status"), method: try r.text("method"), escrow: try r.bool("escrow"),
            releasedAtMillis: try r.optionalInt64("released_at"), refundedAmount: try r.int64("refunded_amount"),
            platformFee: try r.int64("platform_fee"), providerFee: try r.int64("provider_fee"),
            netAmount: try r.int64("net_amount"), installmentNumber: try r.optionalInt64("installment_number"),
            installmentCount: try r.optionalInt64("installment_count"),
            providerReference: try r.text("provider_reference"), createdAtMillis: try r.int64("created_at"))
    }
}

extension PostgresStore {
    /// Runs an action statement on the writer of `lane` (or a reader) and answers
    /// with what `decode` reads from its rows. When `decode` finds no
    /// result, the statement's refusal ('x': "code:message", stated once in
    /// its SQL) is the answer, or `missing` when there was no row to act on.
    func market<T: Sendable>(
        _ sql: String, _ values: [SQLValue], write: Bool = true, lane: WriteLane = .none, survivesOutage: Bool = false,
        missing: HubError, decode: @escaping @Sendable (TaggedRows) throws(HubError) -> T?, reply: Reply<T>
    ) {
        let finish: @Sendable (Result<[Row], HubError>) -> Void = { result in
            do throws(HubError) {
                let tagged = try TaggedRows(result.get())
                if let value = try decode(tagged) {
                    reply.succeed(value)
                } else if let refusal = try tagged.record("x") {
                    reply.fail(try Self.refusal(refusal.text("refusal")))
                } else {
                    reply.fail(missing)
                }
            } catch {
                // A full write queue keeps the market's wording of before.
                reply.fail(error.code == .overloaded ? .storeBusy : error)
            }
        }
        if write {
            submit(WriteJob(sql, values, survivesOutage: survivesOutage) { finish($0) }, on: lane)
        } else {
            reader.read(
                { (conn: PGConnection) throws(PostgresError) -> [Row] in try conn.query(sql, values) }, then: { finish($0) })
        }
    }

    /// A statement's refusal "code:message" as the error it stands for.
    static func refusal(_ text: String) throws(HubError) -> HubError {
        guard let colon = text.firstIndex(of: ":"), let code = ErrorCode(rawValue: String(text[..<colon])) else {
            throw HubError.storeFailed
        }
        return HubError(code, String(text[text.index(after: colon)...]))
    }
}
