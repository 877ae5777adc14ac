// The payment provider behind escrowed payments: a small interface, with a
// built-in sandbox (no network) so a real provider can be added later.

/// What the provider said about a new charge.
public struct ProviderCharge: Sendable, Equatable {
    /// `completed` (captured into escrow), `pending` (confirmed later by
    /// the provider's webhook) or `failed`.
    public var status: String
    /// The provider's reference, quoted by its webhook.
    public var reference: String

    /// A charge.
    public init(status: String, reference: String) {
        self.status = status
        self.reference = reference
    }
}

/// A payment provider.
public protocol PaymentProvider: Sendable {
    /// Starts a charge. Must not block the loop (a network provider would
    /// answer `pending` and confirm through its webhook). Called once per
    /// payment, after the payment was stored under the rules;
    /// `idempotencyKey` is derived from the payment's own id, so a provider
    /// that deduplicates on it never charges one payment twice.
    func charge(amount: Int64, currency: String, method: PaymentMethod, idempotencyKey: String) -> ProviderCharge
}

/// The built-in sandbox: cards and Klarna are captured at once; bank
/// transfers stay pending until `POST /v1/payments/webhook/sandbox`.
public struct SandboxPaymentProvider: PaymentProvider {
    /// A sandbox.
    public init() {}

    public func charge(amount: Int64, currency: String, method: PaymentMethod, idempotencyKey: String) -> ProviderCharge {
        ProviderCharge(
            status: method == .bankTransfer ? "pending" : "completed",
            reference: "sbx_" + String(UInt64.random(in: 0..<UInt64.max), radix: 36))
    }
}
