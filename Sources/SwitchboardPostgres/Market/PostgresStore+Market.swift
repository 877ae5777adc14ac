// Projects, contracts and payments: each action is ONE statement that locks
// what it changes (FOR UPDATE), changes it only if every rule holds
// (conditional UPDATE/INSERT … SELECT), writes the audit log and the other
// party's notifications, and returns tagged rows:
//   'x' the state before (to explain a refusal), 'r' the result, 'p' a stored
//   idempotent answer, 'n' a notification to push.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore: MarketStore {
    /// A named record (jsonb) of `columns`, which may use the enclosing
    /// query's aliases; decoded by column name (MarketRows.swift).
    static func record(_ columns: String) -> String { "(SELECT to_jsonb(x) FROM (SELECT \(columns)) x)" }

    /// Epoch milliseconds of a timestamp column.
    static func millis(_ column: String) -> String { "(extract(epoch FROM \(column)) * 1000)::bigint" }

    static func projectColumns(_ a: String) -> String {
        """
        \(a).id, \(a).client_id AS client, \(a).craftsman_id AS craftsman, \(a).title, \(a).status, \(a).estimated_budget,
        \(a).currency, \(a).payment_status, \(a).conversation_id AS conversation, \(millis("\(a).created_at")) AS created_at
        """
    }
    static func contractColumns(_ a: String) -> String {
        """
        \(a).id, \(a).project_id AS project, \(a).number, \(a).terms, \(a).parent_id AS parent, \(a).superseded_by,
        \(millis("\(a).client_signed_at")) AS client_signed_at, \(millis("\(a).craftsman_signed_at")) AS craftsman_signed_at,
        \(millis("\(a).signed_at")) AS signed_at, \(millis("\(a).expires_at")) AS expires_at,
        CASE WHEN \(a).superseded_by IS NOT NULL THEN 'superseded' WHEN \(a).signed_at IS NOT NULL THEN 'signed'
             WHEN \(a).expires_at <= now() THEN 'expired' ELSE 'pending' END AS status
        """
    }
    static func milestoneColumns(_ a: String) -> String {
        """
        \(a).id, \(a).project_id AS project, \(a).title, \(a).due_on, \(a).amount, \(a).percentage, \(a).requires_approval,
        \(millis("\(a).completed_at")) AS completed_at, \(millis("\(a).approved_at")) AS approved_at
        """
    }
    static func paymentColumns(_ a: String) -> String {
        """
        \(a).id, \(a).project_id AS project, \(a).milestone_id AS milestone, \(a).type, \(a).amount, \(a).currency, \(a).status,
        \(a).method, \(a).escrow, \(millis("\(a).released_at")) AS released_at, \(a).refunded_amount, \(a).platform_fee,
        \(a).provider_fee, \(a).net_amount, \(a).installment_number, \(a).installment_count, \(a).provider_reference,
        \(millis("\(a).created_at")) AS created_at
        """
    }

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
            UNION ALL SELECT 's', \(record("""
                sm.conversation_id AS conversation, sm.id, sm.seq, sm.client_msg_id, sm.body, \(millis("sm.created_at")) AS created_at,
                (SELECT json_agg(user_id ORDER BY user_id) FROM conversation_members WHERE conversation_id = sm.conversation_id) AS members
                """))::text
            FROM sysmsg sm
            """)
    }

    public func createProject(client: String, craftsman: String, title: String, budget: Int64?, currency: String,
                              conversation: Int64?, actor: Actor, reply: Reply<MarketChange<Project>>) {
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
            SELECT 'r', \(Self.record(Self.projectColumns("pj")))::text FROM pj UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            """
        market(sql, [client, craftsman, title, budget.map(String.init), currency, conversation.map(String.init), actor.id, actor.ip],
               decode: { rows throws(HubError) in try rows.change(Project.init) },
               refuse: { _ in HubError(.forbidden, "the conversation must have both the client and the craftsman as members") },
               reply: reply)
    }

    public func project(_ id: Int64, actor: Actor, reply: Reply<ProjectDetail>) {
        let sql = """
            WITH pj AS (
                SELECT * FROM projects pj WHERE pj.id = $1 AND ($2 IN (pj.client_id, pj.craftsman_id) OR $3::bool)
            )
            SELECT 'x', json_build_object('client_id', pj.client_id, 'craftsman_id', pj.craftsman_id)::text FROM projects pj WHERE pj.id = $1
            UNION ALL SELECT 'r', \(Self.record(Self.projectColumns("pj")))::text FROM pj
            UNION ALL SELECT 'c', \(Self.record(Self.contractColumns("ct")))::text FROM pj JOIN contracts ct ON ct.project_id = pj.id
            UNION ALL SELECT 'm', \(Self.record(Self.milestoneColumns("m")))::text FROM pj JOIN milestones m ON m.project_id = pj.id
            """
        market(sql, [String(id), actor.id, actor.isBackend ? "true" : "false"], write: false,
               decode: { rows throws(HubError) in
                   guard let project = try rows.record("r") else { return nil }
                   return ProjectDetail(project: try Project(project),
                                        contracts: try rows.records("c").map(Contract.init).sorted { $0.id < $1.id },
                                        milestones: try rows.records("m").map(Milestone.init).sorted { $0.id < $1.id })
               },
               refuse: { before in before == nil ? HubError(.notFound, "no such project") : HubError(.forbidden, "only the project's parties") },
               reply: reply)
    }

    public func createContract(project: Int64, terms: [UInt8], milestones: [MilestoneInput], actor: Actor,
                               reply: Reply<MarketChange<Contract>>) {
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
            UNION ALL SELECT 'r', \(Self.record(Self.contractColumns("ct")))::text FROM ct
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [String(project), String(decoding: terms, as: UTF8.self), actor.id, actor.ip, actor.isBackend ? "true" : "false",
                     String(decoding: JSON.array(milestones.map(Self.milestoneRecord)).bytes, as: UTF8.self)],
               decode: { rows throws(HubError) in try rows.change(Contract.init) },
               refuse: { before in
                   guard let before else { return HubError(.notFound, "no such project") }
                   guard Self.parties(before, actor) else { return HubError(.forbidden, "only the project's parties") }
                   return HubError(.conflict, "the project (\(before.fields["status"]?.stringValue ?? "?")) has a signed or pending contract; amend it instead")
               }, reply: reply)
    }

    /// A proposed milestone as `jsonb_to_recordset` reads it.
    static func milestoneRecord(_ m: MilestoneInput) -> JSON {
        .object(["title": .string(m.title), "due_on": m.dueOn.map(JSON.string) ?? .null, "amount": m.amount.map(JSON.int) ?? .null,
                 "percentage": m.percentage.map(JSON.double) ?? .null, "requires_approval": .bool(m.requiresApproval)])
    }

    public func contract(_ id: Int64, actor: Actor, reply: Reply<Contract>) {
        let sql = """
            SELECT 'x', json_build_object('client_id', pj.client_id, 'craftsman_id', pj.craftsman_id)::text
            FROM contracts ct JOIN projects pj ON pj.id = ct.project_id WHERE ct.id = $1
            UNION ALL
            SELECT 'r', \(Self.record(Self.contractColumns("ct")))::text FROM contracts ct JOIN projects pj ON pj.id = ct.project_id
            WHERE ct.id = $1 AND ($2 IN (pj.client_id, pj.craftsman_id) OR $3::bool)
            """
        market(sql, [String(id), actor.id, actor.isBackend ? "true" : "false"], write: false,
               decode: { rows throws(HubError) in try rows.record("r").map(Contract.init) },
               refuse: { before in before == nil ? HubError(.notFound, "no such contract") : HubError(.forbidden, "only the project's parties") },
               reply: reply)
    }

    public func sign(contract: Int64, actor: Actor, reply: Reply<MarketChange<Contract>>) {
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
            UNION ALL SELECT 'r', \(Self.record(Self.contractColumns("ct")))::text FROM ct
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [String(contract), actor.id, actor.ip], decode: { rows throws(HubError) in try rows.change(Contract.init) },
               refuse: { before in
            guard let before = before?.fields else { return HubError(.notFound, "no such contract") }
            guard !actor.isBackend, before["client_id"]?.stringValue == actor.id || before["craftsman_id"]?.stringValue == actor.id else {
                return HubError(.forbidden, "only the project's parties sign")
            }
            if before["superseded"] == .bool(true) { return HubError(.conflict, "the contract was superseded by an amendment") }
            if before["signed"] == .bool(true) { return HubError(.conflict, "the contract is already signed") }
            if before["expired"] == .bool(true) { return HubError(.conflict, "the contract expired unsigned") }
            return HubError(.conflict, "you already signed this contract")
        }, reply: reply)
    }

    public func amend(contract: Int64, terms: [UInt8], actor: Actor, reply: Reply<MarketChange<Contract>>) {
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
            UNION ALL SELECT 'r', \(Self.record(Self.contractColumns("ct")))::text FROM ct
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [String(contract), String(decoding: terms, as: UTF8.self), actor.id, actor.ip, actor.isBackend ? "true" : "false"],
               decode: { rows throws(HubError) in try rows.change(Contract.init) },
               refuse: { before in
                   guard let before else { return HubError(.notFound, "no such contract") }
                   guard Self.parties(before, actor) else { return HubError(.forbidden, "only the project's parties") }
                   return HubError(.conflict, before.fields["superseded"] == .bool(true) ? "the contract was already superseded" : "the project is closed")
               }, reply: reply)
    }
}
