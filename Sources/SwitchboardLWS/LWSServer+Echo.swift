// The `echo` subprotocol (off unless --enable-echo): returns every message as
// it came, text or binary, so Autobahn|Testsuite can fuzz the receive and
// send paths (fragments, UTF-8 validation, control frames).
import SwitchboardHub
internal import CLibWebSockets

/// One echo connection.
final class EchoConnection {
    let wsi: OpaquePointer
    var receiving: [UInt8] = []
    var binary = false
    var outbound: [(bytes: [UInt8], binary: Bool)] = []

    init(wsi: OpaquePointer) { self.wsi = wsi }
}

func switchboardEchoCallback(
    _ wsi: OpaquePointer?, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?, _ input: UnsafeMutableRawPointer?,
    _ length: Int
) -> Int32 {
    guard let server = server(of: wsi) else { return 0 }
    return server.echoEvent(wsi!, reason, user, input, length)
}

extension LWSServer {
    func echoEvent(
        _ wsi: OpaquePointer, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?,
        _ input: UnsafeMutableRawPointer?, _ length: Int
    ) -> Int32 {
        switch reason {
        case LWS_CALLBACK_ESTABLISHED:
            headersComplete(wsi)  // per-IP handshake count (LWSServer+Edge)
            let id = allocateID()
            user?.storeBytes(of: id, as: UInt64.self)
            echoes[id] = EchoConnection(wsi: wsi)
        case LWS_CALLBACK_RECEIVE:
            guard let echo = echoes[sessionID(user)] else { return -1 }
            if echo.receiving.isEmpty && lws_is_first_fragment(wsi) != 0 { echo.binary = lws_frame_is_binary(wsi) != 0 }
            if echo.receiving.count + length > options.maxEchoBytes {
                setCloseReason(wsi, .messageTooBig)
                return -1
            }
            if let input, length > 0 { echo.receiving.append(contentsOf: UnsafeRawBufferPointer(start: input, count: length)) }
            if lws_is_final_fragment(wsi) != 0 && lws_remaining_packet_payload(wsi) == 0 {
                echo.outbound.append((echo.receiving, echo.binary))
                echo.receiving = []
                lws_callback_on_writable(wsi)
            }
        case LWS_CALLBACK_SERVER_WRITEABLE:
            guard let echo = echoes[sessionID(user)], !echo.outbound.isEmpty else { return 0 }
            let message = echo.outbound.removeFirst()
            let pre = Int(sb_lws_pre())
            var buffer = [UInt8](repeating: 0, count: pre + message.bytes.count)
            buffer.replaceSubrange(pre..., with: message.bytes)
            let written = buffer.withUnsafeMutableBufferPointer { b in
                message.binary
                    ? sb_lws_write_binary(wsi, b.baseAddress! + pre, message.bytes.count)
                    : sb_lws_write_text(wsi, b.baseAddress! + pre, message.bytes.count)
            }
            if written < message.bytes.count { return -1 }
            if !echo.outbound.isEmpty { lws_callback_on_writable(wsi) }
        case LWS_CALLBACK_CLOSED:
            echoes.removeValue(forKey: sessionID(user))
        case LWS_CALLBACK_WSI_DESTROY:
            // After the upgrade lws tells this protocol, not switchboard.v1:
            // without this the per-IP connection count never went down.
            connectionDestroyed(wsi)
        default:
            break
        }
        return 0
    }
}
