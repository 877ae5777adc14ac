// JSON Web Tokens (RFC 7519) signed with HS256, RS256 or ES256. The accepted
// algorithms are exactly those whose key is configured: `alg: none` is never
// accepted, and an HS256 token is never checked against a public key.
import SwitchboardWire

/// The claims Switchboard reads from a verified token.
public struct Claims: Equatable, Sendable {
    /// `sub`: the user id.
    public var subject: String
    /// `role` (custom claim), "user" when absent.
    public var role: String
    /// `exp` in seconds since the epoch, if present.
    public var expiresAt: Int64?
    /// `nbf`, if present.
    public var notBefore: Int64?
    /// `iat`, if present.
    public var issuedAt: Int64?
    /// `iss`, if present.
    public var issuer: String?
    /// `aud` (a string or the list of strings).
    public var audience: [String]

    /// Claims for minting.
    public init(
        subject: String, role: String = "user", expiresAt: Int64? = nil, notBefore: Int64? = nil,
        issuedAt: Int64? = nil, issuer: String? = nil, audience: [String] = []
    ) {
        self.subject = subject
        self.role = role
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.issuedAt = issuedAt
        self.issuer = issuer
        self.audience = audience
    }
}

/// Verification keys and policy.
public struct JWTConfiguration: Sendable {
    /// HS256 shared secret (bytes), if HS256 is accepted.
    public var hmacSecret: [UInt8]?
    /// RS256 public (or private) key, if RS256 is accepted.
    public var rsaKey: AsymmetricKey?
    /// ES256 public (or private) key, if ES256 is accepted.
    public var ecKey: AsymmetricKey?
    /// Required `iss`, when set.
    public var issuer: String?
    /// Required audience (one of `aud`), when set.
    public var audience: String?
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (0…3600).
    public var leewaySeconds: Int64
    /// Refuse tokens without `exp` (the default: a token that never expires
    /// cannot be taken back).
    public var requireExpiry: Bool

    /// A configuration; at least one key must be given for tokens to verify.
    public init(
        hmacSecret: [UInt8]? = nil, rsaKey: AsymmetricKey? = nil, ecKey: AsymmetricKey? = nil,
        issuer: String? = nil, audience: String? = nil, leewaySeconds: Int64 = 0, requireExpiry: Bool = true
    ) {
        self.hmacSecret = hmacSecret
        self.rsaKey = rsaKey
        self.ecKey = ecKey
        self.issuer = issuer
        self.audience = audience
        self.leewaySeconds = min(max(leewaySeconds, 0), 3600)
        self.requireExpiry = requireExpiry
    }

    /// The algorithms this configuration accepts.
    public var acceptedAlgorithms: Set<JWTAlgorithm> {
        var set = Set<JWTAlgorithm>()
        if hmacSecret != nil { set.insert(.hs256) }
        if rsaKey?.algorithm == .rs256 { set.insert(.rs256) }
        if ecKey?.algorithm == .es256 { set.insert(.es256) }
        return set
    }
}

/// Verifies tokens against a configuration.
public struct JWTVerifier: Sendable {
    /// The keys and policy.
    public let configuration: JWTConfiguration

    /// A verifier.
    public init(_ configuration: JWTConfiguration) { self.configuration = configuration }

    /// Verifies signature, algorithm, time window, issuer and audience.
    /// `now` is seconds since the epoch.
    public func verify(_ token: String, now: Int64) throws(AuthError) -> Claims {
        let payload = try verifySignature(token)
        let claims = try Self.claims(from: payload)
        if configuration.requireExpiry && claims.expiresAt == nil { throw AuthError(.missingExpiry) }
        // Time claims are in 0...maxSeconds and the leeway in 0...3600, so
        // these sums cannot overflow.
        if let exp = claims.expiresAt, now >= exp + configuration.leewaySeconds { throw AuthError(.expired) }
        if let nbf = claims.notBefore, now + configuration.leewaySeconds < nbf { throw AuthError(.notYetValid) }
        if let issuer = configuration.issuer, claims.issuer != issuer { throw AuthError(.wrongIssuer) }
        if let audience = configuration.audience, !claims.audience.contains(audience) { throw AuthError(.wrongAudience) }
        return claims
    }

    /// Checks the compact form, the algorithm allow-list and the signature
    /// only; returns the payload. `verify` adds the claim checks.
    public func verifySignature(_ token: String) throws(AuthError) -> JSON {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count <= 8192,
            let headerBytes = Base64URL.decode(parts[0]),
            let payloadBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2]),
            let header = try? JSON.parse(headerBytes, maxDepth: 4),
            let payload = try? JSON.parse(payloadBytes, maxDepth: 8),
            header.isObject, payload.isObject
        else { throw AuthError(.malformed) }

        // Only algorithms whose key is configured: `none` never, and an
        // HS256 token is never checked against an RSA or EC key.
        guard let algName = header["alg"]?.stringValue, let alg = JWTAlgorithm(rawValue: algName),
            configuration.acceptedAlgorithms.contains(alg)
        else { throw AuthError(.unsupportedAlgorithm) }
        if let crit = header["crit"], crit != .null { throw AuthError(.unsupportedAlgorithm) }

        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        let valid: Bool
        switch alg {
        case .hs256:
            let expected = CryptoPrimitives.hmacSHA256(key: configuration.hmacSecret!, message: signingInput)
            valid = CryptoPrimitives.constantTimeEqual(expected, signature)
        case .rs256:
            valid = configuration.rsaKey!.verify(signature: signature, message: signingInput)
        case .es256:
            valid = configuration.ecKey!.verify(signature: signature, message: signingInput)
        }
        guard valid else { throw AuthError(.badSignature) }
        return payload
    }

    /// The latest time claim accepted: 9999-12-31T23:59:59Z. A larger `exp`
    /// would overflow when turned into milliseconds.
    public static let maxSeconds: Int64 = 253_402_300_799
    /// Longest `role`, in bytes.
    public static let maxRoleBytes = 64

    static func claims(from payload: JSON) throws(AuthError) -> Claims {
        func time(_ name: String) throws(AuthError) -> Int64? {
            guard let value = payload[name], value != .null else { return nil }
            guard let seconds = value.intValue else { throw AuthError(.malformed) }
            guard (0...maxSeconds).contains(seconds) else { throw AuthError(.claimOutOfRange) }
            return seconds
        }
        guard let subject = payload["sub"]?.stringValue, !subject.isEmpty else { throw AuthError(.missingSubject) }
        guard Identifier.isValid(subject), !ReservedUser.isReserved(subject) else { throw AuthError(.reservedSubject) }
        var role = "user"
        if let value = payload["role"], value != .null {
            guard let text = value.stringValue, Identifier.isValid(text, maxBytes: maxRoleBytes) else {
                throw AuthError(.claimOutOfRange)
            }
            role = text
        }
        var audience: [String] = []
        switch payload["aud"] {
        case .string(let a)?: audience = [a]
        case .array(let list)?: audience = list.compactMap(\.stringValue)
        case nil, .null?: break
        default: throw AuthError(.malformed)
        }
        return Claims(
            subject: subject, role: role,
            expiresAt: try time("exp"), notBefore: try time("nbf"), issuedAt: try time("iat"),
            issuer: payload["iss"]?.stringValue, audience: audience)
    }
}

/// Mints tokens (the `token` command, tests, and the load tool).
public enum JWTSigner {
    /// Signs claims with an HS256 secret.
    public static func hs256(_ claims: Claims, secret: [UInt8]) -> String {
        let input = signingInput(claims, alg: .hs256)
        return input + "." + Base64URL.encode(CryptoPrimitives.hmacSHA256(key: secret, message: Array(input.utf8)))
    }

    /// Signs claims with a private RSA or P-256 key (RS256 / ES256).
    public static func sign(_ claims: Claims, key: AsymmetricKey) throws(AuthError) -> String {
        let input = signingInput(claims, alg: key.algorithm)
        return input + "." + Base64URL.encode(try key.sign(message: Array(input.utf8)))
    }

    /// Signs an arbitrary header and payload with HS256 (tests build attacks with it).
    public static func hs256(header: JSON, payload: JSON, secret: [UInt8]) -> String {
        let input = Base64URL.encode(header.bytes) + "." + Base64URL.encode(payload.bytes)
        return input + "." + Base64URL.encode(CryptoPrimitives.hmacSHA256(key: secret, message: Array(input.utf8)))
    }

    static func signingInput(_ claims: Claims, alg: JWTAlgorithm) -> String {
        var payload: [String: JSON] = ["sub": .string(claims.subject), "role": .string(claims.role)]
        if let exp = claims.expiresAt { payload["exp"] = .int(exp) }
        if let nbf = claims.notBefore { payload["nbf"] = .int(nbf) }
        if let iat = claims.issuedAt { payload["iat"] = .int(iat) }
        if let iss = claims.issuer { payload["iss"] = .string(iss) }
        if claims.audience.count == 1 { payload["aud"] = .string(claims.audience[0]) }
        if claims.audience.count > 1 { payload["aud"] = .array(claims.audience.map(JSON.string)) }
        let header: JSON = .object(["alg": .string(alg.rawValue), "typ": .string("JWT")])
        return Base64URL.encode(header.bytes) + "." + Base64URL.encode(JSON.object(payload).bytes)
    }
}
