// Projects and contracts: each action is ONE statement that locks what it
// changes (FOR UPDATE), states its rule once — a `refusal` column ('code:
// message', NULL when the action is allowed) computed on the locked row —
// changes only rows whose refusal is NULL, writes the audit log and the other
// party's notifications, and answers tagged records (MarketRows.swift).
// Every value is a bound parameter; what the statements share is in SQL
// functions (migrations 6 to 8) or column lists here.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore: MarketStore {
    /// A named record (jsonb) of `columns`, which may use the enclosing
    /// query's aliases; decoded by column name (MarketRows.swift).
    static func record(_ columns: String) -> String { "(SELECT to_jsonb(x) FROM (SELECT \(columns)) x)" }

    /// The 'x' row: the refusal of `source`'s row, if it has one. Every
    /// statement starts with it (or with 'p'): it names the columns `tag`
    /// and `record`.
    static func refusalRow(from source: String) -> String {
        "SELECT 'x' AS tag, json_build_object('refusal', refusal)::text AS record FROM \(source) WHERE refusal IS NOT NULL"
    }

    static func projectColumns(_ a: String) -> String {
        """
        \(a).id, \(a).client_id AS client, \(a).craftsman_id AS craftsman, \(a).title, \(a).status, \(a).estimated_budget,
        \(a).currency, \(a).payment_status, \(a).conversation_id AS conversation, epoch_ms(\(a).created_at) AS created_at
        """
    }
    static func contractColumns(_ a: String) -> String {
        """
        \(a).id, \(a).project_id AS project, \(a).number, \(a).terms, \(a).parent_id AS parent, \(a).superseded_by,
        epoch_ms(\(a).client_signed_at) AS client_signed_at, epoch_ms(\(a).craftsman_signed_at) AS craftsman_signed_at,
        epoch_ms(\(a).signed_at) AS signed_at, epoch_ms(\(a).expires_at) AS expires_at,
        CASE WHEN \(a).superseded_by IS NOT NULL THEN 'superseded' WHEN \(a).signed_at IS NOT NULL THEN 'signed'
             WHEN \(a).expires_at <= now() THEN 'expired' ELSE 'pending' END AS status
        """
    }
    static func milestoneColumns(_ a: String) -> String {
        """
        \(a).id, \(a).project_id AS project, \(a).title, \(a).due_on, \(a).amount, \(a).percentage, \(a).requires_approval,
        epoch_ms(\(a).completed_at) AS completed_at, epoch_ms(\(a).approved_at) AS approved_at
        """
    }
    static func paymentColumns(_ a: String) -> String {
        """
        \(a).id, \(a).project_id AS project, \(a).milestone_id AS milestone, \(a).type, \(a).amount, \(a).currency, \(a).status,
        \(a).method, \(a).escrow, epoch_ms(\(a).released_at) AS released_at, \(a).refunded_amount, \(a).platform_fee,
        \(a).provider_fee, \(a).net_amount, \(a).installment_number, \(a).installment_count, \(a).provider_reference,
        epoch_ms(\(a).created_at) AS created_at
        """
    }

    /// A CTE `s` posting a `system` message in the project's conversation
    /// (market_system_message) for the first row of `source`, and the 's'
    /// row that returns it. `project` and `text` are SQL expressions over
    /// `source`; values in them are bound parameters.
    static func systemMessage(project: String, text: String, from source: String) -> (cte: String, row: String) {
        (
            ", s AS (SELECT m.* FROM (SELECT \(project) AS project, \(text) AS text FROM \(source) LIMIT 1) q, "
                + "LATERAL market_system_message(q.project, q.text) m)",
            """
            UNION ALL SELECT 's', \(record("""
                sm.conversation_id AS conversation, sm.id, sm.seq, sm.client_msg_id, sm.body, epoch_ms(sm.created_at) AS created_at,
                chat_members(sm.conversation_id)::json AS members
                """))::text
            FROM s sm
            """
        )
    }

    public func createProject(
        client: String, craftsman: String, title: String, budget: Int64?, currency: String,
        conversation: Int64?, actor: Actor, reply: Reply<MarketChange<Project>>
    ) {
        let sql = """
            WITH p0 AS (
                -- The project's system messages go to every member of its
                -- conversation: only one that both parties are members of.
                SELECT CASE WHEN $6::bigint IS NOT NULL AND (SELECT count(*) FROM conversation_members cm
                                 WHERE cm.conversation_id = $6::bigint AND cm.user_id IN ($1, $2)) <> 2
                            THEN 'forbidden:the conversation must have both the client and the craftsman as members' END AS refusal
            ), pj AS (
                INSERT INTO projects (client_id, craftsman_id, title, estimated_budget, currency, conversation_id)
                SELECT $1, $2, $3, $4::bigint, $5, $6::bigint FROM p0 WHERE p0.refusal IS NULL
                RETURNING *
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip) SELECT $7, 'project.create', 'project', pj.id::text, $8 FROM pj
            ), n AS (
                SELECT n.* FROM (SELECT u.id AS recipient, pj.* FROM pj, unnest(ARRAY[pj.client_id, pj.craftsman_id]) AS u(id)
                                 WHERE u.id <> $7 OFFSET 0) t,
                    LATERAL market_notify(t.recipient, 'project_update', 'New project: ' || t.title, 'Status: inquiry',
                                          jsonb_build_object('project_id', t.id::text, 'status', t.status), 'project', t.id::text) n
            )
            \(Self.refusalRow(from: "p0"))
            UNION ALL SELECT 'r', \(Self.record(Self.projectColumns("pj")))::text FROM pj
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            """
        market(
            sql,
            [
                .text(client), .text(craftsman), .text(title), .int64(budget), .text(currency), .int64(conversation),
                .text(actor.id),
                .text(actor.ip),
            ],
            missing: .storeFailed, decode: { rows throws(HubError) in try rows.change(Project.init) }, reply: reply)
    }

    public func project(_ id: Int64, actor: Actor, reply: Reply<ProjectDetail>) {
        let sql = """
            WITH p0 AS (
                SELECT pj.*, CASE WHEN NOT ($2 IN (pj.client_id, pj.craftsman_id) OR $3::bool)
                                  THEN 'forbidden:only the project''s parties' END AS refusal
                FROM projects pj WHERE pj.id = $1
            ), pj AS (
                SELECT * FROM p0 WHERE refusal IS NULL
            )
            \(Self.refusalRow(from: "p0"))
            UNION ALL SELECT 'r', \(Self.record(Self.projectColumns("pj")))::text FROM pj
            UNION ALL SELECT 'c', \(Self.record(Self.contractColumns("ct")))::text FROM pj JOIN contracts ct ON ct.project_id = pj.id
            UNION ALL SELECT 'm', \(Self.record(Self.milestoneColumns("m")))::text FROM pj JOIN milestones m ON m.project_id = pj.id
            """
        market(
            sql, [.int64(id), .text(actor.id), .bool(actor.isBackend)], write: false,
            missing: HubError(.notFound, "no such project"),
            decode: { rows throws(HubError) in
                guard let project = try rows.record("r") else { return nil }
                return ProjectDetail(
                    project: try Project(project),
                    contracts: try rows.records("c").map(Contract.init).sorted { $0.id < $1.id },
                    milestones: try rows.records("m").map(Milestone.init).sorted { $0.id < $1.id })
            }, reply: reply)
    }

    public func createContract(
        project: Int64, terms: [UInt8], milestones: [MilestoneInput], actor: Actor,
        reply: Reply<MarketChange<Contract>>
    ) {
        let sys = Self.systemMessage(project: "ct.project_id", text: "'Contract ' || ct.number || ' was proposed'", from: "ct")
        let sql = """
            WITH p0 AS (
                SELECT pj.*, CASE
                    WHEN NOT ($3 IN (pj.client_id, pj.craftsman_id) OR $5::bool) THEN 'forbidden:only the project''s parties'
                    WHEN pj.status IN ('contract_signed', 'in_progress', 'completed', 'cancelled', 'disputed')
                      OR EXISTS (SELECT 1 FROM contracts c WHERE c.project_id = pj.id AND c.signed_at IS NULL
                                 AND c.superseded_by IS NULL AND c.expires_at > now())
                    THEN 'conflict:the project (' || pj.status || ') has a signed or pending contract; amend it instead' END AS refusal
                FROM projects pj WHERE pj.id = $1 FOR UPDATE
            ), ct AS (
                INSERT INTO contracts (project_id, number, terms, expires_at)
                SELECT p0.id, 'CTR-' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM') || '-' || lpad(nextval('contract_numbers')::text, 6, '0'),
                       $2::jsonb, now() + interval '7 days'
                FROM p0 WHERE p0.refusal IS NULL RETURNING *
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
                SELECT n.* FROM (SELECT u.id AS recipient, ct.* FROM ct JOIN p0 ON p0.id = ct.project_id,
                                        unnest(ARRAY[p0.client_id, p0.craftsman_id]) AS u(id) WHERE u.id <> $3 OFFSET 0) t,
                    LATERAL market_notify(t.recipient, 'contract_ready', 'Contract ' || t.number || ' is ready to sign',
                                          'It expires in 7 days unless both parties sign.',
                                          jsonb_build_object('contract_id', t.id::text, 'number', t.number, 'project_id', t.project_id::text),
                                          'contract', t.id::text) n
            )\(sys.cte)
            \(Self.refusalRow(from: "p0"))
            UNION ALL SELECT 'r', \(Self.record(Self.contractColumns("ct")))::text FROM ct
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(
            sql,
            [
                .int64(project), .json(terms), .text(actor.id), .text(actor.ip), .bool(actor.isBackend),
                .json(JSON.array(milestones.map(Self.milestoneRecord)).bytes),
            ],
            missing: HubError(.notFound, "no such project"),
            decode: { rows throws(HubError) in try rows.change(Contract.init) }, reply: reply)
    }

    /// A proposed milestone as `jsonb_to_recordset` reads it.
    static func milestoneRecord(_ m: MilestoneInput) -> JSON {
        .object([
            "title": .string(m.title), "due_on": m.dueOn.map(JSON.string) ?? .null, "amount": m.amount.map(JSON.int) ?? .null,
            "percentage": m.percentage.map(JSON.double) ?? .null, "requires_approval": .bool(m.requiresApproval),
        ])
    }

    public func contract(_ id: Int64, actor: Actor, reply: Reply<Contract>) {
        let sql = """
            WITH c0 AS (
                SELECT ct.*, CASE WHEN NOT ($2 IN (pj.client_id, pj.craftsman_id) OR $3::bool)
                                  THEN 'forbidden:only the project''s parties' END AS refusal
                FROM contracts ct JOIN projects pj ON pj.id = ct.project_id WHERE ct.id = $1
            )
            \(Self.refusalRow(from: "c0"))
            UNION ALL SELECT 'r', \(Self.record(Self.contractColumns("ct")))::text FROM c0 ct WHERE ct.refusal IS NULL
            """
        market(
            sql, [.int64(id), .text(actor.id), .bool(actor.isBackend)], write: false,
            missing: HubError(.notFound, "no such contract"),
            decode: { rows throws(HubError) in try rows.record("r").map(Contract.init) }, reply: reply)
    }

    public func sign(contract: Int64, actor: Actor, reply: Reply<MarketChange<Contract>>) {
        let sys = Self.systemMessage(
            project: "ct.project_id",
            text:
                "CASE WHEN ct.signed_at IS NOT NULL THEN 'Contract ' || ct.number || ' is signed by both parties' ELSE 'Contract ' || ct.number || ' was signed by ' || $2 END",
            from: "ct")
        // Backends are no party (their ids are reserved), so they cannot sign.
        let sql = """
            WITH c0 AS (
                SELECT c.id, pj.client_id, pj.craftsman_id, CASE
                    WHEN NOT $2 IN (pj.client_id, pj.craftsman_id) THEN 'forbidden:only the project''s parties sign'
                    WHEN c.superseded_by IS NOT NULL THEN 'conflict:the contract was superseded by an amendment'
                    WHEN c.signed_at IS NOT NULL THEN 'conflict:the contract is already signed'
                    WHEN c.expires_at <= now() THEN 'conflict:the contract expired unsigned'
                    WHEN (pj.client_id = $2 AND c.client_signed_at IS NOT NULL)
                      OR (pj.craftsman_id = $2 AND c.craftsman_signed_at IS NOT NULL) THEN 'conflict:you already signed this contract'
                    END AS refusal
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
                FROM c0 WHERE c.id = c0.id AND c0.refusal IS NULL
                RETURNING c.*
            ), up AS (
                UPDATE projects SET status = 'contract_signed', updated_at = now()
                FROM ct WHERE projects.id = ct.project_id AND ct.signed_at IS NOT NULL
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip, details)
                SELECT $2, 'contract.sign', 'contract', ct.id::text, $3, jsonb_build_object('complete', ct.signed_at IS NOT NULL) FROM ct
            ), n AS (
                SELECT n.* FROM (SELECT ct.*, CASE WHEN c0.client_id = $2 THEN c0.craftsman_id ELSE c0.client_id END AS recipient
                                 FROM ct JOIN c0 ON c0.id = ct.id OFFSET 0) t,
                    LATERAL market_notify(t.recipient, 'contract_signed',
                        CASE WHEN t.signed_at IS NOT NULL THEN 'Contract ' || t.number || ' is signed'
                             ELSE 'Contract ' || t.number || ' awaits your signature' END,
                        CASE WHEN t.signed_at IS NOT NULL THEN 'Both parties signed.' ELSE 'The other party signed.' END,
                        jsonb_build_object('contract_id', t.id::text, 'number', t.number, 'signed', t.signed_at IS NOT NULL),
                        'contract', t.id::text) n
            )\(sys.cte)
            \(Self.refusalRow(from: "c0"))
            UNION ALL SELECT 'r', \(Self.record(Self.contractColumns("ct")))::text FROM ct
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(
            sql, [.int64(contract), .text(actor.id), .text(actor.ip)], missing: HubError(.notFound, "no such contract"),
            decode: { rows throws(HubError) in try rows.change(Contract.init) }, reply: reply)
    }

    public func amend(contract: Int64, terms: [UInt8], actor: Actor, reply: Reply<MarketChange<Contract>>) {
        let sys = Self.systemMessage(
            project: "ct.project_id", text: "'Contract ' || ct.number || ' amends the earlier version'", from: "ct")
        let sql = """
            WITH c0 AS (
                SELECT c.*, pj.client_id, pj.craftsman_id, CASE
                    WHEN NOT ($3 IN (pj.client_id, pj.craftsman_id) OR $5::bool) THEN 'forbidden:only the project''s parties'
                    WHEN c.superseded_by IS NOT NULL THEN 'conflict:the contract was already superseded'
                    WHEN pj.status IN ('completed', 'cancelled') THEN 'conflict:the project is closed' END AS refusal
                FROM contracts c JOIN projects pj ON pj.id = c.project_id WHERE c.id = $1 FOR UPDATE OF c
            ), ct AS (
                INSERT INTO contracts (project_id, number, terms, parent_id, expires_at)
                SELECT c0.project_id, 'CTR-' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM') || '-' || lpad(nextval('contract_numbers')::text, 6, '0'),
                       $2::jsonb, c0.id, now() + interval '7 days'
                FROM c0 WHERE c0.refusal IS NULL RETURNING *
            ), old AS (
                UPDATE contracts SET superseded_by = ct.id FROM ct WHERE contracts.id = ct.parent_id
            ), up AS (
                UPDATE projects SET status = 'contract_pending', updated_at = now() FROM ct WHERE projects.id = ct.project_id
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip, details)
                SELECT $3, 'contract.amend', 'contract', ct.id::text, $4, jsonb_build_object('parent', ct.parent_id::text) FROM ct
            ), n AS (
                SELECT n.* FROM (SELECT u.id AS recipient, ct.* FROM ct JOIN c0 ON c0.id = ct.parent_id,
                                        unnest(ARRAY[c0.client_id, c0.craftsman_id]) AS u(id) WHERE u.id <> $3 OFFSET 0) t,
                    LATERAL market_notify(t.recipient, 'contract_ready', 'Amended contract ' || t.number || ' is ready to sign',
                                          'It supersedes the earlier version.',
                                          jsonb_build_object('contract_id', t.id::text, 'number', t.number, 'parent', t.parent_id::text),
                                          'contract', t.id::text) n
            )\(sys.cte)
            \(Self.refusalRow(from: "c0"))
            UNION ALL SELECT 'r', \(Self.record(Self.contractColumns("ct")))::text FROM ct
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(
            sql, [.int64(contract), .json(terms), .text(actor.id), .text(actor.ip), .bool(actor.isBackend)],
            missing: HubError(.notFound, "no such contract"),
            decode: { rows throws(HubError) in try rows.change(Contract.init) }, reply: reply)
    }
}
