// Projects and contracts: each action is ONE statement that locks what it
// changes (FOR UPDATE), states its rule once — a `refusal` column ('code:
// message', NULL when the action is allowed) computed on the locked row —
// changes only rows whose refusal is NULL, writes the audit log and the other
// party's notifications, and answers tagged records (MarketRows.swift).
// Every value is a bound parameter and every statement a literal text; what
// the statements share is in SQL functions (migrations 9 and 10): the records
// (market_*_record, called on whole rows), refusals, notifications, system
// messages.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore: MarketStore {
    static let createProjectSQL = """
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
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM p0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', market_project_record(pj)::text FROM pj
        UNION ALL SELECT 'n', market_notification_record(n) FROM n
        """

    public func createProject(
        client: String, craftsman: String, title: String, budget: Int64?, currency: String,
        conversation: Int64?, actor: Actor, reply: Reply<MarketChange<Project>>
    ) {
        market(
            Self.createProjectSQL,
            [
                .text(client), .text(craftsman), .text(title), .int64(budget), .text(currency), .int64(conversation),
                .text(actor.id),
                .text(actor.ip),
            ], lane: .conversation(conversation),
            missing: .storeFailed, decode: { rows throws(HubError) in try rows.change(Project.init) }, reply: reply)
    }

    static let projectSQL = """
        WITH p0 AS (
            SELECT pj.id, CASE WHEN NOT ($2 IN (pj.client_id, pj.craftsman_id) OR $3::bool)
                               THEN 'forbidden:only the project''s parties' END AS refusal
            FROM projects pj WHERE pj.id = $1
        ), pj AS (
            SELECT pj.* FROM p0 JOIN projects pj ON pj.id = p0.id WHERE p0.refusal IS NULL
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM p0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', market_project_record(pj)::text FROM pj
        UNION ALL SELECT 'c', market_contract_record(ct)::text FROM pj JOIN contracts ct ON ct.project_id = pj.id
        UNION ALL SELECT 'm', market_milestone_record(m)::text FROM pj JOIN milestones m ON m.project_id = pj.id
        """

    public func project(_ id: Int64, actor: Actor, reply: Reply<ProjectDetail>) {
        market(
            Self.projectSQL, [.int64(id), .text(actor.id), .bool(actor.isBackend)], write: false,
            missing: HubError(.notFound, "no such project"),
            decode: { rows throws(HubError) in
                guard let project = try rows.record("r") else { return nil }
                return ProjectDetail(
                    project: try Project(project),
                    contracts: try rows.records("c").map(Contract.init).sorted { $0.id < $1.id },
                    milestones: try rows.records("m").map(Milestone.init).sorted { $0.id < $1.id })
            }, reply: reply)
    }

    static let createContractSQL = """
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
        ), s AS (
            -- The project's system message, for the first changed row.
            SELECT m.* FROM (SELECT ct.project_id AS project, 'Contract ' || ct.number || ' was proposed' AS text FROM ct LIMIT 1) q,
                LATERAL market_system_message(q.project, q.text) m
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM p0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', market_contract_record(ct)::text FROM ct
        UNION ALL SELECT 'n', market_notification_record(n) FROM n
        UNION ALL SELECT 's', market_message_record(s)::text FROM s
        """

    public func createContract(
        project: Int64, terms: [UInt8], milestones: [MilestoneInput], actor: Actor,
        reply: Reply<MarketChange<Contract>>
    ) {
        market(
            Self.createContractSQL,
            [
                .int64(project), .json(terms), .text(actor.id), .text(actor.ip), .bool(actor.isBackend),
                .json(JSON.array(milestones.map(Self.milestoneRecord)).bytes),
            ], lane: .project(project),
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

    static let contractSQL = """
        WITH c0 AS (
            SELECT ct AS contract, CASE WHEN NOT ($2 IN (pj.client_id, pj.craftsman_id) OR $3::bool)
                                        THEN 'forbidden:only the project''s parties' END AS refusal
            FROM contracts ct JOIN projects pj ON pj.id = ct.project_id WHERE ct.id = $1
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM c0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', market_contract_record(c0.contract)::text FROM c0 WHERE c0.refusal IS NULL
        """

    public func contract(_ id: Int64, actor: Actor, reply: Reply<Contract>) {
        market(
            Self.contractSQL, [.int64(id), .text(actor.id), .bool(actor.isBackend)], write: false,
            missing: HubError(.notFound, "no such contract"),
            decode: { rows throws(HubError) in try rows.record("r").map(Contract.init) }, reply: reply)
    }

    static let signSQL = """
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
        ), s AS (
            -- The project's system message, for the first changed row.
            SELECT m.* FROM (SELECT ct.project_id AS project, CASE WHEN ct.signed_at IS NOT NULL THEN 'Contract ' || ct.number || ' is signed by both parties' ELSE 'Contract ' || ct.number || ' was signed by ' || $2 END AS text FROM ct LIMIT 1) q,
                LATERAL market_system_message(q.project, q.text) m
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM c0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', market_contract_record(ct)::text FROM ct
        UNION ALL SELECT 'n', market_notification_record(n) FROM n
        UNION ALL SELECT 's', market_message_record(s)::text FROM s
        """

    public func sign(contract: Int64, actor: Actor, reply: Reply<MarketChange<Contract>>) {
        // Backends are no party (their ids are reserved), so they cannot sign.
        market(
            Self.signSQL, [.int64(contract), .text(actor.id), .text(actor.ip)], lane: .contract(contract),
            missing: HubError(.notFound, "no such contract"),
            decode: { rows throws(HubError) in try rows.change(Contract.init) }, reply: reply)
    }

    static let amendSQL = """
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
        ), s AS (
            -- The project's system message, for the first changed row.
            SELECT m.* FROM (SELECT ct.project_id AS project, 'Contract ' || ct.number || ' amends the earlier version' AS text FROM ct LIMIT 1) q,
                LATERAL market_system_message(q.project, q.text) m
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM c0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', market_contract_record(ct)::text FROM ct
        UNION ALL SELECT 'n', market_notification_record(n) FROM n
        UNION ALL SELECT 's', market_message_record(s)::text FROM s
        """

    public func amend(contract: Int64, terms: [UInt8], actor: Actor, reply: Reply<MarketChange<Contract>>) {
        market(
            Self.amendSQL, [.int64(contract), .json(terms), .text(actor.id), .text(actor.ip), .bool(actor.isBackend)],
            lane: .contract(contract), missing: HubError(.notFound, "no such contract"),
            decode: { rows throws(HubError) in try rows.change(Contract.init) }, reply: reply)
    }
}
