// Milestones (added by a party, completed by the craftsman, approved by the
// client) and the sandbox provider's payment callbacks.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore {
    public func createMilestone(project: Int64, _ milestone: MilestoneInput, actor: Actor, reply: Reply<MarketChange<Milestone>>) {
        let sql = """
            WITH pj AS (
                SELECT * FROM projects WHERE id = $1 FOR UPDATE
            ), ms AS (
                INSERT INTO milestones (project_id, title, due_on, amount, percentage, requires_approval)
                SELECT pj.id, $2, $3::date, $4::bigint, $5::numeric, $6::bool FROM pj
                WHERE ($7 IN (pj.client_id, pj.craftsman_id) OR $9::bool) AND pj.status NOT IN ('completed', 'cancelled')
                RETURNING *
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip) SELECT $7, 'milestone.create', 'milestone', ms.id::text, $8 FROM ms
            ), n AS (
                \(Self.notify("u.id", kind: "project_update", title: "'New milestone: ' || ms.title", body: "pj.title",
                              entity: "milestone", entityID: "ms.id::text",
                              data: "jsonb_build_object('project_id', pj.id::text, 'milestone_id', ms.id::text)",
                              from: "ms JOIN pj ON pj.id = ms.project_id, unnest(ARRAY[pj.client_id, pj.craftsman_id]) AS u(id) WHERE u.id <> $7"))
            )
            SELECT 'x', json_build_object('client_id', client_id, 'craftsman_id', craftsman_id, 'status', status)::text FROM pj
            UNION ALL SELECT 'r', \(Self.record(Self.milestoneColumns("ms")))::text FROM ms
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            """
        market(sql, [String(project), milestone.title, milestone.dueOn, milestone.amount.map(String.init), milestone.percentage.map { String($0) },
                     milestone.requiresApproval ? "true" : "false", actor.id, actor.ip, actor.isBackend ? "true" : "false"],
               decode: { rows throws(HubError) in try rows.change(Milestone.init) },
               refuse: { before in
            guard let before else { return HubError(.notFound, "no such project") }
            guard Self.parties(before, actor) else { return HubError(.forbidden, "only the project's parties") }
            return HubError(.conflict, "the project is \(before.fields["status"]?.stringValue ?? "?")")
        }, reply: reply)
    }

    /// complete (craftsman, not yet completed) or approve (client, completed, not yet approved).
    private func milestoneStep(project: Int64, milestone: Int64, actor: Actor, approve: Bool, reply: Reply<MarketChange<Milestone>>) {
        let set = approve ? "approved_at = now()" : "completed_at = now()"
        let rule = approve ? "m0.client_id = $3 AND milestones.completed_at IS NOT NULL AND milestones.approved_at IS NULL AND milestones.requires_approval"
                           : "m0.craftsman_id = $3 AND milestones.completed_at IS NULL"
        let recipient = approve ? "m0.craftsman_id" : "m0.client_id"
        let kind = approve ? "project_update" : "milestone_completed"
        let title = approve ? "'Milestone approved: ' || ms.title" : "'Milestone completed: ' || ms.title"
        let sys = Self.systemMessage(project: "ms.project_id", text: "'Milestone ' || CASE WHEN ms.approved_at IS NOT NULL THEN 'approved' ELSE 'completed' END || ': ' || ms.title", from: "ms")
        let sql = """
            WITH m0 AS (
                SELECT m.id, m.completed_at, m.approved_at, m.requires_approval, pj.client_id, pj.craftsman_id, pj.title AS project_title
                FROM milestones m JOIN projects pj ON pj.id = m.project_id WHERE m.id = $2 AND m.project_id = $1 FOR UPDATE OF m
            ), ms AS (
                UPDATE milestones SET \(set) FROM m0 WHERE milestones.id = m0.id AND \(rule) RETURNING milestones.*
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip)
                SELECT $3, '\(approve ? "milestone.approve" : "milestone.complete")', 'milestone', ms.id::text, $4 FROM ms
            ), n AS (
                \(Self.notify(recipient, kind: kind, title: title, body: "m0.project_title", entity: "milestone", entityID: "ms.id::text",
                              data: "jsonb_build_object('project_id', ms.project_id::text, 'milestone_id', ms.id::text)",
                              from: "ms JOIN m0 ON m0.id = ms.id"))
            )\(sys.ctes)
            SELECT 'x', json_build_object('client_id', client_id, 'craftsman_id', craftsman_id, 'completed', completed_at IS NOT NULL,
                                          'approved', approved_at IS NOT NULL, 'requires_approval', requires_approval)::text FROM m0
            UNION ALL SELECT 'r', \(Self.record(Self.milestoneColumns("ms")))::text FROM ms
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [String(project), String(milestone), actor.id, actor.ip], decode: { rows throws(HubError) in try rows.change(Milestone.init) },
               refuse: { before in
            guard let before = before?.fields else { return HubError(.notFound, "no such milestone in this project") }
            let owner = approve ? before["client_id"] : before["craftsman_id"]
            guard owner?.stringValue == actor.id else {
                return HubError(.forbidden, approve ? "only the client approves a milestone" : "only the craftsman completes a milestone")
            }
            if approve {
                if before["requires_approval"] == .bool(false) { return HubError(.conflict, "this milestone needs no approval") }
                if before["completed"] == .bool(false) { return HubError(.conflict, "the milestone is not completed yet") }
                return HubError(.conflict, "the milestone is already approved")
            }
            return HubError(.conflict, "the milestone is already completed")
        }, reply: reply)
    }

    public func completeMilestone(project: Int64, milestone: Int64, actor: Actor, reply: Reply<MarketChange<Milestone>>) {
        milestoneStep(project: project, milestone: milestone, actor: actor, approve: false, reply: reply)
    }

    public func approveMilestone(project: Int64, milestone: Int64, actor: Actor, reply: Reply<MarketChange<Milestone>>) {
        milestoneStep(project: project, milestone: milestone, actor: actor, approve: true, reply: reply)
    }

    public func providerEvent(reference: String, succeeded: Bool, actor: Actor, reply: Reply<MarketChange<Payment>>) {
        let sys = Self.systemMessage(project: "pay.project_id", text: "'Payment ' || pay.status || ' at the provider'", from: "pay")
        let sql = """
            WITH p0 AS (
                SELECT pay.id, pay.status, pj.craftsman_id FROM payments pay JOIN projects pj ON pj.id = pay.project_id
                WHERE pay.provider_reference = $1 FOR UPDATE OF pay
            ), pay AS (
                UPDATE payments SET status = CASE WHEN $2::bool THEN 'completed' ELSE 'failed' END
                FROM p0 WHERE payments.id = p0.id AND p0.status = 'pending' RETURNING payments.*
            ), up AS (
                UPDATE projects SET payment_status = 'in_escrow', updated_at = now(),
                       status = CASE WHEN projects.status = 'contract_signed' THEN 'in_progress' ELSE projects.status END
                FROM pay WHERE projects.id = pay.project_id AND pay.status = 'completed'
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, details)
                SELECT $3, 'payment.provider_event', 'payment', pay.id::text, jsonb_build_object('status', pay.status) FROM pay
            ), n AS (
                \(Self.notify("p0.craftsman_id", kind: "payment_received", title: "'Payment received into escrow'",
                              body: Self.money("pay.amount"),
                              entity: "payment", entityID: "pay.id::text",
                              data: "jsonb_build_object('payment_id', pay.id::text, 'project_id', pay.project_id::text, 'amount', pay.amount)",
                              from: "pay JOIN p0 ON p0.id = pay.id WHERE pay.status = 'completed'"))
            )\(sys.ctes)
            SELECT 'x', json_build_object('status', status)::text FROM p0
            UNION ALL SELECT 'r', \(Self.record(Self.paymentColumns("pay")))::text FROM pay
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [reference, succeeded ? "true" : "false", actor.id], decode: { rows throws(HubError) in try rows.change(Payment.init) },
               refuse: { before in
            guard let before else { return HubError(.notFound, "no payment with this provider reference") }
            return HubError(.conflict, "the payment is already \(before.fields["status"]?.stringValue ?? "?")")
        }, reply: reply)
    }
}
