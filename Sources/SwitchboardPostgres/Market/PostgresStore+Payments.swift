// Payments into escrow, release and refunds: the rules live in the
// statements (client pays and releases; no release twice; refunds only of
// what is still in escrow, never past what was paid), fees are recomputed
// in SQL generated from Fees.swift's rule and constants (one source).
import SwitchboardHub
import SwitchboardWire

extension PostgresStore {
    /// An amount column of `pay` shown as "1234.50 RON" (integer arithmetic,
    /// minor units), for notification and system-message texts.
    static func money(_ column: String) -> String {
        "(\(column) / 100)::text || '.' || lpad((\(column) % 100)::text, 2, '0') || ' ' || pay.currency"
    }

    /// Provider basis points by method, generated from `PaymentMethod` (one source).
    static let providerBasisPoints = "CASE pay.method "
        + PaymentMethod.allCases.map { "WHEN '\($0.rawValue)' THEN \($0.providerBasisPoints)" }.joined(separator: " ") + " END"

    /// `Fees.share` in SQL, from its constants: `amount × bp / 10,000`, half up.
    static func share(_ amount: String, basisPoints: String) -> String {
        "((\(amount)) * (\(basisPoints)) + \(Fees.basisPointsPerWhole / 2)) / \(Fees.basisPointsPerWhole)"
    }

    /// Step one of a payment: under the rules (the project's client, a signed
    /// contract, a milestone of this project) and the idempotency key, the
    /// payment is stored `pending` with no provider reference yet. Nothing is
    /// charged before this committed; a replay or a refusal creates nothing.
    public func createPayment(project: Int64, _ payment: NewPayment, fees: FeeBreakdown, actor: Actor,
                              idempotencyKey: String?, fingerprint: String,
                              reply: Reply<PaymentStart>) {
        let sql = """
            WITH prior AS (
                SELECT status, response, fingerprint FROM idempotency_keys WHERE scope = $2 AND key = $12
            ), pj AS (
                SELECT * FROM projects WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM prior) FOR UPDATE
            ), ok AS (
                SELECT * FROM pj WHERE pj.client_id = $2 AND pj.status IN ('contract_signed', 'in_progress')
                  AND ($5::bigint IS NULL OR EXISTS (SELECT 1 FROM milestones m WHERE m.id = $5::bigint AND m.project_id = pj.id))
            ), pay AS (
                INSERT INTO payments (project_id, milestone_id, type, amount, currency, status, method, escrow, platform_fee,
                                      provider_fee, net_amount, installment_number, installment_count, provider_reference, created_by)
                SELECT ok.id, $5::bigint, $6, $3::bigint, ok.currency, 'pending', $4, true, $9::bigint, $10::bigint, $11::bigint,
                       $7::int, $8::int, '', $2
                FROM ok RETURNING *
            ), k AS (
                -- The answer stored now is replaced by the charged one (recordCharge).
                INSERT INTO idempotency_keys (scope, key, fingerprint, status, response)
                SELECT $2, $12, $13, 201, \(Self.record(Self.paymentColumns("pay"))) FROM pay WHERE $12::text IS NOT NULL
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip, details)
                SELECT $2, 'payment.create', 'payment', pay.id::text, $14,
                       jsonb_build_object('amount', pay.amount, 'method', pay.method, 'status', pay.status) FROM pay
            )
            SELECT 'p', json_build_object('status', status, 'response', response, 'fingerprint', fingerprint, 'request', $13::text)::text FROM prior
            UNION ALL SELECT 'x', json_build_object('client_id', client_id, 'craftsman_id', craftsman_id, 'status', status)::text FROM pj
            UNION ALL SELECT 'c', json_build_object('id', pay.id, 'currency', pay.currency)::text FROM pay
            """
        let params: [String?] = [String(project), actor.id, String(payment.amount), payment.method.rawValue,
                                 payment.milestone.map(String.init), payment.type, payment.installmentNumber.map(String.init),
                                 payment.installmentCount.map(String.init), String(fees.platformFee), String(fees.providerFee),
                                 String(fees.net), idempotencyKey, fingerprint, actor.ip]
        market(sql, params, decode: { rows throws(HubError) -> PaymentStart? in
            if let prior = try rows.record("p") {
                guard prior.fields["fingerprint"] == prior.fields["request"] else {
                    throw HubError(.idempotencyMismatch, "this idempotency key was used with a different request")
                }
                guard let response = prior.fields["response"], case .object(let fields) = response else { throw HubError.storeFailed }
                return .replay(try Payment(Record(fields: fields)))
            }
            guard let created = try rows.record("c") else { return nil }
            return .created(id: try created.int64("id"), currency: try created.text("currency"))
        }, refuse: { before in
            guard let before else { return HubError(.notFound, "no such project") }
            return before.fields["client_id"]?.stringValue != actor.id ? HubError(.forbidden, "only the project's client pays")
                : HubError(.conflict, "payments need a signed contract (project is \(before.fields["status"]?.stringValue ?? "?")) and a milestone of this project")
        }, reply: reply)
    }

    /// Step two: the provider's answer for a payment of step one. Captured
    /// (`completed`) puts it into escrow and tells the craftsman; `pending`
    /// waits for the webhook; `failed` ends it. Only a payment still waiting
    /// for its charge is changed, so no answer is recorded twice.
    public func recordCharge(payment: Int64, charge: ProviderCharge, actor: Actor, idempotencyKey: String?,
                             reply: Reply<MarketChange<Payment>>) {
        let status = ["completed", "pending", "failed"].contains(charge.status) ? charge.status : "failed"
        let sys = Self.systemMessage(project: "pay.project_id", text: "'Payment of ' || \(Self.money("pay.amount")) || CASE pay.status WHEN 'completed' THEN ' is held in escrow' WHEN 'pending' THEN ' is pending' ELSE ' failed at the provider' END", from: "pay")
        let sql = """
            WITH p0 AS (
                SELECT pay.id, pay.status, pay.provider_reference, pj.craftsman_id FROM payments pay
                JOIN projects pj ON pj.id = pay.project_id WHERE pay.id = $1 FOR UPDATE OF pay
            ), pay AS (
                UPDATE payments SET status = $2, provider_reference = $3
                FROM p0 WHERE payments.id = p0.id AND p0.status = 'pending' AND p0.provider_reference = ''
                RETURNING payments.*
            ), k AS (
                UPDATE idempotency_keys SET response = \(Self.record(Self.paymentColumns("pay"))) FROM pay
                WHERE $5::text IS NOT NULL AND scope = $4 AND key = $5
            ), up AS (
                UPDATE projects SET payment_status = 'in_escrow', updated_at = now(),
                       status = CASE WHEN projects.status = 'contract_signed' THEN 'in_progress' ELSE projects.status END
                FROM pay WHERE projects.id = pay.project_id AND pay.status = 'completed'
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip, details)
                SELECT $4, 'payment.charge', 'payment', pay.id::text, $6,
                       jsonb_build_object('status', pay.status, 'provider_reference', pay.provider_reference) FROM pay
            ), n AS (
                \(Self.notify("p0.craftsman_id", kind: "payment_received", title: "'Payment received into escrow'",
                              body: Self.money("pay.amount"),
                              entity: "payment", entityID: "pay.id::text",
                              data: "jsonb_build_object('payment_id', pay.id::text, 'project_id', pay.project_id::text, 'amount', pay.amount, 'currency', pay.currency)",
                              from: "pay JOIN p0 ON p0.id = pay.id WHERE pay.status = 'completed'"))
            )\(sys.ctes)
            SELECT 'x', json_build_object('status', status)::text FROM p0
            UNION ALL SELECT 'r', \(Self.record(Self.paymentColumns("pay")))::text FROM pay
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        // The provider has charged: the record must not be lost to an outage
        // or a full queue (kept until the database takes it).
        market(sql, [String(payment), status, charge.reference, actor.id, idempotencyKey, actor.ip], survivesOutage: true,
               decode: { rows throws(HubError) in try rows.change(Payment.init) },
               refuse: { before in
            before == nil ? HubError(.notFound, "no such payment") : HubError(.conflict, "the payment's charge was already recorded")
        }, reply: reply)
    }

    public func release(payment: Int64, actor: Actor, reply: Reply<MarketChange<Payment>>) {
        let sys = Self.systemMessage(project: "pay.project_id", text: "'Payment of ' || \(Self.money("pay.amount")) || ' was released'", from: "pay")
        let sql = """
            WITH p0 AS (
                SELECT pay.id, pay.status, pay.released_at, pay.refunded_amount, pay.amount, pj.client_id, pj.craftsman_id
                FROM payments pay JOIN projects pj ON pj.id = pay.project_id WHERE pay.id = $1 FOR UPDATE OF pay
            ), pay AS (
                UPDATE payments SET released_at = now()
                FROM p0 WHERE payments.id = p0.id AND p0.client_id = $2 AND payments.status = 'completed'
                  AND payments.escrow AND payments.released_at IS NULL AND payments.refunded_amount < payments.amount
                RETURNING payments.*
            ), up AS (
                UPDATE projects SET updated_at = now(), payment_status = CASE
                    WHEN EXISTS (SELECT 1 FROM payments o WHERE o.project_id = projects.id AND o.status = 'completed'
                                 AND o.released_at IS NULL AND o.id <> pay.id) THEN 'partially_released' ELSE 'released' END
                FROM pay WHERE projects.id = pay.project_id
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip, details)
                SELECT $2, 'payment.release', 'payment', pay.id::text, $3, jsonb_build_object('net_amount', pay.net_amount) FROM pay
            ), n AS (
                \(Self.notify("p0.craftsman_id", kind: "payment_released", title: "'Payment released'",
                              body: "'Net ' || \(Self.money("pay.net_amount"))",
                              entity: "payment", entityID: "pay.id::text",
                              data: "jsonb_build_object('payment_id', pay.id::text, 'project_id', pay.project_id::text, 'net_amount', pay.net_amount)",
                              from: "pay JOIN p0 ON p0.id = pay.id"))
            )\(sys.ctes)
            SELECT 'x', json_build_object('client_id', client_id, 'craftsman_id', craftsman_id, 'status', status,
                                          'released', released_at IS NOT NULL, 'refunded_all', refunded_amount >= amount)::text FROM p0
            UNION ALL SELECT 'r', \(Self.record(Self.paymentColumns("pay")))::text FROM pay
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [String(payment), actor.id, actor.ip], decode: { rows throws(HubError) in try rows.change(Payment.init) },
               refuse: { record in
            guard let record else { return HubError(.notFound, "no such payment") }
            let before = record.fields
            guard before["client_id"]?.stringValue == actor.id else {
                return HubError(.forbidden, Self.parties(record, actor) ? "only the client releases a payment" : "only the project's parties")
            }
            if before["released"] == .bool(true) { return HubError(.conflict, "the payment was already released") }
            if before["refunded_all"] == .bool(true) { return HubError(.conflict, "the payment was refunded") }
            return HubError(.conflict, "the payment is \(before["status"]?.stringValue ?? "?"), not completed")
        }, reply: reply)
    }

    public func refund(payment: Int64, amount: Int64?, reason: String, actor: Actor,
                       reply: Reply<MarketChange<Refund>>) {
        let captured = "(payments.amount - payments.refunded_amount - r.amount)"
        let bp = Self.providerBasisPoints.replacingOccurrences(of: "pay.method", with: "payments.method")
        let sys = Self.systemMessage(project: "pay.project_id", text: "'Refund of ' || \(Self.money("pay.refunded_now"))", from: "pay")
        let sql = """
            WITH p0 AS (
                SELECT pay.id, pay.status, pay.released_at, pay.amount, pay.refunded_amount, pj.client_id, pj.craftsman_id
                FROM payments pay JOIN projects pj ON pj.id = pay.project_id WHERE pay.id = $1 FOR UPDATE OF pay
            ), r AS (
                SELECT p0.id, coalesce($2::bigint, p0.amount - p0.refunded_amount) AS amount FROM p0
                WHERE (p0.craftsman_id = $4 OR $6::bool) AND p0.status = 'completed' AND p0.released_at IS NULL
            ), pay AS (
                -- Never past what was paid: the condition and the table's CHECK.
                UPDATE payments SET refunded_amount = payments.refunded_amount + r.amount,
                    platform_fee = \(Self.share(captured, basisPoints: String(Fees.platformBasisPoints))),
                    provider_fee = \(Self.share(captured, basisPoints: bp)),
                    net_amount = \(captured) - \(Self.share(captured, basisPoints: String(Fees.platformBasisPoints)))
                                 - \(Self.share(captured, basisPoints: bp)),
                    status = CASE WHEN \(captured) = 0 THEN 'refunded' ELSE payments.status END
                FROM r WHERE payments.id = r.id AND r.amount > 0 AND payments.refunded_amount + r.amount <= payments.amount
                RETURNING payments.*, r.amount AS refunded_now
            ), rf AS (
                INSERT INTO refunds (payment_id, amount, reason, created_by) SELECT pay.id, pay.refunded_now, $3, $4 FROM pay
            ), up AS (
                UPDATE projects SET updated_at = now(), payment_status = CASE
                    WHEN NOT EXISTS (SELECT 1 FROM payments o WHERE o.project_id = projects.id AND o.status = 'completed' AND o.id <> pay.id)
                         AND pay.status = 'refunded' THEN 'refunded' ELSE projects.payment_status END
                FROM pay WHERE projects.id = pay.project_id
            ), a AS (
                INSERT INTO audit_log (actor, action, entity_type, entity_id, ip, details)
                SELECT $4, 'payment.refund', 'payment', pay.id::text, $5, jsonb_build_object('amount', pay.refunded_now, 'reason', $3::text) FROM pay
            ), n AS (
                \(Self.notify("p0.client_id", kind: "payment_refunded", title: "'Payment refunded'",
                              body: "\(Self.money("pay.refunded_now")) || ' back to you'",
                              entity: "payment", entityID: "pay.id::text",
                              data: "jsonb_build_object('payment_id', pay.id::text, 'project_id', pay.project_id::text, 'amount', pay.refunded_now, 'reason', $3::text)",
                              from: "pay JOIN p0 ON p0.id = pay.id"))
            )\(sys.ctes)
            SELECT 'x', json_build_object('client_id', client_id, 'craftsman_id', craftsman_id, 'status', status,
                                          'released', released_at IS NOT NULL, 'remaining', amount - refunded_amount)::text FROM p0
            UNION ALL SELECT 'r', \(Self.record(Self.paymentColumns("pay") + ", pay.refunded_now"))::text FROM pay
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [String(payment), amount.map(String.init), reason, actor.id, actor.ip, actor.isBackend ? "true" : "false"],
               decode: { rows throws(HubError) in
                   try rows.change { r throws(HubError) in Refund(payment: try Payment(r), refundedNow: try r.int64("refunded_now")) }
               },
               refuse: { record in
                   guard let record else { return HubError(.notFound, "no such payment") }
                   let before = record.fields
                   guard actor.isBackend || before["craftsman_id"]?.stringValue == actor.id else {
                       return HubError(.forbidden, Self.parties(record, actor) ? "refunds are made by the craftsman or the platform" : "only the project's parties")
                   }
                   if before["released"] == .bool(true) { return HubError(.conflict, "the payment was released; it is no longer in escrow") }
                   if before["status"]?.stringValue != "completed" { return HubError(.conflict, "the payment is \(before["status"]?.stringValue ?? "?")") }
                   return HubError(.conflict, "at most \(before["remaining"]?.intValue ?? 0) can still be refunded")
               }, reply: reply)
    }

    public func payments(project: Int64, page: Int, actor: Actor, reply: Reply<PaymentPage>) {
        let sql = """
            WITH pj AS (
                SELECT * FROM projects pj WHERE pj.id = $1 AND ($2 IN (pj.client_id, pj.craftsman_id) OR $3::bool)
            )
            SELECT 'x', json_build_object('client_id', client_id, 'craftsman_id', craftsman_id)::text FROM projects WHERE id = $1
            UNION ALL
            SELECT 'r', \(Self.record("""
                coalesce(sum(amount), 0) AS paid, coalesce(sum(refunded_amount), 0) AS refunded,
                coalesce(sum(platform_fee), 0) AS platform_fees, coalesce(sum(provider_fee), 0) AS provider_fees,
                coalesce(sum(net_amount), 0) AS net
                """))::text
            FROM pj LEFT JOIN payments pay ON pay.project_id = pj.id AND pay.status IN ('completed', 'refunded') GROUP BY pj.id
            UNION ALL
            SELECT 'y', \(Self.record(Self.paymentColumns("pay")))::text FROM (
                SELECT pay.* FROM pj JOIN payments pay ON pay.project_id = pj.id ORDER BY pay.id LIMIT 50 OFFSET ($4::int - 1) * 50) pay
            """
        market(sql, [String(project), actor.id, actor.isBackend ? "true" : "false", String(page)], write: false,
               decode: { rows throws(HubError) in
                   guard let totals = try rows.record("r") else { return nil }
                   return PaymentPage(page: page, payments: try rows.records("y").map(Payment.init).sorted { $0.id < $1.id },
                                      paid: try totals.int64("paid"), refunded: try totals.int64("refunded"),
                                      platformFees: try totals.int64("platform_fees"), providerFees: try totals.int64("provider_fees"),
                                      net: try totals.int64("net"))
               },
               refuse: { before in before == nil ? HubError(.notFound, "no such project") : HubError(.forbidden, "only the project's parties") },
               reply: reply)
    }
}
