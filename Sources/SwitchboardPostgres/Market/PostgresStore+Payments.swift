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
                              reply: @escaping (Result<PaymentStart, DomainFailure>) -> Void) {
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
                SELECT $2, $12, $13, 201, \(Self.paymentJSON)::jsonb FROM pay WHERE $12::text IS NOT NULL
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
        let deliver = self.deliver
        writer.submit(WriteJob(sql: sql, params: params) { result in
            let outcome: Result<PaymentStart, DomainFailure>
            switch result {
            case .failure(let error): outcome = .failure(.store(error))
            case .success(let rows):
                func json(_ tag: String) -> JSON? { rows.first { $0[0] == tag }?[1].flatMap { try? JSON.parse(Array($0.utf8)) } }
                if let prior = json("p") {
                    outcome = prior["fingerprint"] == prior["request"]
                        ? .success(.replay(MarketOutcome(status: Int(prior["status"]?.intValue ?? 200), body: prior["response"] ?? .null)))
                        : .failure(.idempotencyMismatch)
                } else if let created = json("c"), let id = created["id"]?.intValue {
                    outcome = .success(.created(id: id, currency: created["currency"]?.stringValue ?? "RON"))
                } else if let before = json("x") {
                    outcome = .failure(before["client_id"]?.stringValue != actor.id ? .forbidden("only the project's client pays")
                        : .conflict("payments need a signed contract (project is \(before["status"]?.stringValue ?? "?")) and a milestone of this project"))
                } else {
                    outcome = .failure(.notFound("no such project"))
                }
            }
            deliver { reply(outcome) }
        })
    }

    /// Step two: the provider's answer for a payment of step one. Captured
    /// (`completed`) puts it into escrow and tells the craftsman; `pending`
    /// waits for the webhook; `failed` ends it. Only a payment still waiting
    /// for its charge is changed, so no answer is recorded twice.
    public func recordCharge(payment: Int64, charge: ProviderCharge, actor: Actor, idempotencyKey: String?,
                             reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
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
                UPDATE idempotency_keys SET response = \(Self.paymentJSON)::jsonb FROM pay
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
            UNION ALL SELECT 'r', \(Self.paymentJSON)::text FROM pay
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        // The provider has charged: the record must not be lost to an outage
        // or a full queue (kept until the database takes it).
        market(sql, [String(payment), status, charge.reference, actor.id, idempotencyKey, actor.ip], created: 201,
               survivesOutage: true, decide: { before in
            before == nil ? .notFound("no such payment") : .conflict("the payment's charge was already recorded")
        }, reply: reply)
    }

    public func release(payment: Int64, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
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
            UNION ALL SELECT 'r', \(Self.paymentJSON)::text FROM pay
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [String(payment), actor.id, actor.ip], decide: { before in
            guard let before else { return .notFound("no such payment") }
            guard before["client_id"]?.stringValue == actor.id else {
                return Self.parties(before, actor) ? .forbidden("only the client releases a payment") : .forbidden("only the project's parties")
            }
            if before["released"] == .bool(true) { return .conflict("the payment was already released") }
            if before["refunded_all"] == .bool(true) { return .conflict("the payment was refunded") }
            return .conflict("the payment is \(before["status"]?.stringValue ?? "?"), not completed")
        }, reply: reply)
    }

    public func refund(payment: Int64, amount: Int64?, reason: String, actor: Actor,
                       reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
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
            UNION ALL SELECT 'r', (\(Self.paymentJSON)::jsonb || jsonb_build_object('refunded_now', pay.refunded_now))::text FROM pay
            UNION ALL SELECT 'n', \(Self.notificationJSON) FROM n
            \(sys.row)
            """
        market(sql, [String(payment), amount.map(String.init), reason, actor.id, actor.ip, actor.isBackend ? "true" : "false"],
               decide: { before in
                   guard let before else { return .notFound("no such payment") }
                   guard actor.isBackend || before["craftsman_id"]?.stringValue == actor.id else {
                       return .forbidden(Self.parties(before, actor) ? "refunds are made by the craftsman or the platform" : "only the project's parties")
                   }
                   if before["released"] == .bool(true) { return .conflict("the payment was released; it is no longer in escrow") }
                   if before["status"]?.stringValue != "completed" { return .conflict("the payment is \(before["status"]?.stringValue ?? "?")") }
                   return .conflict("at most \(before["remaining"]?.intValue ?? 0) can still be refunded")
               }, reply: reply)
    }

    public func payments(project: Int64, page: Int, actor: Actor, reply: @escaping (Result<MarketOutcome, DomainFailure>) -> Void) {
        let sql = """
            SELECT 'x', json_build_object('client_id', client_id, 'craftsman_id', craftsman_id)::text FROM projects WHERE id = $1
            UNION ALL
            SELECT 'r', json_build_object('page', $4::int, 'payments', coalesce((
                SELECT json_agg(j ORDER BY id) FROM (SELECT pay.id, \(Self.paymentJSON) AS j FROM payments pay
                    WHERE pay.project_id = pj.id ORDER BY pay.id LIMIT 50 OFFSET ($4::int - 1) * 50) page), '[]'),
                'totals', (SELECT json_build_object('paid', coalesce(sum(amount), 0), 'refunded', coalesce(sum(refunded_amount), 0),
                    'platform_fees', coalesce(sum(platform_fee), 0), 'provider_fees', coalesce(sum(provider_fee), 0),
                    'net', coalesce(sum(net_amount), 0)) FROM payments WHERE project_id = pj.id AND status IN ('completed', 'refunded')))::text
            FROM projects pj WHERE pj.id = $1 AND ($2 IN (pj.client_id, pj.craftsman_id) OR $3::bool)
            """
        market(sql, [String(project), actor.id, actor.isBackend ? "true" : "false", String(page)], write: false,
               decide: { before in before == nil ? .notFound("no such project") : .forbidden("only the project's parties") },
               reply: reply)
    }
}
