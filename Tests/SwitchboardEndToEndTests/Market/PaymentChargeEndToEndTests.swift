// Payments against PostgreSQL: the payment is stored (pending) under the
// rules before the provider is charged; a refused request leaves nothing; a
// replay returns the final, charged answer; refund fees follow Fees.swift.
import Foundation
import SwitchboardHub
import Testing

@Suite struct PaymentChargeEndToEndTests {
    @Test func storedUnderTheRulesThenChargedOnce() throws {
        let hub = try HubProcess()
        let m = Market(hub: hub)
        let unsigned = try m.project()
        #expect(try m.pay(unsigned, 1_000, key: "k-" + UUID().uuidString).status == 409)
        #expect(try TestDatabase.query("SELECT count(*) FROM payments WHERE project_id = $1", [unsigned]).first?[0] == "0")

        let p = try m.signedProject()
        let key = "k-" + UUID().uuidString
        let paid = try m.pay(p, 10_000, key: key)
        #expect(paid.status == 201)
        #expect(paid.json?["status"] as? String == "completed")
        let payment = try #require(paid.json?["id"] as? String)
        let reference = try #require(paid.json?["provider_reference"] as? String)
        #expect(reference.hasPrefix("sbx_"))
        // The replay answers the charged payment, not the pending one.
        let replay = try m.pay(p, 10_000, key: key)
        #expect(replay.status == 201)
        #expect(replay.json?["status"] as? String == "completed")
        #expect(replay.json?["provider_reference"] as? String == reference)
        let audit = try TestDatabase.query(
            "SELECT action FROM audit_log WHERE entity_type = 'payment' AND entity_id = $1 ORDER BY id", [payment])
        #expect(audit.map { $0[0] } == ["payment.create", "payment.charge"])
        #expect(try hub.user(m.client, "GET", "/v1/projects/\(p)").json?["payment_status"] as? String == "in_escrow")
    }

    /// Answers stored before migration 8 are the REST body itself (ids as
    /// strings); their replays still answer exactly what was answered then.
    @Test func anAnswerStoredInTheOldShapeReplaysUnchanged() throws {
        let hub = try HubProcess()
        let m = Market(hub: hub)
        let p = try m.signedProject()
        let key = "old-" + UUID().uuidString
        let paid = try m.pay(p, 20_000, key: key)
        #expect(paid.status == 201)
        _ = try TestDatabase.query(
            """
            UPDATE idempotency_keys SET response = response || jsonb_build_object('id', response->>'id', 'project', response->>'project')
            WHERE key = $1
            """, [key])
        #expect(
            try TestDatabase.query("SELECT jsonb_typeof(response->'id') FROM idempotency_keys WHERE key = $1", [key]).first?[0]
                == "string")
        let replay = try m.pay(p, 20_000, key: key)
        #expect(replay.status == 201)
        #expect(replay.json as NSDictionary? == paid.json as NSDictionary?)
    }

    @Test func refundFeesFollowFeesSwift() throws {
        let hub = try HubProcess()
        let m = Market(hub: hub)
        let p = try m.signedProject()
        for method in PaymentMethod.allCases where method != .bankTransfer {
            let paid = try m.pay(p, 123_457, method: method.rawValue)
            let payment = try #require(paid.json?["id"] as? String)
            #expect(
                try hub.user(m.craftsman, "POST", "/v1/payments/\(payment)/refund", #"{"amount":33333,"reason":"part"}"#).status
                    == 200)
            let row = try TestDatabase.query(
                "SELECT platform_fee, provider_fee, net_amount FROM payments WHERE id = $1", [payment]
            ).first
            let fees = Fees.calculate(amount: 123_457 - 33_333, method: method)
            #expect(row == [String(fees.platformFee), String(fees.providerFee), String(fees.net)], "\(method)")
        }
    }
}
