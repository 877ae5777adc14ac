// Typed authentication errors with stable codes; messages never contain the
// token, keys, or signature bytes.

/// Why a token or API key was rejected.
public struct AuthError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Stable reason codes.
    public enum Code: String, Sendable, CaseIterable {
        case malformed = "malformed"
        case unsupportedAlgorithm = "unsupported_algorithm"
        case badSignature = "bad_signature"
        case expired = "expired"
        case notYetValid = "not_yet_valid"
        case wrongIssuer = "wrong_issuer"
        case wrongAudience = "wrong_audience"
        case missingSubject = "missing_subject"
        case reservedSubject = "reserved_subject"
        case missingExpiry = "missing_expiry"
        case claimOutOfRange = "claim_out_of_range"
        case badKey = "bad_key"
        case unknownAPIKey = "unknown_api_key"
    }

    /// The reason.
    public let code: Code
    /// A message safe to show to the caller.
    public var description: String {
        switch code {
        case .malformed: return "token is malformed"
        case .unsupportedAlgorithm: return "token algorithm is not accepted"
        case .badSignature:
            // Mostly a token signed with another secret than the hub's (a
            // development token minted for another --data-dir): say what to check.
            return "token signature does not verify: was it signed with another secret or key than this hub uses? "
                + "(development tokens: `switchboard token` with the same --data-dir as `serve`)"
        case .expired: return "token has expired"
        case .notYetValid: return "token is not yet valid"
        case .wrongIssuer: return "token issuer is not accepted"
        case .wrongAudience: return "token audience is not accepted"
        case .missingSubject: return "token has no subject"
        case .reservedSubject: return "token subject is reserved or has control characters"
        case .missingExpiry: return "token has no exp"
        case .claimOutOfRange: return "a token claim is out of range"
        case .badKey: return "key material could not be loaded"
        case .unknownAPIKey: return "API key is not recognised"
        }
    }

    /// An error with a code.
    public init(_ code: Code) { self.code = code }
}
