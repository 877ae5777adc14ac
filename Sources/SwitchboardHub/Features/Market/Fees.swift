// Payment fees in integer minor units: exact, documented rounding.
//
// platform fee = 5 % of the captured amount, provider fee = 2.9 % (card),
// 0.5 % (bank transfer) or 3.9 % (Klarna) of it; each rounded half up to
// the minor unit (amount × basis points / 10,000, half up), separately; net
// = captured − platform fee − provider fee. "Captured" is what was paid
// minus what was refunded, so after a refund the fees are recomputed on
// what remains and `amount − refunded − fees = net` holds exactly.

/// How a client pays.
public enum PaymentMethod: String, Sendable, CaseIterable {
    case card
    case bankTransfer = "bank_transfer"
    case klarna

    /// The provider's fee in basis points (1/100 of a percent).
    public var providerBasisPoints: Int64 {
        switch self {
        case .card: return 290
        case .bankTransfer: return 50
        case .klarna: return 390
        }
    }
}

/// The split of an amount.
public struct FeeBreakdown: Equatable, Sendable {
    /// What the fees are computed on.
    public var amount: Int64
    public var platformFee: Int64
    public var providerFee: Int64
    /// What the craftsman receives.
    public var net: Int64
}

/// Fee arithmetic.
public enum Fees {
    /// The platform's fee in basis points.
    public static let platformBasisPoints: Int64 = 500

    /// Basis points in a whole (100 %).
    public static let basisPointsPerWhole: Int64 = 10_000

    /// `amount × bp / 10,000`, rounded half up (amount ≥ 0). The store's SQL
    /// for refunds is generated from this same rule and these constants.
    public static func share(_ amount: Int64, basisPoints: Int64) -> Int64 {
        let (product, overflow) = amount.multipliedReportingOverflow(by: basisPoints)
        precondition(!overflow && amount >= 0, "amounts are bounded by the API")
        return (product + basisPointsPerWhole / 2) / basisPointsPerWhole
    }

    /// The split of `amount` paid with `method`.
    public static func calculate(amount: Int64, method: PaymentMethod) -> FeeBreakdown {
        let platform = share(amount, basisPoints: platformBasisPoints)
        let provider = share(amount, basisPoints: method.providerBasisPoints)
        return FeeBreakdown(amount: amount, platformFee: platform, providerFee: provider, net: amount - platform - provider)
    }

    /// Largest amount accepted (10^12 minor units): products stay far from overflow.
    public static let maxAmount: Int64 = 1_000_000_000_000
}
