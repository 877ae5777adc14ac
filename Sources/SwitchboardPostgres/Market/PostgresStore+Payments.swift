// Payments into escrow, release and refunds: the rules live in the
// statements (client pays and releases; no release twice; refunds only of
// what is still in escrow, never past what was paid), each stated once as
// the locked row's refusal. Fees after a refund are recomputed in SQL by
// market_fee_share with the constants of Fees.swift bound as parameters.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore {
    static let createPaymentSQL = """
        WITH prior AS (
            SELECT status, response, fingerprint FROM idempotency_keys WHERE scope = $2 AND key = $12
        ), p0 AS (
            SELECT pj.*, CASE
                WHEN pj.client_id <> $2 THEN 'forbidden:only the project''s client pays'
                WHEN pj.status NOT IN ('contract_signed', 'in_progress')
                  OR ($5::bigint IS NOT NULL AND NOT EXISTS (SELECT 1 FROM milestones m WHERE m.id = $5::bigint AND m.project_id = pj.id))
                THEN 'conflict:payments need a signed contract (project is ' || pj.status || ') and a milestone of this project' END AS refusal
            FROM projects pj WHERE pj.id = $1 AND NOT EXISTS (SELECT 1 FROM prior) FOR UPDATE
        ), pay AS (
            INSERT INTO payments (project_id, milestone_id, type, amount, currency, status, method, escrow, platform_fee,
                                  provider_fee, net_amount, installment_number, installment_count, provider_reference, created_by)
            SELECT p0.id, $5::bigint, $6, $3::bigint, p0.currency, 'pending', $4, true, $9::bigint, $10::bigint, $11::bigint,
                   $7::int, $8::int, '', $2
            FROM p0 WHERE p0.refusal IS NULL RETURNING *
        ), k AS (
            -- The answer stored now is replaced by the charged one (recordCharge).
            INSERT INTO idempotency_keys (scope, key, fingerprint, status, response)
            SELECT $2, $12, $13, 201, market_payment_record(pay) FROM pay WHERE $12::text IS NOT NULL
        ), a AS (
            INSERT INTO audit_log (actor, action, entity_type, entity_id, ip, details)
            SELECT $2, 'payment.create', 'payment', pay.id::text, $14,
                   jsonb_build_object('amount', pay.amount, 'method', pay.method, 'status', pay.status) FROM pay
        )
        SELECT 'p' AS tag, json_build_object('response', response, 'same_request', fingerprint = $13)::text AS record FROM prior
        UNION ALL SELECT 'x' AS tag, market_refusal(refusal) AS record FROM p0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'c', json_build_object('id', pay.id, 'currency', pay.currency)::text FROM pay
        """

    /// Step one of a payment: under the rules (the project's client, a signed
    /// contract, a milestone of this project) and the idempotency key, the
    /// payment is stored `pending` with no provider reference yet. Nothing is
    /// charged before this committed; a replay or a refusal creates nothing.
    public func createPayment(
        project: Int64, _ payment: NewPayment, fees: FeeBreakdown, actor: Actor,
        idempotencyKey: String?, fingerprint: String, reply: Reply<PaymentStart>
    ) {
        let params: [SQLValue] = [
            .int64(project), .text(actor.id), .int64(payment.amount), .text(payment.method.rawValue),
            .int64(payment.milestone), .text(payment.type), .int(payment.installmentNumber),
            .int(payment.installmentCount), .int64(fees.platformFee), .int64(fees.providerFee),
            .int64(fees.net), .text(idempotencyKey), .text(fingerprint), .text(actor.ip),
        ]
        market(
            Self.createPaymentSQL, params, lane: .project(project), missing: HubError(.notFound, "no such project"),
            decode: { rows throws(HubError) -> PaymentStart? in
                if let prior = try rows.record("p") {
                    guard try prior.bool("same_request") else {
                        throw HubError(.idempotencyMismatch, "this idempotency key was used with a different request")
                    }
                    guard case .object(let fields)? = prior.fields["response"] else { throw HubError.storeFailed }
                    return .replay(try Payment(Record(fields: fields)))
                }
                guard let created = try rows.record("c") else { return nil }
                return .created(id: try created.int64("id"), currency: try created.text("currency"))
            }, reply: reply)
    }

    static let recordChargeSQL = """
        WITH p0 AS (
            SELECT pay.id, pj.craftsman_id, CASE WHEN pay.status <> 'pending' OR pay.provider_reference <> ''
                                                 THEN 'conflict:the payment''s charge was already recorded' END AS refusal
            FROM payments pay JOIN projects pj ON pj.id = pay.project_id WHERE pay.id = $1 FOR UPDATE OF pay
        ), pay AS (
            UPDATE payments SET status = $2, provider_reference = $3
            FROM p0 WHERE payments.id = p0.id AND p0.refusal IS NULL
            RETURNING payments.*
        ), k AS (
            UPDATE idempotency_keys SET response = market_payment_record(pay) FROM pay
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
            SELECT n.* FROM (SELECT pay.*, p0.craftsman_id FROM pay JOIN p0 ON p0.id = pay.id WHERE pay.status = 'completed' OFFSET 0) t,
                LATERAL market_notify(t.craftsman_id, 'payment_received', 'Payment received into escrow',
                                      market_money(t.amount, t.currency),
                                      jsonb_build_object('payment_id', t.id::text, 'project_id', t.project_id::text,
                                                         'amount', t.amount, 'currency', t.currency),
                                      'payment', t.id::text) n
        ), s AS (
            -- The project's system message, for the first changed row.
            SELECT m.* FROM (SELECT pay.project_id AS project, 'Payment of ' || market_money(pay.amount, pay.currency) || CASE pay.status WHEN 'completed' THEN ' is held in escrow' WHEN 'pending' THEN ' is pending' ELSE ' failed at the provider' END AS text FROM pay LIMIT 1) q,
                LATERAL market_system_message(q.project, q.text) m
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM p0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', market_payment_record(pay)::text FROM pay
        UNION ALL SELECT 'n', market_notification_record(n) FROM n
        UNION ALL SELECT 's', market_message_record(s)::text FROM s
        """

    /// Step two: the provider's answer for a payment of step one. Captured
    /// (`completed`) puts it into escrow and tells the craftsman; `pending`
    /// waits for the webhook; `failed` ends it. Only a payment still waiting
    /// for its charge is changed, so no answer is recorded twice.
    public func recordCharge(
        payment: Int64, charge: ProviderCharge, actor: Actor, idempotencyKey: String?,
        reply: Reply<MarketChange<Payment>>
    ) {
        let status = ["completed", "pending", "failed"].contains(charge.status) ? charge.status : "failed"
        // The provider has charged: the record must not be lost to an outage
        // or a full queue (kept until the database takes it).
        market(
            Self.recordChargeSQL,
            [.int64(payment), .text(status), .text(charge.reference), .text(actor.id), .text(idempotencyKey), .text(actor.ip)],
            lane: .payment(payment), survivesOutage: true,
            missing: HubError(.notFound, "no such payment"),
            decode: { rows throws(HubError) in try rows.change(Payment.init) }, reply: reply)
    }

    static let releaseSQL = """
        WITH p0 AS (
            SELECT pay.id, pj.client_id, pj.craftsman_id, CASE
                WHEN pj.client_id <> $2 THEN CASE WHEN pj.craftsman_id = $2 OR $4::bool THEN 'forbidden:only the client releases a payment'
                                                  ELSE 'forbidden:only the project''s parties' END
                WHEN pay.released_at IS NOT NULL THEN 'conflict:the payment was already released'
                WHEN pay.refunded_amount >= pay.amount THEN 'conflict:the payment was refunded'
                WHEN pay.status <> 'completed' OR NOT pay.escrow THEN 'conflict:the payment is ' || pay.status || ', not completed'
                END AS refusal
            FROM payments pay JOIN projects pj ON pj.id = pay.project_id WHERE pay.id = $1 FOR UPDATE OF pay
        ), pay AS (
            UPDATE payments SET released_at = now() FROM p0 WHERE payments.id = p0.id AND p0.refusal IS NULL
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
            SELECT n.* FROM (SELECT pay.*, p0.craftsman_id FROM pay JOIN p0 ON p0.id = pay.id OFFSET 0) t,
                LATERAL market_notify(t.craftsman_id, 'payment_released', 'Payment released',
                                      'Net ' || market_money(t.net_amount, t.currency),
                                      jsonb_build_object('payment_id', t.id::text, 'project_id', t.project_id::text,
                                                         'net_amount', t.net_amount),
                                      'payment', t.id::text) n
        ), s AS (
            -- The project's system message, for the first changed row.
            SELECT m.* FROM (SELECT pay.project_id AS project, 'Payment of ' || market_money(pay.amount, pay.currency) || ' was released' AS text FROM pay LIMIT 1) q,
                LATERAL market_system_message(q.project, q.text) m
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM p0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', market_payment_record(pay)::text FROM pay
        UNION ALL SELECT 'n', market_notification_record(n) FROM n
        UNION ALL SELECT 's', market_message_record(s)::text FROM s
        """

    public func release(payment: Int64, actor: Actor, reply: Reply<MarketChange<Payment>>) {
        market(
            Self.releaseSQL, [.int64(payment), .text(actor.id), .text(actor.ip), .bool(actor.isBackend)],
            lane: .payment(payment), missing: HubError(.notFound, "no such payment"),
            decode: { rows throws(HubError) in try rows.change(Payment.init) }, reply: reply)
    }

    static let refundSQL = """
        WITH p0 AS (
            SELECT pay.id, pj.client_id, pj.craftsman_id, coalesce($2::bigint, pay.amount - pay.refunded_amount) AS amount, CASE
                WHEN NOT (pj.craftsman_id = $4 OR $6::bool) THEN CASE WHEN pj.client_id = $4
                    THEN 'forbidden:refunds are made by the craftsman or the platform' ELSE 'forbidden:only the project''s parties' END
                WHEN pay.released_at IS NOT NULL THEN 'conflict:the payment was released; it is no longer in escrow'
                WHEN pay.status <> 'completed' THEN 'conflict:the payment is ' || pay.status
                -- Never past what was paid (the table's CHECK says so too).
                WHEN coalesce($2::bigint, pay.amount - pay.refunded_amount) <= 0
                  OR pay.refunded_amount + coalesce($2::bigint, pay.amount - pay.refunded_amount) > pay.amount
                THEN 'conflict:at most ' || (pay.amount - pay.refunded_amount) || ' can still be refunded' END AS refusal
            FROM payments pay JOIN projects pj ON pj.id = pay.project_id WHERE pay.id = $1 FOR UPDATE OF pay
        ), r AS (
            SELECT p0.id, p0.amount FROM p0 WHERE p0.refusal IS NULL
        ), pay AS (
            -- Read from the row being updated (the newest version under the lock).
            UPDATE payments SET refunded_amount = payments.refunded_amount + r.amount,
                platform_fee = market_fee_share(payments.amount - payments.refunded_amount - r.amount, $7::bigint, $9::bigint),
                provider_fee = market_fee_share(payments.amount - payments.refunded_amount - r.amount,
                                                ($8::jsonb ->> payments.method)::bigint, $9::bigint),
                net_amount = payments.amount - payments.refunded_amount - r.amount
                             - market_fee_share(payments.amount - payments.refunded_amount - r.amount, $7::bigint, $9::bigint)
                             - market_fee_share(payments.amount - payments.refunded_amount - r.amount,
                                                ($8::jsonb ->> payments.method)::bigint, $9::bigint),
                status = CASE WHEN payments.amount - payments.refunded_amount - r.amount = 0 THEN 'refunded' ELSE payments.status END
            FROM r WHERE payments.id = r.id
            -- `payment`: the whole new row, for its record.
            RETURNING payments.*, r.amount AS refunded_now, payments AS payment
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
            SELECT n.* FROM (SELECT pay.*, p0.client_id FROM pay JOIN p0 ON p0.id = pay.id OFFSET 0) t,
                LATERAL market_notify(t.client_id, 'payment_refunded', 'Payment refunded',
                                      market_money(t.refunded_now, t.currency) || ' back to you',
                                      jsonb_build_object('payment_id', t.id::text, 'project_id', t.project_id::text,
                                                         'amount', t.refunded_now, 'reason', $3::text),
                                      'payment', t.id::text) n
        ), s AS (
            -- The project's system message, for the first changed row.
            SELECT m.* FROM (SELECT pay.project_id AS project, 'Refund of ' || market_money(pay.refunded_now, pay.currency) AS text FROM pay LIMIT 1) q,
                LATERAL market_system_message(q.project, q.text) m
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM p0 WHERE refusal IS NOT NULL
        UNION ALL SELECT 'r', (market_payment_record(pay.payment) || jsonb_build_object('refunded_now', pay.refunded_now))::text FROM pay
        UNION ALL SELECT 'n', market_notification_record(n) FROM n
        UNION ALL SELECT 's', market_message_record(s)::text FROM s
        """

    public func refund(payment: Int64, amount: Int64?, reason: String, actor: Actor, reply: Reply<MarketChange<Refund>>) {
        // $7 platform basis points, $8 provider basis points by method, $9
        // basis points per whole: Fees.swift's constants, bound.
        let providerBasisPoints = JSON.object(
            Dictionary(uniqueKeysWithValues: PaymentMethod.allCases.map { ($0.rawValue, JSON.int($0.providerBasisPoints)) }))
        market(
            Self.refundSQL,
            [
                .int64(payment), .int64(amount), .text(reason), .text(actor.id), .text(actor.ip), .bool(actor.isBackend),
                .int64(Fees.platformBasisPoints), .json(providerBasisPoints.bytes), .int64(Fees.basisPointsPerWhole),
            ], lane: .payment(payment),
            missing: HubError(.notFound, "no such payment"),
            decode: { rows throws(HubError) in
                try rows.change { r throws(HubError) in Refund(payment: try Payment(r), refundedNow: try r.int64("refunded_now"))
                }
            }, reply: reply)
    }

    static let paymentsSQL = """
        WITH p0 AS (
            SELECT pj.id, CASE WHEN NOT ($2 IN (pj.client_id, pj.craftsman_id) OR $3::bool)
                               THEN 'forbidden:only the project''s parties' END AS refusal
            FROM projects pj WHERE pj.id = $1
        ), pj AS (
            SELECT * FROM p0 WHERE refusal IS NULL
        )
        SELECT 'x' AS tag, market_refusal(refusal) AS record FROM p0 WHERE refusal IS NOT NULL
        UNION ALL
        SELECT 'r', jsonb_build_object('paid', coalesce(sum(pay.amount), 0), 'refunded', coalesce(sum(pay.refunded_amount), 0),
                                       'platform_fees', coalesce(sum(pay.platform_fee), 0),
                                       'provider_fees', coalesce(sum(pay.provider_fee), 0),
                                       'net', coalesce(sum(pay.net_amount), 0))::text
        FROM pj LEFT JOIN payments pay ON pay.project_id = pj.id AND pay.status IN ('completed', 'refunded') GROUP BY pj.id
        UNION ALL
        SELECT 'y', market_payment_record(pay)::text FROM (
            SELECT pay.* FROM pj JOIN payments pay ON pay.project_id = pj.id ORDER BY pay.id LIMIT 50 OFFSET ($4::int - 1) * 50) pay
        """

    public func payments(project: Int64, page: Int, actor: Actor, reply: Reply<PaymentPage>) {
        market(
            Self.paymentsSQL, [.int64(project), .text(actor.id), .bool(actor.isBackend), .int(page)], write: false,
            missing: HubError(.notFound, "no such project"),
            decode: { rows throws(HubError) in
                guard let totals = try rows.record("r") else { return nil }
                return PaymentPage(
                    page: page, payments: try rows.records("y").map(Payment.init).sorted { $0.id < $1.id },
                    paid: try totals.int64("paid"), refunded: try totals.int64("refunded"),
                    platformFees: try totals.int64("platform_fees"), providerFees: try totals.int64("provider_fees"),
                    net: try totals.int64("net"))
            }, reply: reply)
    }
}
