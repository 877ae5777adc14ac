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
    static let verifier = JWTVerifier(JWTConfiguration(hmacSecret: FuzzHub.secret))
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
