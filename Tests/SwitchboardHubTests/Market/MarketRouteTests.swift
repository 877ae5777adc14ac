// The Market REST routes in process, over the scripted FakeMarketStore:
// what each route validates before the store, which callers it admits, the
// status it chooses (201 for what it creates, 200 otherwise) and the JSON it
// renders; the store's refusals come out as the uniform error.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct MarketRouteTests {
    struct Call {
        let f = HubFixture()
        var nextID = 0

        init() { f.market.refusal = nil }

        /// Sends a request as `user` (a backend when nil) and returns the answer.
        mutating func http(
            _ method: String, _ path: String, _ body: String? = nil, as user: String? = "alice",
            key: String? = nil, query: [String: String] = [:]
        ) -> (status: Int, json: JSON) {
            nextID += 1
            var request = HTTPRequest(method: method, path: path, query: query, body: Array((body ?? "").utf8))
            if let user { request.authorization = "Bearer " + f.token(user) } else { request.apiKey = HubFixture.apiKey }
            request.idempotencyKey = key
            f.hub.handleHTTP(request, id: HTTPRequestID(nextID))
            let response = f.transport.responses[HTTPRequestID(nextID)]
            return (response?.status ?? 0, response.flatMap { try? JSON.parse($0.body) } ?? .null)
        }
    }

    static func error(_ json: JSON) -> String? { json["error"]?["code"]?.stringValue }
    static func message(_ json: JSON) -> String? { json["error"]?["message"]?.stringValue }

    @Test func projectsAreOpenedByTheirClientOrABackendAndRenderedWithNulls() {
        var c = Call()
        let created = c.http("POST", "/v1/projects", #"{"client":"alice","craftsman":"bob","title":"Kitchen"}"#)
        #expect(created.status == 201)
        #expect(
            created.json
                == .object([
                    "id": .string("7"), "client": .string("alice"), "craftsman": .string("bob"),
                    "title": .string("Kitchen"), "status": .string("inquiry"), "estimated_budget": .null,
                    "currency": .string("RON"), "payment_status": .string("unpaid"), "conversation": .null,
                    "created_at": .int(1_000),
                ]))
        #expect(c.f.market.calls.last?.actor == Actor(id: "alice", isBackend: false, ip: nil))
        let byBackend = c.http("POST", "/v1/projects", #"{"client":"alice","craftsman":"bob","title":"Kitchen"}"#, as: nil)
        #expect(byBackend.status == 201)
        #expect(c.f.market.calls.last?.actor == Actor(id: "backend:matcher", isBackend: true, ip: nil))

        let notClient = c.http("POST", "/v1/projects", #"{"client":"alice","craftsman":"bob","title":"Kitchen"}"#, as: "bob")
        #expect(notClient.status == 403)
        #expect(Self.message(notClient.json) == "a project is opened by its client or a backend")
        #expect(c.http("POST", "/v1/projects", #"{"client":"alice","craftsman":"alice","title":"K"}"#).status == 400)
        #expect(
            c.http("POST", "/v1/projects", #"{"client":"alice","craftsman":"bob","title":"K","currency":"ron"}"#).status == 400)
        #expect(
            c.http("POST", "/v1/projects", #"{"client":"alice","craftsman":"bob","title":"K","estimated_budget":-1}"#).status
                == 400)
        let notJSON = c.http("POST", "/v1/projects", "[1]")
        #expect(notJSON.status == 400 && Self.error(notJSON.json) == "bad_json")
        #expect(c.f.market.callNames == ["createProject", "createProject"])
    }

    @Test func aProjectsDetailNestsContractsAndMilestonesWithoutTheirProject() {
        var c = Call()
        let detail = c.http("GET", "/v1/projects/7")
        #expect(detail.status == 200)
        guard case .array(let milestones)? = detail.json["milestones"], case .array(let contracts)? = detail.json["contracts"]
        else {
            Issue.record("no lists in \(detail.json)"); return
        }
        #expect(milestones.first?["project"] == nil)
        #expect(milestones.first?["amount"] == .int(1_000) && milestones.first?["percentage"] == .null)
        #expect(contracts.first?["terms"] == .object(["scope": .string("kitchen")]))
        #expect(contracts.first?["project"] == .string("7") && contracts.first?["parent"] == .null)
        #expect(c.http("GET", "/v1/projects/0").status == 404)
        #expect(c.http("GET", "/v1/projects/webhook").status == 404)
        #expect(c.http("GET", "/v1/projects/7", as: nil).status == 200)
        c.f.market.refusal = HubError(.forbidden, "only the project's parties")
        let stranger = c.http("GET", "/v1/projects/7", as: "mallory")
        #expect(stranger.status == 403 && Self.message(stranger.json) == "only the project's parties")
    }

    @Test func contractsValidateTermsAndMilestonesBeforeTheStore() {
        var c = Call()
        #expect(c.http("POST", "/v1/projects/7/contracts", #"{"terms":"x"}"#).status == 400)
        let bad = c.http(
            "POST", "/v1/projects/7/contracts",
            #"{"terms":{},"milestones":[{"title":"a","amount":1},{"title":"b","amount":1,"percentage":2}]}"#)
        #expect(bad.status == 400)
        #expect(Self.message(bad.json) == "milestones[1]: give exactly one of 'amount' (minor units) or 'percentage'")
        #expect(c.f.market.callNames.isEmpty)
        let ok = c.http(
            "POST", "/v1/projects/7/contracts",
            #"{"terms":{},"milestones":[{"title":"a","amount":5,"due_on":"2026-12-01"},{"title":"b","percentage":12.5,"requires_client_approval":false}]}"#
        )
        #expect(ok.status == 201 && ok.json["number"] == .string("CTR-202601-000001") && ok.json["signed_at"] == .null)
        #expect(
            c.f.market.proposedMilestones == [
                [
                    MilestoneInput(title: "a", dueOn: "2026-12-01", amount: 5, percentage: nil, requiresApproval: true),
                    MilestoneInput(title: "b", dueOn: nil, amount: nil, percentage: 12.5, requiresApproval: false),
                ]
            ])
        #expect(c.http("GET", "/v1/contracts/3").status == 200)
        #expect(c.http("POST", "/v1/contracts/3/sign").status == 200)
        #expect(c.http("POST", "/v1/contracts/3/amend", #"{"terms":{"v":2}}"#).status == 201)
        #expect(c.http("POST", "/v1/contracts/3/amend", #"{}"#).status == 400)
        #expect(c.http("GET", "/v1/contracts/3/sign").status == 405)
        c.f.market.refusal = HubError(.conflict, "the contract is already signed")
        let again = c.http("POST", "/v1/contracts/3/sign")
        #expect(
            again.status == 409 && Self.error(again.json) == "conflict"
                && Self.message(again.json) == "the contract is already signed")
    }

    @Test func milestonesAreAddedCompletedAndApproved() {
        var c = Call()
        let added = c.http("POST", "/v1/projects/7/milestones", #"{"title":"Tiles","amount":1000}"#)
        #expect(added.status == 201 && added.json["project"] == .string("7") && added.json["id"] == .string("5"))
        #expect(c.http("POST", "/v1/projects/7/milestones", #"{"title":"Tiles","percentage":100.001}"#).status == 400)
        #expect(c.http("POST", "/v1/projects/7/milestones", #"{"title":"Tiles","amount":1,"due_on":"2026-13-01"}"#).status == 400)
        #expect(c.http("POST", "/v1/projects/7/milestones/5/complete").status == 200)
        #expect(c.http("POST", "/v1/projects/7/milestones/5/approve").status == 200)
        #expect(c.http("POST", "/v1/projects/7/milestones/x/approve").status == 404)
        #expect(c.f.market.callNames == ["createMilestone", "completeMilestone", "approveMilestone"])
    }

    @Test func aPaymentIsValidatedStoredChargedAndRenderedOnce() {
        var c = Call()
        #expect(c.http("POST", "/v1/projects/7/payments", #"{"amount":0,"method":"card"}"#).status == 400)
        #expect(c.http("POST", "/v1/projects/7/payments", #"{"amount":10,"method":"cash"}"#).status == 400)
        #expect(c.http("POST", "/v1/projects/7/payments", #"{"amount":10,"method":"card","type":"installment"}"#).status == 400)
        #expect(
            c.http("POST", "/v1/projects/7/payments", #"{"amount":10,"method":"card"}"#, key: String(repeating: "k", count: 129))
                .status == 400)
        #expect(c.f.market.callNames.isEmpty)

        let paid = c.http("POST", "/v1/projects/7/payments", #"{"amount":100000,"method":"card"}"#, key: "k1")
        #expect(paid.status == 201)
        #expect(paid.json["id"] == .string("9") && paid.json["milestone"] == .null && paid.json["net_amount"] == .int(92_100))
        #expect(c.f.market.callNames == ["createPayment", "recordCharge"])
        #expect(
            c.f.market.newPayments.first?.payment
                == NewPayment(
                    amount: 100_000, method: .card, milestone: nil, type: "deposit",
                    installmentNumber: nil, installmentCount: nil))
        #expect(c.f.market.newPayments.first?.idempotencyKey == "k1")

        // A replay answers the stored payment as created (201), charging nothing.
        var stored = c.f.market.payment
        stored.id = 42
        c.f.market.paymentStart = .replay(stored)
        let replay = c.http("POST", "/v1/projects/7/payments", #"{"amount":100000,"method":"card"}"#, key: "k1")
        #expect(replay.status == 201 && replay.json["id"] == .string("42"))
        #expect(c.f.market.recordedCharges.count == 1)
        // The same key with another body: the store's mismatch, as 422.
        c.f.market.refusal = HubError(.idempotencyMismatch, "this idempotency key was used with a different request")
        let mismatch = c.http("POST", "/v1/projects/7/payments", #"{"amount":100001,"method":"card"}"#, key: "k1")
        #expect(mismatch.status == 422 && Self.error(mismatch.json) == "idempotency_mismatch")
        #expect(c.f.market.recordedCharges.count == 1)
        // The payment's record refused after the charge: the refusal, not a success.
        c.f.market.refusal = nil
        c.f.market.paymentStart = .created(id: 10, currency: "RON")
        c.f.market.chargeRefusal = HubError.unavailable
        #expect(c.http("POST", "/v1/projects/7/payments", #"{"amount":5,"method":"klarna"}"#).status == 503)
    }

    @Test func releaseRefundAndListing() {
        var c = Call()
        #expect(c.http("POST", "/v1/payments/9/release").status == 200)
        #expect(c.http("POST", "/v1/payments/9/refund", #"{"amount":100}"#).status == 400)
        #expect(c.http("POST", "/v1/payments/9/refund", #"{"amount":-5,"reason":"x"}"#).status == 400)
        let refund = c.http("POST", "/v1/payments/9/refund", #"{"amount":300,"reason":"tiles"}"#, as: "bob")
        #expect(refund.status == 200 && refund.json["refunded_now"] == .int(300) && refund.json["id"] == .string("9"))
        #expect(c.f.market.refunds.map(\.reason) == ["tiles"])

        #expect(c.http("GET", "/v1/payments", query: ["project": "x"]).status == 400)
        #expect(c.http("GET", "/v1/payments", query: ["project": "7", "page": "0"]).status == 400)
        let list = c.http("GET", "/v1/payments", query: ["project": "7", "page": "2"])
        #expect(list.status == 200 && list.json["page"] == .int(2))
        #expect(
            list.json["totals"]
                == .object([
                    "paid": .int(100_000), "refunded": .int(0), "platform_fees": .int(5_000),
                    "provider_fees": .int(2_900), "net": .int(92_100),
                ]))
        let fee = c.http("POST", "/v1/payments/calculate-fee", #"{"amount":12345,"method":"klarna"}"#)
        #expect(fee.status == 200 && fee.json["net_amount"] == .int(11_247))
    }

    @Test func providerEventsComeOnlyWithTheProvidersKey() {
        var c = Call()
        let event = #"{"provider_reference":"sbx_1","event":"payment.succeeded"}"#
        #expect(c.http("POST", "/v1/payments/webhook/sandbox", event).status == 403)
        #expect(
            c.http("POST", "/v1/payments/webhook/sandbox", #"{"provider_reference":"sbx_1","event":"x"}"#, as: nil).status == 400)
        let ok = c.http("POST", "/v1/payments/webhook/sandbox", event, as: nil)
        #expect(ok.status == 200 && ok.json["status"] == .string("completed"))
        #expect(c.f.market.callNames == ["providerEvent"])
    }

    @Test func withoutCredentialsOrDatabaseNothingReachesTheStore() {
        var c = Call()
        c.nextID += 1
        c.f.hub.handleHTTP(HTTPRequest(method: "GET", path: "/v1/projects/7"), id: HTTPRequestID(c.nextID))
        #expect(c.f.transport.responses[HTTPRequestID(c.nextID)]?.status == 401)
        c.f.store.isAvailable = false
        let down = c.http("GET", "/v1/projects/7")
        #expect(down.status == 503 && Self.error(down.json) == "unavailable")
        #expect(c.f.market.callNames.isEmpty)
    }

    @Test func whatAChangeCommittedIsPublishedToItsRecipientsOnly() {
        var c = Call()
        c.f.hub.connectionOpened(1, token: c.f.token("bob"))
        c.f.hub.connectionOpened(2, token: c.f.token("mallory"))
        c.f.market.notifications = [
            StoredNotification(
                id: 31, user: "bob", kind: "contract_signed", title: "Contract signed",
                body: "The other party signed.", data: Array("{}".utf8), entityType: "contract",
                entityID: "3", createdAtMillis: 1_000, readAtMillis: nil)
        ]
        c.f.market.systemMessages = [
            MarketSystemMessage(
                message: StoredMessage(
                    conversation: 12, id: 40, seq: 4, sender: "system", clientMessageID: "system-12-4", kind: "system",
                    body: Array(#"{"text":"Contract signed"}"#.utf8), createdAtMillis: 1_000),
                members: ["alice", "bob"])
        ]
        #expect(c.http("POST", "/v1/contracts/3/sign").status == 200)
        let bob = c.f.transport.frames(to: 1)
        #expect(bob.contains { $0["type"] == .string("notification") && $0["notification_id"] == .string("31") })
        #expect(bob.contains { $0["conversation"] == .string("12") && $0["kind"] == .string("system") })
        #expect(c.f.transport.frames(to: 2).allSatisfy { $0["type"] == .string("welcome") })
        // A refused change publishes nothing.
        c.f.market.refusal = HubError(.conflict, "the contract is already signed")
        let before = c.f.transport.frames(to: 1).count
        #expect(c.http("POST", "/v1/contracts/3/sign").status == 409)
        #expect(c.f.transport.frames(to: 1).count == before)
    }
}
