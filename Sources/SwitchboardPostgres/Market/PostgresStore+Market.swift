// Projects, contracts and payments: each action is ONE statement that locks
// what it changes (FOR UPDATE), changes it only if every rule holds
// (conditional UPDATE/INSERT … SELECT), writes the audit log and the other
// party's notifications, and returns tagged rows:
//   'x' the state before (to explain a refusal), 'r' the result, 'p' a stored
//   idempotent answer, 'n' a notification to push.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore: MarketStore {
    static let projectJSON = """
        json_build_object('id', pj.id::text, 'client', pj.client_id, 'craftsman', pj.craftsman_id, 'title', pj.title,
            'status', pj.status, 'estimated_budget', pj.estimated_budget, 'currency', pj.currency,
            'payment_status', pj.payment_status, 'conversation', pj.conversation_id::text,
            'created_at', (extract(epoch FROM pj.created_at) * 1000)::bigint)
        """
    static let contractJSON = """
        json_build_object('id', ct.id::text, 'project', ct.project_id::text, 'number', ct.number, 'terms', ct.terms,
            'parent', ct.parent_id::text, 'superseded_by', ct.superseded_by::text,
            'client_signed_at', (extract(epoch FROM ct.client_signed_at) * 1000)::bigint,
            'craftsman_signed_at', (extract(epoch FROM ct.craftsman_signed_at) * 1000)::bigint,
            'signed_at', (extract(epoch FROM ct.signed_at) * 1000)::bigint,
            'expires_at', (extract(epoch FROM ct.expires_at) * 1000)::bigint,
            'status', CASE WHEN ct.superseded_by IS NOT NULL THEN 'superseded' WHEN ct.signed_at IS NOT NULL THEN 'signed'
                           WHEN ct.expires_at <= now() THEN 'expired' ELSE 'pending' END)
        """
    static let paymentJSON = """
        json_build_object('id', pay.id::text, 'project', pay.project_id::text, 'milestone', pay.milestone_id::text,
            'type', pay.type, 'amount', pay.amount, 'currency', pay.currency, 'status', pay.status, 'method', pay.method,
            'escrow', pay.escrow, 'released_at', (extract(epoch FROM pay.released_at) * 1000)::bigint,
            'refunded_amount', pay.refunded_amount, 'platform_fee', pay.platform_fee, 'provider_fee', pay.provider_fee,
            'net_amount', pay.net_amount, 'installment_number', pay.installment_number,
            'installment_count', pay.installment_count, 'provider_reference', pay.provider_reference,
            'created_at', (extract(epoch FROM pay.created_at) * 1000)::bigint)
        """

    /// A notification for `who` (a SQL expression) inserted from `source`.
    static func notify(_ who: String, kind: String, title: String, body: String, entity: String, entityID: String,
                       data: String, from source: String) -> String {
        """
        INSERT INTO notifications (user_id, kind, title, body, data, entity_type, entity_id)
        SELECT \(who), '\(kind)', \(title), \(body), \(data), '\(entity)', \(entityID) FROM \(source)
        RETURNING *
        """
    }

    /// CTEs that post a `system` message into the project's conversation (if
    /// it has one) in the same statement, and the row that returns it ('s').
    static func systemMessage(project: String, text: String, from source: String) -> (ctes: String, row: String) {
        ("""
            , sysconv AS (
                UPDATE conversations c SET last_seq = c.last_seq + 1, last_message_at = now()
                FROM (SELECT pjs.conversation_id AS cid, \(text) AS text FROM \(source) JOIN projects pjs ON pjs.id = \(project)
                      WHERE pjs.conversation_id IS NOT NULL LIMIT 1) s
                WHERE c.id = s.cid
                RETURNING c.id, c.last_seq, s.text
            ), sysmsg AS (
                INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, kind, body)
                SELECT id, last_seq, 'system', 'system-' || id || '-' || last_seq, 'system', jsonb_build_object('text', text) FROM sysconv
                RETURNING *
            )
            """,
         """
            UNION ALL SELECT 's', json_build_object('conversation', sm.conversation_id, 'id', sm.id, 'seq', sm.seq,
                'client_msg_id', sm.client_msg_id, 'body', sm.body, 'created_at', (extract(epoch FROM sm.created_at) * 1000)::bigint,
                'members', (SELECT json_agg(user_id ORDER BY user_id) FROM conversation_members WHERE conversation_id = sm.conversation_id))::text
            FROM sysmsg sm
            """)
    }

    static func systemMessages(_ rows: Rows) -> [(message: StoredMessage, members: [String])] {
        rows.filter { $0[0] == "s" }.compactMap { row in
            guard let text = row[1], let j = try? JSON.parse(Array(text.utf8)), let id = j["id"]?.intValue,
                  let conversation = j["conversation"]?.intValue, let seq = j["seq"]?.intValue else { return nil }
            let members: [String]
            if case .array(let list)? = j["members"] { members = list.compactMap(\.stringValue) } else { members = [] }
            return (StoredMessage(conversation: conversation, id: id, seq: seq, sender: "system",
                                  clientMessageID: j["client_msg_id"]?.stringValue ?? "", kind: "system",
                                  body: j["body"]?.bytes ?? Array("{}".utf8), createdAtMillis: j["created_at"]?.intValue ?? 0), members)
        }
    }

    /// Runs an action statement on the writer (or reader) and turns its tagged
    /// rows into an outcome; `decide` explains a refusal from the 'x' state.
    func market(_ sql: String, _ params: [String?], write: Bool = true, created: Int = 200, survivesOutage: Bool = false,
                decide: @escaping @Sendable (_ before: JSON?) -> DomainFailure,
                reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        let deliver = self.deliver
        let finish: @Sendable (Result<Rows, StoreError>) -> Void = { result in
            let outcome: Result<MarketOutcome, DomainFailure>
            switch result {
            case .failure(let error): outcome = .failure(.store(error))
            case .success(let rows):
                func json(_ tag: String) -> [JSON] { rows.filter { $0[0] == tag }.compactMap { $0[1].flatMap { try? JSON.parse(Array($0.utf8)) } } }
                let notes = rows.filter { $0[0] == "n" }.compactMap { Self.notification($0[1]) }
                if let prior = json("p").first {
                    outcome = prior["fingerprint"] == prior["request"]
                        ? .success(MarketOutcome(status: Int(prior["status"]?.intValue ?? 200), body: prior["response"] ?? .null))
                        : .failure(.idempotencyMismatch)
                } else if let result = json("r").first {
                    outcome = .success(MarketOutcome(status: created, body: result, notifications: notes,
                                                     systemMessages: Self.systemMessages(rows)))
                } else {
                    outcome = .failure(decide(json("x").first))
                }
            }
            deliver { reply(outcome) }
        }
        if write {
            writer.submit(WriteJob(sql: sql, params: params, survivesOutage: survivesOutage) { finish($0) })
        } else {
            reader.read({ (conn: PGConnection) throws(PostgresError) -> Rows in try conn.execute(sql, params) },
                        completion: { finish($0) })
        }
    }

    static func parties(_ before: JSON?, _ actor: Actor) -> Bool {
        actor.isBackend || before?["client_id"]?.stringValue == actor.id || before?["craftsman_id"]?.stringValue == actor.id
    }

    public func createProject(client: String, craftsman: String, title: String, budget: Int64?, currency: String,
                              conversation: Int64?, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        let sql = """
            WITH pj AS (
                INSERT INTO projects (client_id, craftsman_id, title, estimated_budget, currency, conversation_id)
                SELECT $1, $2, $3, $4::bigint, $5, $6::bigint
                -- The project's system messages go to every member of its
                -- conversation: only one that both parties are members of.
                WHERE $6::bigint IS NULL
                   OR (SELECT count(*) FROM conversation_members cm WHERE cm.conversation_id = $6::bigint AND cm.user_id IN ($1, $2)) = 2
                RETURNING *
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip) SELECT $7, 'project.create', 'project', pj.id::text, $8 FROM pj
            ), n AS (
                \(Self.notify("u.id", kind: "project_update", title: "'New project: ' || pj.title", body: "'Status: inquiry'",
                              entity: "project", entityID: "pj.id::text",
                              data: "jsonb_build_object('project_id', pj.id::text, 'status', pj.status)",
                              from: "pj, unnest(ARRAY[pj.client_id, pj.craftsman_id]) AS u(id) WHERE u.id <> $7"))
            )
            SELECT 'r', \(Self.projectJSON)::text FROM pj UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            """
        market(sql, [client, craftsman, title, budget.map(String.init), currency, conversation.map(String.init), actor.id, actor.ip],
               created: 201, decide: { _ in .forbidden("the conversation must have both the client and the craftsman as members") },
               reply: reply)
    }

    public func project(_ id: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        let sql = """
            SELECT 'x', json_build_object('client_id', pj.client_id, 'craftsman_id', pj.craftsman_id)::text FROM projects pj WHERE pj.id = $1
            UNION ALL
            SELECT 'r', (\(Self.projectJSON)::jsonb || jsonb_build_object(
                'contracts', coalesce((SELECT jsonb_agg(\(Self.contractJSON) ORDER BY ct.id) FROM contracts ct WHERE ct.project_id = pj.id), '[]'),
                'milestones', coalesce((SELECT jsonb_agg(jsonb_build_object('id', m.id::text, 'title', m.title, 'amount', m.amount,
                    'percentage', m.percentage, 'due_on', m.due_on, 'requires_approval', m.requires_approval,
                    'completed_at', (extract(epoch FROM m.completed_at) * 1000)::bigint,
                    'approved_at', (extract(epoch FROM m.approved_at) * 1000)::bigint) ORDER BY m.id)
                    FROM milestones m WHERE m.project_id = pj.id), '[]')))::text
            FROM projects pj WHERE pj.id = $1 AND ($2 IN (pj.client_id, pj.craftsman_id) OR $3::bool)
            """
        market(sql, [String(id), actor.id, actor.isBackend ? "true" : "false"], write: false,
               decide: { before in before == nil ? .notFound("no such project") : .forbidden("only the project's parties") },
               reply: reply)
    }

    public func createContract(project: Int64, terms: [UInt8], milestones: [UInt8], actor: Actor,
                               reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        let sys = Self.systemMessage(project: "ct.project_id", text: "'Contract ' || ct.number || ' was proposed'", from: "ct")
        let sql = """
            WITH pj AS (
                SELECT * FROM projects WHERE id = $1 FOR UPDATE
            ), ok AS (
                SELECT * FROM pj WHERE ($3 IN (pj.client_id, pj.craftsman_id) OR $5::bool)
                  AND pj.status NOT IN ('contract_signed', 'in_progress', 'completed', 'cancelled', 'disputed')
                  AND NOT EXISTS (SELECT 1 FROM contracts c WHERE c.project_id = pj.id AND c.signed_at IS NULL
                                  AND c.superseded_by IS NULL AND c.expires_at > now())
            ), ct AS (
                INSERT INTO contracts (project_id, number, terms, expires_at)
                SELECT ok.id, 'CTR-' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM') || '-' || lpad(nextval('contract_numbers')::text, 6, '0'),
                       $2::jsonb, now() + interval '7 days'
                FROM ok RETURNING *
            ), ms AS (
                INSERT INTO milestones (project_id, title, due_on, amount, percentage, requires_approval)
                SELECT ct.project_id, x.title, x.due_on, x.amount, x.percentage, coalesce(x.requires_approval, true)
                FROM ct, ROWS FROM (jsonb_to_recordset($6::jsonb)
                     AS (title text, due_on date, amount bigint, percentage numeric, requires_approval boolean))
                     WITH ORDINALITY AS x(title, due_on, amount, percentage, requires_approval, ord)
                ORDER BY x.ord
            ), up AS (
                UPDATE projects SET status = 'contract_pending', updated_at = now() FROM ct WHERE projects.id = ct.project_id
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip) SELECT $3, 'contract.create', 'contract', ct.id::text, $4 FROM ct
            ), n AS (
                \(Self.notify("u.id", kind: "contract_ready", title: "'Contract ' || ct.number || ' is ready to sign'",
                              body: "'It expires in 7 days unless both parties sign.'", entity: "contract", entityID: "ct.id::text",
                              data: "jsonb_build_object('contract_id', ct.id::text, 'number', ct.number, 'project_id', ct.project_id::text)",
                              from: "ct JOIN pj ON pj.id = ct.project_id, unnest(ARRAY[pj.client_id, pj.craftsman_id]) AS u(id) WHERE u.id <> $3"))
            )\(sys.ctes)
            SELECT 'x', json_build_object('client_id', client_id, 'craftsman_id', craftsman_id, 'status', status)::text FROM pj
            UNION ALL SELECT 'r', \(Self.contractJSON)::text FROM ct
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [String(project), String(decoding: terms, as: UTF8.self), actor.id, actor.ip, actor.isBackend ? "true" : "false",
                     String(decoding: milestones, as: UTF8.self)],
               created: 201, decide: { before in
                   guard let before else { return .notFound("no such project") }
                   guard Self.parties(before, actor) else { return .forbidden("only the project's parties") }
                   return .conflict("the project (\(before["status"]?.stringValue ?? "?")) has a signed or pending contract; amend it instead")
               }, reply: reply)
    }

    public func contract(_ id: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        let sql = """
            SELECT 'x', json_build_object('client_id', pj.client_id, 'craftsman_id', pj.craftsman_id)::text
            FROM contracts ct JOIN projects pj ON pj.id = ct.project_id WHERE ct.id = $1
            UNION ALL
            SELECT 'r', \(Self.contractJSON)::text FROM contracts ct JOIN projects pj ON pj.id = ct.project_id
            WHERE ct.id = $1 AND ($2 IN (pj.client_id, pj.craftsman_id) OR $3::bool)
            """
        market(sql, [String(id), actor.id, actor.isBackend ? "true" : "false"], write: false,
               decide: { before in before == nil ? .notFound("no such contract") : .forbidden("only the project's parties") },
               reply: reply)
    }

    public func sign(contract: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        let sys = Self.systemMessage(project: "ct.project_id", text: "CASE WHEN ct.signed_at IS NOT NULL THEN 'Contract ' || ct.number || ' is signed by both parties' ELSE 'Contract ' || ct.number || ' was signed by ' || $2 END", from: "ct")
        let sql = """
            WITH c0 AS (
                SELECT c.id, c.client_signed_at, c.craftsman_signed_at, c.signed_at, c.superseded_by, c.expires_at,
                       pj.client_id, pj.craftsman_id
                FROM contracts c JOIN projects pj ON pj.id = c.project_id WHERE c.id = $1 FOR UPDATE OF c
            ), ct AS (
                UPDATE contracts c SET
                    client_signed_at = CASE WHEN c0.client_id = $2 THEN now() ELSE c.client_signed_at END,
                    client_ip = CASE WHEN c0.client_id = $2 THEN $3 ELSE c.client_ip END,
                    craftsman_signed_at = CASE WHEN c0.craftsman_id = $2 THEN now() ELSE c.craftsman_signed_at END,
                    craftsman_ip = CASE WHEN c0.craftsman_id = $2 THEN $3 ELSE c.craftsman_ip END,
                    -- The second signature makes the contract signed.
                    signed_at = CASE WHEN (c0.client_id = $2 AND c.craftsman_signed_at IS NOT NULL)
                                       OR (c0.craftsman_id = $2 AND c.client_signed_at IS NOT NULL) THEN now() END
                FROM c0
                WHERE c.id = c0.id AND c.signed_at IS NULL AND c.superseded_by IS NULL AND c.expires_at > now()
                  AND ((c0.client_id = $2 AND c.client_signed_at IS NULL) OR (c0.craftsman_id = $2 AND c.craftsman_signed_at IS NULL))
                RETURNING c.*
            ), up AS (
                UPDATE projects SET status = 'contract_signed', updated_at = now()
                FROM ct WHERE projects.id = ct.project_id AND ct.signed_at IS NOT NULL
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip, details)
                SELECT $2, 'contract.sign', 'contract', ct.id::text, $3, jsonb_build_object('complete', ct.signed_at IS NOT NULL) FROM ct
            ), n AS (
                \(Self.notify("CASE WHEN c0.client_id = $2 THEN c0.craftsman_id ELSE c0.client_id END",
                              kind: "contract_signed",
                              title: "CASE WHEN ct.signed_at IS NOT NULL THEN 'Contract ' || ct.number || ' is signed' ELSE 'Contract ' || ct.number || ' awaits your signature' END",
                              body: "CASE WHEN ct.signed_at IS NOT NULL THEN 'Both parties signed.' ELSE 'The other party signed.' END",
                              entity: "contract", entityID: "ct.id::text",
                              data: "jsonb_build_object('contract_id', ct.id::text, 'number', ct.number, 'signed', ct.signed_at IS NOT NULL)",
                              from: "ct JOIN c0 ON c0.id = ct.id"))
            )\(sys.ctes)
            SELECT 'x', json_build_object('client_id', client_id, 'craftsman_id', craftsman_id,
                'client_signed', client_signed_at IS NOT NULL, 'craftsman_signed', craftsman_signed_at IS NOT NULL,
                'signed', signed_at IS NOT NULL, 'superseded', superseded_by IS NOT NULL, 'expired', expires_at <= now())::text FROM c0
            UNION ALL SELECT 'r', \(Self.contractJSON)::text FROM ct
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [String(contract), actor.id, actor.ip], decide: { before in
            guard let before else { return .notFound("no such contract") }
            guard !actor.isBackend, Self.parties(before, actor) else { return .forbidden("only the project's parties sign") }
            if before["superseded"] == .bool(true) { return .conflict("the contract was superseded by an amendment") }
            if before["signed"] == .bool(true) { return .conflict("the contract is already signed") }
            if before["expired"] == .bool(true) { return .conflict("the contract expired unsigned") }
            return .conflict("you already signed this contract")
        }, reply: reply)
    }

    public func amend(contract: Int64, terms: [UInt8], actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        let sys = Self.systemMessage(project: "ct.project_id", text: "'Contract ' || ct.number || ' amends the earlier version'", from: "ct")
        let sql = """
            WITH c0 AS (
                SELECT c.*, pj.client_id, pj.craftsman_id, pj.status AS project_status
                FROM contracts c JOIN projects pj ON pj.id = c.project_id WHERE c.id = $1 FOR UPDATE OF c
            ), ok AS (
                SELECT * FROM c0 WHERE ($3 IN (client_id, craftsman_id) OR $5::bool) AND superseded_by IS NULL
                  AND project_status NOT IN ('completed', 'cancelled')
            ), ct AS (
                INSERT INTO contracts (project_id, number, terms, parent_id, expires_at)
                SELECT ok.project_id, 'CTR-' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM') || '-' || lpad(nextval('contract_numbers')::text, 6, '0'),
                       $2::jsonb, ok.id, now() + interval '7 days'
                FROM ok RETURNING *
            ), old AS (
                UPDATE contracts SET superseded_by = ct.id FROM ct WHERE contracts.id = ct.parent_id
            ), up AS (
                UPDATE projects SET status = 'contract_pending', updated_at = now() FROM ct WHERE projects.id = ct.project_id
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip, details)
                SELECT $3, 'contract.amend', 'contract', ct.id::text, $4, jsonb_build_object('parent', ct.parent_id::text) FROM ct
            ), n AS (
                \(Self.notify("u.id", kind: "contract_ready", title: "'Amended contract ' || ct.number || ' is ready to sign'",
                              body: "'It supersedes the earlier version.'", entity: "contract", entityID: "ct.id::text",
                              data: "jsonb_build_object('contract_id', ct.id::text, 'number', ct.number, 'parent', ct.parent_id::text)",
                              from: "ct JOIN c0 ON c0.id = ct.parent_id, unnest(ARRAY[c0.client_id, c0.craftsman_id]) AS u(id) WHERE u.id <> $3"))
            )\(sys.ctes)
            SELECT 'x', json_build_object('client_id', client_id, 'craftsman_id', craftsman_id, 'superseded', superseded_by IS NOT NULL)::text FROM c0
            UNION ALL SELECT 'r', \(Self.contractJSON)::text FROM ct
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [String(contract), String(decoding: terms, as: UTF8.self), actor.id, actor.ip, actor.isBackend ? "true" : "false"],
               created: 201, decide: { before in
                   guard let before else { return .notFound("no such contract") }
                   guard Self.parties(before, actor) else { return .forbidden("only the project's parties") }
                   return .conflict(before["superseded"] == .bool(true) ? "the contract was already superseded" : "the project is closed")
               }, reply: reply)
    }
}
