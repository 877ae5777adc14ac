// Fee rounding is exact and documented: half up, per fee, in minor units.
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct FeeTests {
    @Test func roundsHalfUpPerFee() {
        // 1,000.00 RON by card: 50.00 platform, 29.00 provider.
        #expect(
            Fees.calculate(amount: 100_000, method: .card)
                == FeeBreakdown(amount: 100_000, platformFee: 5_000, providerFee: 2_900, net: 92_100))
        // 0.10 by card: 5 % = 0.5 → 1; 2.9 % = 0.29 → 0.
        #expect(Fees.calculate(amount: 10, method: .card) == FeeBreakdown(amount: 10, platformFee: 1, providerFee: 0, net: 9))
        // 0.50 by bank transfer: 0.5 % of 50 = 0.25 → 0; 5 % = 2.5 → 3.
        #expect(
            Fees.calculate(amount: 50, method: .bankTransfer) == FeeBreakdown(amount: 50, platformFee: 3, providerFee: 0, net: 47)
        )
        // Klarna 3.9 % of 12,345 = 481.455 → 481; 5 % = 617.25 → 617.
        #expect(
            Fees.calculate(amount: 12_345, method: .klarna)
                == FeeBreakdown(amount: 12_345, platformFee: 617, providerFee: 481, net: 11_247))
    }

    @Test func partsAlwaysAddUp() {
        var seed: UInt64 = 42
        for _ in 0..<10_000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let amount = Int64(seed >> 24) % Fees.maxAmount
            for method in PaymentMethod.allCases {
                let f = Fees.calculate(amount: amount, method: method)
                #expect(f.platformFee + f.providerFee + f.net == amount)
                #expect(f.platformFee >= 0 && f.providerFee >= 0 && f.net >= 0)
            }
        }
    }

    @Test func sandboxCapturesCardsAtOnceAndLeavesTransfersPending() {
        let sandbox = SandboxPaymentProvider()
        #expect(sandbox.charge(amount: 100, currency: "RON", method: .card, idempotencyKey: "payment-1").status == "completed")
        #expect(sandbox.charge(amount: 100, currency: "RON", method: .klarna, idempotencyKey: "payment-2").status == "completed")
        let transfer = sandbox.charge(amount: 100, currency: "RON", method: .bankTransfer, idempotencyKey: "payment-3")
        #expect(transfer.status == "pending")
        #expect(transfer.reference.hasPrefix("sbx_"))
        #expect(
            transfer.reference
                != sandbox.charge(amount: 100, currency: "RON", method: .bankTransfer, idempotencyKey: "payment-4").reference)
    }
}
