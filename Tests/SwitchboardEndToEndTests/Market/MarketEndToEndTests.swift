// Contracts and payments against PostgreSQL: the rules hold under concurrent
// calls (one signed contract, one release, refunds never past what was
// paid), idempotency keys replay, strangers are refused, and money
// reconciles after random operation sequences.
import Foundation
import Testing

struct Market {
    let hub: HubProcess
    let client = uniqueUser("client"), craftsman = uniqueUser("craftsman")

    func project() throws -> String {
        let r = try hub.backend(
            "POST", "/v1/projects",
            #"{"client":"\#(client)","craftsman":"\#(craftsman)","title":"Kitchen","estimated_budget":5000000}"#)
        guard r.status == 201, let id = r.json?["id"] as? String else { throw TestClientError.handshake("project: \(r.status)") }
        return id
    }

    /// A project with a contract signed by both parties.
    func signedProject() throws -> String {
        let p = try project()
        let c = try hub.user(client, "POST", "/v1/projects/\(p)/contracts", #"{"terms":{"scope":"kitchen","price":5000000}}"#)
        guard let contract = c.json?["id"] as? String else { throw TestClientError.handshake("contract: \(c.status)") }
        _ = try hub.user(client, "POST", "/v1/contracts/\(contract)/sign", "{}")
        _ = try hub.user(craftsman, "POST", "/v1/contracts/\(contract)/sign", "{}")
        return p
    }

    func pay(_ project: String, _ amount: Int, method: String = "card", key: String? = nil) throws -> HTTPResult {
        var headers = ["Authorization": "Bearer " + hub.token(client)]
        if let key { headers["Idempotency-Key"] = key }
        return try httpRequest(
            port: hub.port, "POST", "/v1/projects/\(project)/payments", headers: headers,
            body: #"{"amount":\#(amount),"method":"\#(method)"}"#)
    }
}

/// Runs `body` n times at once; returns the statuses.
func concurrently(_ n: Int, _ body: @escaping @Sendable (Int) -> Int) -> [Int] {
    let statuses = Locked<[Int]>([])
    DispatchQueue.concurrentPerform(iterations: n) { i in
        let s = body(i)
        statuses.withLock { $0.append(s) }
    }
    return statuses.withLock { $0 }
}

@Suite struct MarketEndToEndTests {
    @Test func contractIsSignedOnceUnderConcurrentSignatures() throws {
        let hub = try HubProcess()
        let m = Market(hub: hub)
        let p = try m.project()
        let ws = try hub.connect(m.craftsman)
        _ = try ws.receive(type: "welcome")
        #expect(
            try hub.user(
                m.client, "POST", "/v1/projects/\(p)/contracts",
                #"{"terms":{},"milestones":[{"title":"x","amount":1,"percentage":2}]}"#
            ).status == 400)
        let c = try hub.user(
            m.client, "POST", "/v1/projects/\(p)/contracts",
            #"{"terms":{"scope":"kitchen"},"milestones":[{"title":"Demolition","amount":500000,"due_on":"2026-12-01"},{"title":"Cabinets","percentage":40,"requires_client_approval":false}]}"#
        )
        #expect(c.status == 201)
        let contract = try #require(c.json?["id"] as? String)
        let withMilestones = try hub.user(m.craftsman, "GET", "/v1/projects/\(p)")
        let milestones = withMilestones.json?["milestones"] as? [[String: Any]] ?? []
        #expect(milestones.map { $0["title"] as? String } == ["Demolition", "Cabinets"])
        #expect(milestones.last?["requires_approval"] as? Bool == false)
        let number = c.json?["number"] as? String ?? ""
        #expect(number.range(of: #"^CTR-\d{6}-\d{6}$"#, options: .regularExpression) != nil)
        #expect(try ws.receive(type: "notification")["kind"] as? String == "contract_ready")
        // A second proposal while one is pending: use amend instead.
        #expect(try hub.user(m.craftsman, "POST", "/v1/projects/\(p)/contracts", #"{"terms":{}}"#).status == 409)

        let port = hub.port, tokens = [hub.token(m.client), hub.token(m.craftsman)]
        let statuses = concurrently(20) { i in
            (try? httpRequest(
                port: port, "POST", "/v1/contracts/\(contract)/sign",
                headers: ["Authorization": "Bearer " + tokens[i % 2]], body: "{}"))?.status ?? 0
        }
        #expect(statuses.filter { $0 == 200 }.count == 2)  // one signature per party
        #expect(statuses.filter { $0 == 409 }.count == 18)
        let rows = try TestDatabase.query(
            """
            SELECT count(*) FILTER (WHERE signed_at IS NOT NULL), (SELECT status FROM projects WHERE id = $2)
            FROM contracts WHERE id = $1
            """, [contract, p])
        #expect(rows.first?[0] == "1")
        #expect(rows.first?[1] == "contract_signed")
        #expect(try hub.user(uniqueUser("mallory"), "POST", "/v1/contracts/\(contract)/sign", "{}").status == 403)
        // The signed contract is amended: the amendment supersedes it and the
        // old one cannot be signed or amended again.
        let amended = try hub.user(
            m.craftsman, "POST", "/v1/contracts/\(contract)/amend", #"{"terms":{"scope":"kitchen+pantry"}}"#)
        #expect(amended.status == 201)
        #expect(amended.json?["parent"] as? String == contract)
        #expect(try hub.user(m.client, "GET", "/v1/contracts/\(contract)").json?["status"] as? String == "superseded")
        #expect(try hub.user(m.client, "POST", "/v1/contracts/\(contract)/amend", #"{"terms":{}}"#).status == 409)
        let oldSign = try hub.user(m.client, "POST", "/v1/contracts/\(contract)/sign")
        #expect(oldSign.status == 409)
        #expect(
            (oldSign.json?["error"] as? [String: Any])?["message"] as? String == "the contract was superseded by an amendment")
        // An expired contract cannot be signed.
        let newer = try #require(amended.json?["id"] as? String)
        _ = try TestDatabase.query("UPDATE contracts SET expires_at = now() - interval '1 second' WHERE id = $1", [newer])
        let late = try hub.user(m.client, "POST", "/v1/contracts/\(newer)/sign", "{}")
        #expect(late.status == 409)
        #expect((late.json?["error"] as? [String: Any])?["message"] as? String == "the contract expired unsigned")
    }

    @Test func paymentsAreIdempotentReleasedOnceAndNeverOverRefunded() throws {
        let hub = try HubProcess()
        let m = Market(hub: hub)
        let p = try m.signedProject()
        let ws = try hub.connect(m.craftsman)
        _ = try ws.receive(type: "welcome")

        #expect(
            try hub.user(m.craftsman, "POST", "/v1/projects/\(p)/payments", #"{"amount":1000,"method":"card"}"#).status == 403)
        let key = "pay-" + UUID().uuidString
        let paid = try m.pay(p, 100_000, key: key)
        #expect(paid.status == 201)
        #expect(paid.json?["platform_fee"] as? Int == 5_000)
        #expect(paid.json?["provider_fee"] as? Int == 2_900)
        #expect(paid.json?["net_amount"] as? Int == 92_100)
        let payment = try #require(paid.json?["id"] as? String)
        #expect(try ws.receive(type: "notification")["kind"] as? String == "payment_received")
        let replay = try m.pay(p, 100_000, key: key)
        #expect(replay.status == 201)
        #expect(replay.json?["id"] as? String == payment)
        #expect(try m.pay(p, 100_001, key: key).status == 422)
        #expect(try TestDatabase.query("SELECT count(*) FROM payments WHERE project_id = $1", [p]).first?[0] == "1")

        // 50 partial refunds of 3,000 (150,000 in all) race for 100,000.
        let port = hub.port, craftsmanToken = hub.token(m.craftsman)
        let refunds = concurrently(50) { _ in
            (try? httpRequest(
                port: port, "POST", "/v1/payments/\(payment)/refund", headers: ["Authorization": "Bearer " + craftsmanToken],
                body: #"{"amount":3000,"reason":"tile shortage"}"#))?.status ?? 0
        }
        #expect(refunds.filter { $0 == 200 }.count == 33)
        #expect(refunds.filter { $0 == 409 }.count == 17)
        let row = try TestDatabase.query(
            "SELECT refunded_amount, platform_fee, provider_fee, net_amount, amount FROM payments WHERE id = $1", [payment])
        #expect(row.first?[0] == "99000")
        #expect(try TestDatabase.query("SELECT sum(amount) FROM refunds WHERE payment_id = $1", [payment]).first?[0] == "99000")
        // Fees follow what remains captured (1,000): 50 + 29, net 921.
        #expect(row.first?[1] == "50" && row.first?[2] == "29" && row.first?[3] == "921")

        // 50 concurrent releases: exactly one.
        let clientToken = hub.token(m.client)
        let releases = concurrently(50) { _ in
            (try? httpRequest(
                port: port, "POST", "/v1/payments/\(payment)/release", headers: ["Authorization": "Bearer " + clientToken],
                body: "{}"))?.status ?? 0
        }
        #expect(releases.filter { $0 == 200 }.count == 1)
        #expect(releases.filter { $0 == 409 }.count == 49)
        #expect(try hub.user(m.craftsman, "POST", "/v1/payments/\(payment)/refund", #"{"reason":"late"}"#).status == 409)
        let list = try hub.user(m.client, "GET", "/v1/payments?project=\(p)")
        #expect((list.json?["payments"] as? [Any])?.count == 1)
        #expect(try hub.user(uniqueUser("mallory"), "GET", "/v1/payments?project=\(p)").status == 403)
        #expect(try hub.user(uniqueUser("mallory"), "GET", "/v1/projects/\(p)").status == 403)
        let audit = try TestDatabase.query(
            "SELECT count(*) FROM audit_log WHERE entity_type = 'payment' AND entity_id = $1", [payment])
        #expect(audit.first?[0] == "36")  // create + charge + 33 refunds + 1 release
    }

    @Test func moneyReconcilesAfterRandomOperations() throws {
        let hub = try HubProcess()
        var rng = SystemRandomNumberGenerator()
        var seed = UInt64.random(in: 1..<UInt64.max, using: &rng)
        print("money reconciliation seed \(seed)")
        func next(_ n: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return Int((seed >> 33) % UInt64(n))
        }
        var projects: [String] = []
        for _ in 0..<3 {
            let m = Market(hub: hub)
            let p = try m.signedProject()
            projects.append(p)
            var payments: [String] = []
            for _ in 0..<25 {
                switch next(4) {
                case 0, 1:
                    let r = try m.pay(p, 1 + next(2_000_000), method: ["card", "klarna", "bank_transfer"][next(3)])
                    if let id = r.json?["id"] as? String { payments.append(id) }
                case 2 where !payments.isEmpty:
                    _ = try hub.user(
                        m.craftsman, "POST", "/v1/payments/\(payments[next(payments.count)])/refund",
                        #"{"amount":\#(1 + next(900_000)),"reason":"r"}"#)
                case 3 where !payments.isEmpty:
                    _ = try hub.user(m.client, "POST", "/v1/payments/\(payments[next(payments.count)])/release", "{}")
                default:
                    break
                }
            }
        }
        for p in projects {
            let r = try TestDatabase.query(
                """
                SELECT sum(amount) - sum(refunded_amount) - sum(platform_fee) - sum(provider_fee) - sum(net_amount),
                       (SELECT coalesce(sum(f.amount), 0) FROM refunds f JOIN payments x ON x.id = f.payment_id WHERE x.project_id = $1)
                         - sum(refunded_amount),
                       count(*) FILTER (WHERE refunded_amount > amount)
                FROM payments WHERE project_id = $1
                """, [p])
            #expect(r.first?[0] == "0", "payments − refunds − fees ≠ net for project \(p)")
            #expect(r.first?[1] == "0", "refund rows ≠ refunded amounts for project \(p)")
            #expect(r.first?[2] == "0")
            let api = try hub.backend("GET", "/v1/payments?project=\(p)", "")
            let totals = api.json?["totals"] as? [String: Any] ?? [:]
            let paid = totals["paid"] as? Int ?? -1, refunded = totals["refunded"] as? Int ?? -1
            let fees = (totals["platform_fees"] as? Int ?? 0) + (totals["provider_fees"] as? Int ?? 0)
            #expect(paid - refunded - fees == totals["net"] as? Int)
        }
    }
}

@Suite struct MilestoneAndWebhookEndToEndTests {
    @Test func milestonesCompleteThenApproveByTheRightParty() throws {
        let hub = try HubProcess()
        let m = Market(hub: hub)
        let p = try m.signedProject()
        let created = try hub.user(
            m.client, "POST", "/v1/projects/\(p)/milestones", #"{"title":"Cabinets","amount":1500000,"due_on":"2026-12-15"}"#)
        #expect(created.status == 201)
        let ms = try #require(created.json?["id"] as? String)
        #expect(
            try hub.user(m.client, "POST", "/v1/projects/\(p)/milestones", #"{"title":"x","amount":1,"percentage":5}"#).status
                == 400)
        let c = try hub.connect(m.client)
        _ = try c.receive(type: "welcome")
        #expect(try hub.user(m.client, "POST", "/v1/projects/\(p)/milestones/\(ms)/approve").status == 409)  // not completed yet
        #expect(try hub.user(m.client, "POST", "/v1/projects/\(p)/milestones/\(ms)/complete").status == 403)
        #expect(try hub.user(m.craftsman, "POST", "/v1/projects/\(p)/milestones/\(ms)/complete").status == 200)
        #expect(try c.receive(type: "notification")["kind"] as? String == "milestone_completed")
        #expect(try hub.user(m.craftsman, "POST", "/v1/projects/\(p)/milestones/\(ms)/complete").status == 409)
        #expect(try hub.user(m.craftsman, "POST", "/v1/projects/\(p)/milestones/\(ms)/approve").status == 403)
        let approved = try hub.user(m.client, "POST", "/v1/projects/\(p)/milestones/\(ms)/approve")
        #expect(approved.status == 200)
        #expect(approved.json?["approved_at"] is Int)
        // A payment for the milestone; a milestone of another project is refused.
        let pay = try httpRequest(
            port: hub.port, "POST", "/v1/projects/\(p)/payments", headers: ["Authorization": "Bearer " + hub.token(m.client)],
            body: #"{"amount":1500000,"method":"bank_transfer","milestone_id":"\#(ms)"}"#)
        #expect(pay.status == 201)
        #expect(pay.json?["status"] as? String == "pending")
        #expect(pay.json?["type"] as? String == "milestone")
        let other = try Market(hub: hub).signedProject()
        let wrong = try httpRequest(
            port: hub.port, "POST", "/v1/projects/\(other)/payments",
            headers: ["Authorization": "Bearer " + hub.token(m.client)],
            body: #"{"amount":100,"method":"card","milestone_id":"\#(ms)"}"#)
        #expect(wrong.status == 403)  // not that project's client either

        // The bank transfer is confirmed by the sandbox provider's callback, once.
        let reference = try #require(pay.json?["provider_reference"] as? String)
        #expect(
            try hub.user(
                m.client, "POST", "/v1/payments/webhook/sandbox",
                #"{"provider_reference":"\#(reference)","event":"payment.succeeded"}"#
            ).status == 403)
        let hook = try hub.backend(
            "POST", "/v1/payments/webhook/sandbox", #"{"provider_reference":"\#(reference)","event":"payment.succeeded"}"#)
        #expect(hook.status == 200)
        #expect(hook.json?["status"] as? String == "completed")
        #expect(
            try hub.backend(
                "POST", "/v1/payments/webhook/sandbox", #"{"provider_reference":"\#(reference)","event":"payment.failed"}"#
            ).status == 409)
        let project = try hub.user(m.craftsman, "GET", "/v1/projects/\(p)")
        #expect(project.json?["status"] as? String == "in_progress")
        #expect(project.json?["payment_status"] as? String == "in_escrow")
        #expect((project.json?["milestones"] as? [Any])?.count == 1)
    }
}

@Suite struct MarketConversationEndToEndTests {
    @Test func changesPostSystemMessagesInTheProjectsConversation() throws {
        let hub = try HubProcess()
        let client = uniqueUser("client"), craftsman = uniqueUser("craftsman")
        let conversation = try hub.conversation(client, with: [craftsman], project: "kitchen")
        let p = try hub.backend(
            "POST", "/v1/projects",
            #"{"client":"\#(client)","craftsman":"\#(craftsman)","title":"Kitchen","conversation_id":"\#(conversation)"}"#)
        let project = try #require(p.json?["id"] as? String)
        let ws = try hub.connect(craftsman)
        _ = try ws.receive(type: "welcome")
        try ws.sendText(#"{"type":"subscribe","channel":"conversation:\#(conversation)"}"#)
        _ = try ws.receive(type: "subscribed")
        let c = try hub.user(client, "POST", "/v1/projects/\(project)/contracts", #"{"terms":{"scope":"kitchen"}}"#)
        #expect(c.status == 201)
        let message = try ws.receive(type: "message")
        #expect(message["kind"] as? String == "system")
        #expect(message["sender"] as? String == "system")
        #expect(
            (message["body"] as? [String: Any])?["text"] as? String
                == "Contract \(c.json?["number"] as? String ?? "?") was proposed")
        // A chat message afterwards continues the same gapless sequence.
        try ws.sendText(sendFrame(conversation, "after-system", "ok, reading it"))
        let ack = try ws.receive(type: "ack")
        #expect(ack["seq"] as? Int == (message["seq"] as? Int ?? 0) + 1)
        let rows = try TestDatabase.query("SELECT count(*), max(seq) FROM messages WHERE conversation_id = $1", [conversation])
        #expect(rows.first?[0] == rows.first?[1])
    }
}
