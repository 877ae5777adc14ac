// Target `jwt`. The first byte chooses what the rest is:
//   even: a whole token as text;
//   odd:  a payload (claims JSON) that the target signs with the right HS256
//         key, so that claims parsing and the time checks are reached.
// A token that verifies then opens a WebSocket connection on a hub (the
// session's expiry arithmetic), and time passes.
import SwitchboardAuth
import SwitchboardHub
import SwitchboardWire

enum JWTFuzz {
    // All three algorithms configured, so that a fuzzed header reaches the
    // RS256 and ES256 paths (signature length and format checks) too.
    static let verifier = JWTVerifier(
        JWTConfiguration(
            hmacSecret: FuzzHub.secret, rsaKey: try! AsymmetricKey(pem: rsaPEM),
            ecKey: try! AsymmetricKey(pem: ecPEM)))
    static let ecPEM = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEUyezwD/+2Mh1e49YtMcb5j3UXhfr
        Bi6OF0Lf0KSvWF4JGqoGEcz7H0gDWMAx/IdJznOiutzDjQLsXEHj+nybAA==
        -----END PUBLIC KEY-----
        """
    static let rsaPEM = """
        -----BEGIN PUBLIC KEY-----
        MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzk+JlyXh2CRlqvC/ZIm7
        7MVMvf541zUFK0ntFUru5V8gY0CKxs0JRrJNzrx0W6UJJ/wSJ0qAvxsBZ1SdC3Un
        w0ypofEr0zekTTx+Ct8u/d735U5YESd7ZgBlXGAfaWQYL0qecuv7uLjMINEg4o8m
        3YOsn65+8WO8Usc+xho0/zdYD6xl9eYaD6oc8u5Lp7nt2CZCLW5s770w/QzohLtK
        ED0m00zVa2fU1jbe4pHM3N4KgeWH5mBpatGw+hfZHh6VDu+w9O0q8+qzYvnM3WQu
        7Ur5J+/R+mBapZnPVqIE8M5vSCDQlh9LL3a5Z+4UTsJae5CB28CTWjRHXVRz9SNi
        swIDAQAB
        -----END PUBLIC KEY-----
        """
    static let header = JSON.object(["alg": .string("HS256"), "typ": .string("JWT")])
    static let now: Int64 = 1_800_000_000

    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let mode = bytes.first else { return }
        let rest = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
        let token: String
        if mode & 1 == 0 {
            token = String(decoding: rest, as: UTF8.self)
        } else {
            guard let payload = try? JSON.parse(rest) else { return }
            token = JWTSigner.hs256(header: header, payload: payload, secret: FuzzHub.secret)
        }
        guard (try? verifier.verify(token, now: now)) != nil else { return }
        let f = FuzzHub()
        f.clock.millis = now * 1000
        f.hub.connectionOpened(1, token: token)
        f.settle()
        // A refresh with the same token, as a client would send it.
        let refresh = JSON.object(["type": .string("refresh"), "id": .string("r"), "token": .string(token)]).bytes
        refresh.withUnsafeBytes { f.hub.textReceived(1, $0) }
        f.settle()
        f.passTime()
    }
}
