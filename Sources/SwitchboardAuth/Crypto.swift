// The only file that talks to OpenSSL: HMAC, EVP public-key signatures and
// ECDSA signature format conversion.
internal import CCrypto

/// A JWS algorithm Switchboard accepts.
public enum JWTAlgorithm: String, Sendable, CaseIterable {
    case hs256 = "HS256"
    case rs256 = "RS256"
    case es256 = "ES256"
}

/// A public or private key loaded from PEM, owning its EVP_PKEY.
// Unchecked: the EVP_PKEY is never changed after loading, and OpenSSL allows concurrent verifications with one key.
public final class AsymmetricKey: @unchecked Sendable {
    fileprivate let pkey: OpaquePointer
    /// The algorithm this key serves (RS256 for RSA, ES256 for P-256).
    public let algorithm: JWTAlgorithm
    /// True when the key can sign.
    public let isPrivate: Bool

    /// Loads a PEM public key (SubjectPublicKeyInfo) or private key (PKCS#8 or
    /// traditional). Rejects keys that are neither RSA (≥ 2048 bits) nor P-256.
    public init(pem: String) throws(AuthError) {
        var loaded: OpaquePointer?
        var isPrivate = false
        pem.withCString { cString in
            let bio = BIO_new_mem_buf(cString, -1)
            defer { BIO_free(bio) }
            if pem.contains("PRIVATE KEY") {
                loaded = PEM_read_bio_PrivateKey(bio, nil, nil, nil)
                isPrivate = true
            } else {
                loaded = PEM_read_bio_PUBKEY(bio, nil, nil, nil)
            }
        }
        ERR_clear_error()
        guard let key = loaded else { throw AuthError(.badKey) }
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA where EVP_PKEY_get_bits(key) >= 2048:
            algorithm = .rs256
        case EVP_PKEY_EC where EVP_PKEY_get_bits(key) == 256:
            algorithm = .es256
        default:
            EVP_PKEY_free(key)
            throw AuthError(.badKey)
        }
        self.pkey = key
        self.isPrivate = isPrivate
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Verifies a JWS signature (ES256 signatures are raw r‖s, 64 bytes).
    func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        var der = signature
        if algorithm == .es256 {
            guard signature.count == 64, let converted = CryptoPrimitives.rawToDER(signature) else { return false }
            der = converted
        }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx); ERR_clear_error() }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, pkey) == 1 else { return false }
        let result = message.withUnsafeBufferPointer { m in
            der.withUnsafeBufferPointer { s in
                EVP_DigestVerify(ctx, s.baseAddress, s.count, m.baseAddress, m.count)
            }
        }
        return result == 1
    }

    /// Signs a message (private keys only); ES256 output is raw r‖s.
    func sign(message: [UInt8]) throws(AuthError) -> [UInt8] {
        guard isPrivate, let ctx = EVP_MD_CTX_new() else { throw AuthError(.badKey) }
        defer { EVP_MD_CTX_free(ctx); ERR_clear_error() }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, pkey) == 1 else { throw AuthError(.badKey) }
        var length = 0
        let sized = message.withUnsafeBufferPointer { m in
            EVP_DigestSign(ctx, nil, &length, m.baseAddress, m.count)
        }
        guard sized == 1 else { throw AuthError(.badKey) }
        var signature = [UInt8](repeating: 0, count: length)
        let signed = message.withUnsafeBufferPointer { m in
            signature.withUnsafeMutableBufferPointer { s in
                EVP_DigestSign(ctx, s.baseAddress, &length, m.baseAddress, m.count)
            }
        }
        guard signed == 1 else { throw AuthError(.badKey) }
        signature.removeLast(signature.count - length)
        if algorithm == .es256 {
            guard let raw = CryptoPrimitives.derToRaw(signature) else { throw AuthError(.badKey) }
            return raw
        }
        return signature
    }
}

/// Symmetric primitives.
enum CryptoPrimitives {
    static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var outLength: UInt32 = 32
        key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, &out, &outLength)
            }
        }
        return out
    }

    /// Compares in time independent of where the inputs differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        _ = RAND_bytes(&out, Int32(count))
        return out
    }

    /// JWS raw r‖s (32+32 bytes) → DER ECDSA-Sig-Value.
    static func rawToDER(_ raw: [UInt8]) -> [UInt8]? {
        guard let sig = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(sig) }
        let r = raw[0..<32].withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, nil) }
        let s = raw[32..<64].withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, nil) }
        guard ECDSA_SIG_set0(sig, r, s) == 1 else { BN_free(r); BN_free(s); return nil }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_ECDSA_SIG(sig, &out)
        guard length > 0, let out else { return nil }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// DER ECDSA-Sig-Value → JWS raw r‖s.
    static func derToRaw(_ der: [UInt8]) -> [UInt8]? {
        var cursor: UnsafePointer<UInt8>?
        return der.withUnsafeBufferPointer { buffer -> [UInt8]? in
            cursor = buffer.baseAddress
            guard let sig = d2i_ECDSA_SIG(nil, &cursor, buffer.count) else { return nil }
            defer { ECDSA_SIG_free(sig) }
            var r: OpaquePointer?
            var s: OpaquePointer?
            ECDSA_SIG_get0(sig, &r, &s)
            var out = [UInt8](repeating: 0, count: 64)
            guard BN_bn2binpad(r, &out, 32) == 32 else { return nil }
            let ok = out.withUnsafeMutableBufferPointer { BN_bn2binpad(s, $0.baseAddress! + 32, 32) }
            return ok == 32 ? out : nil
        }
    }
}
