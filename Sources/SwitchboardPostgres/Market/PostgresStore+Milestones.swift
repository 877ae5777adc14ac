// Milestones (added by a party, completed by the craftsman, approved by the
// client) and the sandbox provider's payment callbacks; the statements
// follow PostgresStore+Market's pattern (one refusal column per rule set).
import SwitchboardHub
import SwitchboardWire

extension PostgresStore {
    static let createMilestoneSQL = """
        WITH p0 AS (
            SELECT pj.*, CASE
                WHEN NOT ($7 IN (pj.client_id, pj.craftsman_id) OR $9::bool) THEN 'forbidden:only the project''s parties'
                WHEN pj.status IN ('completed', 'cancelled') THEN 'conflict:the project is ' || pj.status END AS refusal
            FROM projects pj WHERE pj.id = $1 FOR UPDATE
        ), ms AS (
            INSERT INTO milestones (project_id, title, due_on, amount, percentage, requires_approval)
            SELECT p0.id, $2, $3::date, $4::bigint, $5::numeric, $6::bool FROM p0 WHERE p0.refusal IS NULL
            RETURNING *
        ), a AS (
            INSERT INTO audit_log (actor, action, entity_type, entity_id, ip) SELECT $7, 'milestone.create', 'milestone', ms.id::text, $8 FROM ms
        ), n AS (
            SELECT n.* FROM (SELECT u.id AS recipient, ms.id, ms.title, p0.id AS project, p0.title AS project_title
                             FROM ms JOIN p0 ON p0.id = ms.project_id, unnest(ARRAY[p0.client_id, p0.craftsman_id]) AS u(id)
                             WHERE u.id <> $7 OFFSET 0) t,
                LATERAL market_notify(t.recipient, 'project_update', 'New milestone: ' || t.title, t.project_title,
                                      jsonb_build_object('project_id', t.project::text, 'milestone_id', t.id::text),
                                      'milestone', t.id::text) n
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM p0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', market_milestone_record(ms)::text FROM ms
        UNION ALL SELECT 'n', market_notification_record(n) FROM n
        """

    public func createMilestone(project: Int64, _ milestone: MilestoneInput, actor: Actor, reply: Reply<MarketChange<Milestone>>)
    {
        market(
            Self.createMilestoneSQL,
            [
                .int64(project), .text(milestone.title), .text(milestone.dueOn), .int64(milestone.amount),
                .double(milestone.percentage),
                .bool(milestone.requiresApproval), .text(actor.id), .text(actor.ip), .bool(actor.isBackend),
            ], lane: .project(project),
            missing: HubError(.notFound, "no such project"),
            decode: { rows throws(HubError) in try rows.change(Milestone.init) }, reply: reply)
    }

    static let milestoneStepSQL = """
        WITH m0 AS (
            SELECT m.id, pj.client_id, pj.craftsman_id, pj.title AS project_title, CASE WHEN $5::bool THEN CASE
                    WHEN pj.client_id <> $3 THEN 'forbidden:only the client approves a milestone'
                    WHEN NOT m.requires_approval THEN 'conflict:this milestone needs no approval'
                    WHEN m.completed_at IS NULL THEN 'conflict:the milestone is not completed yet'
                    WHEN m.approved_at IS NOT NULL THEN 'conflict:the milestone is already approved' END
                ELSE CASE
                    WHEN pj.craftsman_id <> $3 THEN 'forbidden:only the craftsman completes a milestone'
                    WHEN m.completed_at IS NOT NULL THEN 'conflict:the milestone is already completed' END
                END AS refusal
            FROM milestones m JOIN projects pj ON pj.id = m.project_id WHERE m.id = $2 AND m.project_id = $1 FOR UPDATE OF m
        ), ms AS (
            UPDATE milestones SET approved_at = CASE WHEN $5::bool THEN now() ELSE milestones.approved_at END,
                                  completed_at = CASE WHEN $5::bool THEN milestones.completed_at ELSE now() END
            FROM m0 WHERE milestones.id = m0.id AND m0.refusal IS NULL RETURNING milestones.*
        ), a AS (
            INSERT INTO audit_log (actor, action, entity_type, entity_id, ip)
            SELECT $3, CASE WHEN $5::bool THEN 'milestone.approve' ELSE 'milestone.complete' END, 'milestone', ms.id::text, $4 FROM ms
        ), n AS (
            SELECT n.* FROM (SELECT ms.*, m0.project_title, CASE WHEN $5::bool THEN m0.craftsman_id ELSE m0.client_id END AS recipient
                             FROM ms JOIN m0 ON m0.id = ms.id OFFSET 0) t,
                LATERAL market_notify(t.recipient, CASE WHEN $5::bool THEN 'project_update' ELSE 'milestone_completed' END,
                                      CASE WHEN $5::bool THEN 'Milestone approved: ' ELSE 'Milestone completed: ' END || t.title,
                                      t.project_title, jsonb_build_object('project_id', t.project_id::text, 'milestone_id', t.id::text),
                                      'milestone', t.id::text) n
        ), s AS (
            -- The project's system message, for the first changed row.
            SELECT m.* FROM (SELECT ms.project_id AS project, 'Milestone ' || CASE WHEN ms.approved_at IS NOT NULL THEN 'approved' ELSE 'completed' END || ': ' || ms.title AS text FROM ms LIMIT 1) q,
                LATERAL market_system_message(q.project, q.text) m
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM m0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', market_milestone_record(ms)::text FROM ms
        UNION ALL SELECT 'n', market_notification_record(n) FROM n
        UNION ALL SELECT 's', market_message_record(s)::text FROM s
        """

    /// complete ($5 false: the craftsman, not yet completed) or approve ($5
    /// true: the client, completed, needing approval, not yet approved).
    private func milestoneStep(
        project: Int64, milestone: Int64, actor: Actor, approve: Bool, reply: Reply<MarketChange<Milestone>>
    ) {
        market(
            Self.milestoneStepSQL, [.int64(project), .int64(milestone), .text(actor.id), .text(actor.ip), .bool(approve)],
            lane: .project(project), missing: HubError(.notFound, "no such milestone in this project"),
            decode: { rows throws(HubError) in try rows.change(Milestone.init) }, reply: reply)
    }

    public func completeMilestone(project: Int64, milestone: Int64, actor: Actor, reply: Reply<MarketChange<Milestone>>) {
        milestoneStep(project: project, milestone: milestone, actor: actor, approve: false, reply: reply)
    }

    public func approveMilestone(project: Int64, milestone: Int64, actor: Actor, reply: Reply<MarketChange<Milestone>>) {
        milestoneStep(project: project, milestone: milestone, actor: actor, approve: true, reply: reply)
    }

    static let providerEventSQL = """
        WITH p0 AS (
            SELECT pay.id, pj.craftsman_id,
                   CASE WHEN pay.status <> 'pending' THEN 'conflict:the payment is already ' || pay.status END AS refusal
            FROM payments pay JOIN projects pj ON pj.id = pay.project_id
            WHERE pay.provider_reference = $1 FOR UPDATE OF pay
        ), pay AS (
            UPDATE payments SET status = CASE WHEN $2::bool THEN 'completed' ELSE 'failed' END
            FROM p0 WHERE payments.id = p0.id AND p0.refusal IS NULL RETURNING payments.*
        ), up AS (
            UPDATE projects SET payment_status = 'in_escrow', updated_at = now(),
                   status = CASE WHEN projects.status = 'contract_signed' THEN 'in_progress' ELSE projects.status END
            FROM pay WHERE projects.id = pay.project_id AND pay.status = 'completed'
        ), a AS (
            INSERT INTO audit_log (actor, action, entity_type, entity_id, details)
            SELECT $3, 'payment.provider_event', 'payment', pay.id::text, jsonb_build_object('status', pay.status) FROM pay
        ), n AS (
            SELECT n.* FROM (SELECT pay.*, p0.craftsman_id FROM pay JOIN p0 ON p0.id = pay.id WHERE pay.status = 'completed' OFFSET 0) t,
                LATERAL market_notify(t.craftsman_id, 'payment_received', 'Payment received into escrow',
                                      market_money(t.amount, t.currency),
                                      jsonb_build_object('payment_id', t.id::text, 'project_id', t.project_id::text, 'amount', t.amount),
                                      'payment', t.id::text) n
        ), s AS (
            -- The project's system message, for the first changed row.
            SELECT m.* FROM (SELECT pay.project_id AS project, 'Payment ' || pay.status || ' at the provider' AS text FROM pay LIMIT 1) q,
                LATERAL market_system_message(q.project, q.text) m
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM p0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', market_payment_record(pay)::text FROM pay
        UNION ALL SELECT 'n', market_notification_record(n) FROM n
        UNION ALL SELECT 's', market_message_record(s)::text FROM s
        """

    public func providerEvent(reference: String, succeeded: Bool, actor: Actor, reply: Reply<MarketChange<Payment>>) {
        market(
            Self.providerEventSQL, [.text(reference), .bool(succeeded), .text(actor.id)],
            lane: .providerReference(reference), missing: HubError(.notFound, "no payment with this provider reference"),
            decode: { rows throws(HubError) in try rows.change(Payment.init) }, reply: reply)
    }
}
