// The provider is charged only for a payment the store created under the
// rules, once, keyed by the payment's own id: never for a replay of the
// Idempotency-Key, never for a request refused with 409 or 422.
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct PaymentChargeTests {
    // Unchecked: the hub calls it on the test's thread only (ImmediateLoop).
    final class CountingProvider: PaymentProvider, @unchecked Sendable {
        var keys: [String] = []
        func charge(amount: Int64, currency: String, method: PaymentMethod, idempotencyKey: String) -> ProviderCharge {
            keys.append(idempotencyKey)
            return ProviderCharge(status: "completed", reference: "ref-\(keys.count)")
        }
    }

    func pay(_ f: HubFixture, id: HTTPRequestID) {
        f.hub.handleHTTP(
            HTTPRequest(
                method: "POST", path: "/v1/projects/7/payments", authorization: "Bearer " + f.token("client"),
                idempotencyKey: "key-1", body: Array(#"{"amount":1000,"method":"card"}"#.utf8)), id: id)
    }

    func fixture() -> (HubFixture, CountingProvider) {
        let f = HubFixture()
        let provider = CountingProvider()
        f.hub.feature(MarketFeature.self)?.paymentProvider = provider
        f.market.refusal = nil
        return (f, provider)
    }

    @Test func aNewPaymentIsChargedOnceWithItsOwnIdAfterItWasStored() {
        let (f, provider) = fixture()
        f.market.paymentStart = .created(id: 42, currency: "EUR")
        pay(f, id: 1)
        #expect(provider.keys == ["payment-42"])
        #expect(f.market.callNames == ["createPayment", "recordCharge"])
        #expect(f.market.recordedCharges.map(\.payment) == [42])
        #expect(f.market.recordedCharges.map(\.charge.reference) == ["ref-1"])
        #expect(f.transport.responses[1]?.status == 201)
    }

    @Test func aReplayOrARefusalNeverCharges() {
        let (f, provider) = fixture()
        f.market.paymentStart = .replay(f.market.payment)
        pay(f, id: 1)
        f.market.refusal = HubError(.conflict, "payments need a signed contract")
        pay(f, id: 2)
        f.market.refusal = HubError(.idempotencyMismatch, "this idempotency key was used with a different request")
        pay(f, id: 3)
        f.market.refusal = HubError(.forbidden, "only the project's client pays")
        pay(f, id: 4)
        #expect(provider.keys.isEmpty)
        #expect(f.market.callNames == ["createPayment", "createPayment", "createPayment", "createPayment"])
        #expect([1, 2, 3, 4].map { f.transport.responses[$0]?.status } == [201, 409, 422, 403])
    }
}
