// Target `frames`: the JSON parser, the frame decoder, and the hub's handling
// of whatever decodes, on a connection authenticated as a conversation member.
import SwitchboardHub
import SwitchboardWire

enum FrameFuzz {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        if let json = try? JSON.parse(bytes) {
            // What the writer emits must parse again (no NaN, no broken escapes).
            guard (try? JSON.parse(json.bytes)) != nil else {
                fatalError("JSON written from a parsed value does not parse: \(String(decoding: json.bytes, as: UTF8.self))")
            }
        }
        guard (try? ClientFrame.decode(bytes)) != nil else { return }
        let f = FuzzHub()
        f.hub.connectionOpened(1, token: f.token("alice"))
        f.settle()
        f.hub.textReceived(1, bytes)
        f.settle()
        f.passTime()
    }
}
