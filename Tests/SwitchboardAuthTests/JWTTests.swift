// JWT verification: RFC 7515 vectors, round trips, and an attack set.
import Foundation
import SwitchboardWire
import Testing
@testable import SwitchboardAuth

@Suite struct RFCVectorTests {
    @Test func hs256AppendixA1SignatureVerifies() throws {
        let verifier = JWTVerifier(JWTConfiguration(hmacSecret: Base64URL.decode(RFC7515.hsKey)!))
        let payload = try verifier.verifySignature(RFC7515.hsToken)
        #expect(payload["iss"]?.stringValue == "joe")
        #expect(payload["exp"]?.intValue == 1_300_819_380)
        // The example has no `sub`: the claim check comes after the signature.
        #expect(throws: AuthError(.missingSubject)) { try verifier.verify(RFC7515.hsToken, now: 1_300_000_000) }
    }

    @Test func rs256AppendixA2SignatureVerifies() throws {
        let key = try AsymmetricKey(pem: DER.rsaPublicKeyPEM(n: RFC7515.rsaN, e: RFC7515.rsaE))
        #expect(key.algorithm == .rs256)
        let verifier = JWTVerifier(JWTConfiguration(rsaKey: key))
        #expect(try verifier.verifySignature(RFC7515.rsToken)["iss"]?.stringValue == "joe")
    }

    @Test func es256AppendixA3SignatureVerifies() throws {
        let key = try AsymmetricKey(pem: DER.p256PublicKeyPEM(x: RFC7515.ecX, y: RFC7515.ecY))
        #expect(key.algorithm == .es256)
        let verifier = JWTVerifier(JWTConfiguration(ecKey: key))
        #expect(try verifier.verifySignature(RFC7515.esToken)["iss"]?.stringValue == "joe")
    }

    @Test func tamperedVectorsFail() throws {
        let hs = JWTVerifier(JWTConfiguration(hmacSecret: Base64URL.decode(RFC7515.hsKey)!))
        var token = Array(RFC7515.hsToken)
        token[token.count - 3] = token[token.count - 3] == "A" ? "B" : "A"
        #expect(throws: AuthError(.badSignature)) { try hs.verifySignature(String(token)) }
        let es = JWTVerifier(
            JWTConfiguration(ecKey: try AsymmetricKey(pem: DER.p256PublicKeyPEM(x: RFC7515.ecX, y: RFC7515.ecY))))
        let swapped = RFC7515.esToken.replacingOccurrences(of: "eyJpc3MiOiJqb2Ui", with: "eyJpc3MiOiJqb2Xi")
        #expect(throws: AuthError.self) { try es.verifySignature(swapped) }
    }
}

@Suite struct RoundTripTests {
    let secret = Array("0123456789abcdef0123456789abcdef".utf8)

    @Test func hs256RoundTripCarriesClaims() throws {
        let claims = Claims(
            subject: "alice", role: "craftsman", expiresAt: 2_000, notBefore: 1_000, issuedAt: 1_000,
            issuer: "market", audience: ["hub"])
        let token = JWTSigner.hs256(claims, secret: secret)
        let verifier = JWTVerifier(JWTConfiguration(hmacSecret: secret, issuer: "market", audience: "hub"))
        #expect(try verifier.verify(token, now: 1_500) == claims)
    }

    @Test(arguments: ["rsa", "ec"])
    func asymmetricRoundTrip(kind: String) throws {
        let pair = try Keys.generate(kind)
        let signing = try AsymmetricKey(pem: pair.privatePEM)
        let verifying = try AsymmetricKey(pem: pair.publicPEM)
        let token = try JWTSigner.sign(Claims(subject: "bob", expiresAt: 5_000), key: signing)
        let config = kind == "rsa" ? JWTConfiguration(rsaKey: verifying) : JWTConfiguration(ecKey: verifying)
        #expect(try JWTVerifier(config).verify(token, now: 4_000).subject == "bob")
    }
}

@Suite struct AttackTests {
    let secret = Array("0123456789abcdef0123456789abcdef".utf8)
    var verifier: JWTVerifier { JWTVerifier(JWTConfiguration(hmacSecret: secret)) }

    @Test func algNoneIsRejected() {
        let header = Base64URL.encode(JSON.object(["alg": .string("none")]).bytes)
        let payload = Base64URL.encode(JSON.object(["sub": .string("mallory")]).bytes)
        #expect(throws: AuthError(.unsupportedAlgorithm)) { try verifier.verify(header + "." + payload + ".", now: 0) }
        #expect(throws: AuthError(.unsupportedAlgorithm)) { try verifier.verify(header + "." + payload + ".AAAA", now: 0) }
    }

    @Test func hsTokenSignedWithThePublicKeyIsRejected() throws {
        // Key confusion: an attacker signs HS256 with the RSA public key PEM
        // as the secret; a hub configured for RS256 only must refuse HS256.
        let pem = DER.rsaPublicKeyPEM(n: RFC7515.rsaN, e: RFC7515.rsaE)
        let rsaOnly = JWTVerifier(JWTConfiguration(rsaKey: try AsymmetricKey(pem: pem)))
        let forged = JWTSigner.hs256(
            header: .object(["alg": .string("HS256")]), payload: .object(["sub": .string("mallory")]),
            secret: Array(pem.utf8))
        #expect(throws: AuthError(.unsupportedAlgorithm)) { try rsaOnly.verify(forged, now: 0) }
    }

    @Test func rsTokenAgainstHmacOnlyIsRejected() {
        #expect(throws: AuthError(.unsupportedAlgorithm)) { try verifier.verify(RFC7515.rsToken, now: 0) }
    }

    @Test func tamperedPayloadIsRejected() {
        let token = JWTSigner.hs256(Claims(subject: "alice", role: "user"), secret: secret)
        let parts = token.split(separator: ".").map(String.init)
        let evil = Base64URL.encode(JSON.object(["sub": .string("alice"), "role": .string("admin")]).bytes)
        #expect(throws: AuthError(.badSignature)) { try verifier.verify(parts[0] + "." + evil + "." + parts[2], now: 0) }
    }

    @Test func wrongSecretIsRejected() {
        let token = JWTSigner.hs256(Claims(subject: "alice"), secret: Array("another-secret-another-secret-xx".utf8))
        #expect(throws: AuthError(.badSignature)) { try verifier.verify(token, now: 0) }
    }

    @Test func expiredAndNotYetValid() {
        let token = JWTSigner.hs256(Claims(subject: "a", expiresAt: 100, notBefore: 50), secret: secret)
        #expect(throws: AuthError(.expired)) { try verifier.verify(token, now: 100) }
        #expect(throws: AuthError(.notYetValid)) { try verifier.verify(token, now: 49) }
        #expect((try? verifier.verify(token, now: 99)) != nil)
    }

    @Test func claimsOutOfRangeReservedSubjectsAndMissingExpAreRejected() {
        func token(_ payload: [String: JSON]) -> String {
            JWTSigner.hs256(header: .object(["alg": .string("HS256")]), payload: .object(payload), secret: secret)
        }
        let sub: JSON = .string("alice")
        #expect(throws: AuthError(.claimOutOfRange)) { try verifier.verify(token(["sub": sub, "exp": .int(.max)]), now: 0) }
        #expect(throws: AuthError(.claimOutOfRange)) { try verifier.verify(token(["sub": sub, "exp": .int(-1)]), now: 0) }
        #expect(throws: AuthError(.claimOutOfRange)) {
            try verifier.verify(token(["sub": sub, "exp": .int(100), "nbf": .int(JWTVerifier.maxSeconds + 1)]), now: 0)
        }
        #expect(throws: AuthError(.claimOutOfRange)) {
            try verifier.verify(token(["sub": sub, "exp": .int(100), "role": .string("ad\u{1}min")]), now: 0)
        }
        #expect(throws: AuthError(.reservedSubject)) {
            try verifier.verify(token(["sub": .string("system"), "exp": .int(100)]), now: 0)
        }
        #expect(throws: AuthError(.reservedSubject)) {
            try verifier.verify(token(["sub": .string("backend:x"), "exp": .int(100)]), now: 0)
        }
        #expect(throws: AuthError(.reservedSubject)) {
            try verifier.verify(token(["sub": .string("a\u{7f}b"), "exp": .int(100)]), now: 0)
        }
        // NUL never gets this far: the JSON parser refuses \u0000.
        #expect(throws: AuthError(.malformed)) {
            try verifier.verify(token(["sub": .string("a\u{0}b"), "exp": .int(100)]), now: 0)
        }
        #expect(throws: AuthError(.missingExpiry)) { try verifier.verify(token(["sub": sub]), now: 0) }
        let lenient = JWTVerifier(JWTConfiguration(hmacSecret: secret, requireExpiry: false))
        #expect((try? lenient.verify(token(["sub": sub]), now: 0))?.subject == "alice")
        #expect((try? verifier.verify(token(["sub": sub, "exp": .int(JWTVerifier.maxSeconds)]), now: 0))?.subject == "alice")
    }

    @Test func wrongIssuerOrAudience() {
        let token = JWTSigner.hs256(Claims(subject: "a", expiresAt: 100, issuer: "other", audience: ["x"]), secret: secret)
        let strictIssuer = JWTVerifier(JWTConfiguration(hmacSecret: secret, issuer: "market"))
        let strictAudience = JWTVerifier(JWTConfiguration(hmacSecret: secret, audience: "hub"))
        #expect(throws: AuthError(.wrongIssuer)) { try strictIssuer.verify(token, now: 0) }
        #expect(throws: AuthError(.wrongAudience)) { try strictAudience.verify(token, now: 0) }
    }

    @Test(arguments: ["", "a", "a.b", "a.b.c.d", "..", "!!!.e30.x", "e30.e30.e30"])
    func malformedTokensAreRejected(token: String) {
        #expect(throws: AuthError.self) { try verifier.verify(token, now: 0) }
    }

    @Test func critHeaderIsRejected() {
        let token = JWTSigner.hs256(
            header: .object(["alg": .string("HS256"), "crit": .array([.string("x")])]),
            payload: .object(["sub": .string("a")]), secret: secret)
        #expect(throws: AuthError(.unsupportedAlgorithm)) { try verifier.verify(token, now: 0) }
    }

    @Test func errorsNeverEchoTheToken() {
        for code in AuthError.Code.allCases {
            #expect(!AuthError(code).description.contains("eyJ"))
        }
    }
}

@Suite struct APIKeyTests {
    @Test func namedKeysAuthenticate() throws {
        let ring = try APIKeyRing(entries: ["matching:0123456789abcdefXYZ", "0123456789abcdef-other"])
        #expect(try ring.authenticate("0123456789abcdefXYZ") == "matching")
        #expect(try ring.authenticate("0123456789abcdef-other") == "backend-2")
        #expect(throws: AuthError(.unknownAPIKey)) { try ring.authenticate("0123456789abcdefXY") }
    }

    @Test func shortSecretsAreRefused() {
        #expect(throws: AuthError(.badKey)) { try APIKeyRing(entries: ["name:short"]) }
    }
}

@Suite struct Base64URLTests {
    @Test func roundTripsAllLengths() {
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(($0 * 37 + 11) & 0xFF) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
    }

    @Test func rejectsPaddingAndForeignCharacters() {
        #expect(Base64URL.decode("YQ==") == nil)
        #expect(Base64URL.decode("a+b/") == nil)
        #expect(Base64URL.decode("A") == nil)
    }
}
