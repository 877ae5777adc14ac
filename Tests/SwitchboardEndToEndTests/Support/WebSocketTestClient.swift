// A small blocking WebSocket client over a POSIX socket, independent of
// libwebsockets, so end-to-end tests can also send what a good client never
// would (binary, oversize and fragmented frames, floods).
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum TestClientError: Error { case connect, handshake(String), timeout, closed }

/// What arrives from the server.
enum WSMessage: Equatable {
    case text(String)
    case binary([UInt8])
    case close(code: UInt16, reason: String)
}

// Unchecked: used by one thread at a time; a test hands a client to a reader thread and waits for it before using it again.
final class WebSocketTestClient: @unchecked Sendable {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var handshakeStatus = 0
    private var closeAnswered = false
    /// Answer the server's close frame with ours (a conforming client does).
    var answersClose = true
    /// Whether the connection speaks switchboard.v1 (not echo): then every
    /// text frame received is checked against its schema (FrameSchemas).
    private var checksFrames = true

    init(
        port: Int, path: String = "/", headers: [String: String] = [:], subprotocol: String? = "switchboard.v1",
        sourceAddress: String? = nil, receiveBuffer: Int32? = nil
    ) throws {
        fd = try TCP.connect(port: port, receiveBuffer: receiveBuffer)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        if let subprotocol { request += "Sec-WebSocket-Protocol: \(subprotocol)\r\n" }
        for (k, v) in headers { request += "\(k): \(v)\r\n" }
        request += "\r\n"
        try TCP.writeAll(fd, Array(request.utf8))
        let deadline = Date().addingTimeInterval(10)
        while true {
            if let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<end.upperBound)
                let statusLine = head.split(separator: "\r\n").first ?? ""
                handshakeStatus = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
                guard handshakeStatus == 101 else { throw TestClientError.handshake(head) }
                let chosen = parseHTTPHead(ArraySlice(head.utf8)).headers["sec-websocket-protocol"]
                checksFrames = chosen == nil || chosen == "switchboard.v1"
                return
            }
            try fill(until: deadline)
        }
    }

    deinit { Glibc.close(fd) }

    private func fill(until deadline: Date) throws {
        let remaining = deadline.timeIntervalSinceNow
        guard remaining > 0 else { throw TestClientError.timeout }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, Int32(remaining * 1000))
        if ready == 0 { throw TestClientError.timeout }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = read(fd, &chunk, chunk.count)
        if n <= 0 { throw TestClientError.closed }
        buffer.append(contentsOf: chunk[0..<n])
    }

    /// Sends one frame; `masked: false` breaks RFC 6455 §5.1 on purpose.
    func sendFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true, masked: Bool = true) throws {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        let n = payload.count
        let maskBit: UInt8 = masked ? 0x80 : 0
        if n < 126 {
            frame.append(maskBit | UInt8(n))
        } else if n < 65536 {
            frame.append(maskBit | 126); frame += [UInt8(n >> 8), UInt8(n & 0xFF)]
        } else {
            frame.append(maskBit | 127); frame += (0..<8).reversed().map { UInt8((n >> ($0 * 8)) & 0xFF) }
        }
        guard masked else { return try TCP.writeAll(fd, frame + payload) }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
        try TCP.writeAll(fd, frame)
    }

    func sendText(_ text: String) throws { try sendFrame(opcode: 1, payload: Array(text.utf8)) }
    func sendBinary(_ bytes: [UInt8]) throws { try sendFrame(opcode: 2, payload: bytes) }

    /// The next data or close message; answers pings, and a close with a
    /// close (RFC 6455 §5.5.1), by itself. A text frame that breaks its
    /// schema records an issue at `sourceLocation`.
    func receive(timeout: TimeInterval = 10, sourceLocation: SourceLocation = #_sourceLocation) throws -> WSMessage {
        let deadline = Date().addingTimeInterval(timeout)
        var fragments: [UInt8] = []
        var messageOpcode: UInt8 = 0
        while true {
            guard let (fin, opcode, payload) = try nextFrame(until: deadline) else { continue }
            switch opcode {
            case 0x8:
                let code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 1005
                let reason = payload.count > 2 ? String(decoding: payload[2...], as: UTF8.self) : ""
                if answersClose && !closeAnswered {
                    closeAnswered = true
                    // The server may have dropped TCP already.
                    try? sendFrame(opcode: 0x8, payload: Array(payload.prefix(2)))
                }
                return .close(code: code, reason: reason)
            case 0x9: try sendFrame(opcode: 0xA, payload: payload)
            case 0xA: continue
            default:
                if opcode != 0 { messageOpcode = opcode }
                fragments += payload
                if fin {
                    if messageOpcode == 2 { return .binary(fragments) }
                    let text = String(decoding: fragments, as: UTF8.self)
                    // Every frame any end-to-end test receives meets its schema.
                    if checksFrames { FrameSchemas.check(text, sourceLocation: sourceLocation) }
                    return .text(text)
                }
            }
        }
    }

    private func nextFrame(until deadline: Date) throws -> (Bool, UInt8, [UInt8])? {
        while buffer.count < 2 { try fill(until: deadline) }
        var length = Int(buffer[1] & 0x7F)
        var offset = 2
        if length == 126 {
            while buffer.count < 4 { try fill(until: deadline) }
            length = Int(buffer[2]) << 8 | Int(buffer[3]); offset = 4
        } else if length == 127 {
            while buffer.count < 10 { try fill(until: deadline) }
            length = (2..<10).reduce(0) { $0 << 8 | Int(buffer[$1]) }; offset = 10
        }
        while buffer.count < offset + length { try fill(until: deadline) }
        let fin = buffer[0] & 0x80 != 0
        let opcode = buffer[0] & 0x0F
        let payload = Array(buffer[offset..<(offset + length)])
        buffer.removeSubrange(0..<(offset + length))
        return (fin, opcode, payload)
    }

    /// The next text message parsed as a JSON object (fails the caller otherwise).
    func receiveJSON(timeout: TimeInterval = 10, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        guard case .text(let text) = try receive(timeout: timeout, sourceLocation: sourceLocation),
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        else { throw TestClientError.closed }
        return object
    }

    /// Skips frames until one of `type` arrives.
    func receive(type: String, timeout: TimeInterval = 10, sourceLocation: SourceLocation = #_sourceLocation) throws
        -> [String: Any]
    {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let frame = try receiveJSON(timeout: max(0.01, deadline.timeIntervalSinceNow), sourceLocation: sourceLocation)
            if frame["type"] as? String == type { return frame }
        }
    }

    /// Reads until the close frame; returns its code.
    func receiveClose(timeout: TimeInterval = 10, sourceLocation: SourceLocation = #_sourceLocation) throws -> UInt16 {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if case .close(let code, _) = try receive(
                timeout: max(0.01, deadline.timeIntervalSinceNow), sourceLocation: sourceLocation)
            {
                return code
            }
        }
    }
}

enum TCP {
    /// `receiveBuffer` (SO_RCVBUF, set before connecting) keeps the kernel
    /// from absorbing megabytes for a client that stops reading.
    static func connect(port: Int, receiveBuffer: Int32? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError.connect }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { Glibc.close(fd); throw TestClientError.connect }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw TestClientError.closed }
            sent += n
        }
    }
}

/// A one-shot HTTP/1.1 request (Connection: close).
struct HTTPResult {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
    var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
}

func httpRequest(port: Int, _ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil) throws
    -> HTTPResult
{
    let fd = try TCP.connect(port: port)
    defer { close(fd) }
    var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for (k, v) in headers { request += "\(k): \(v)\r\n" }
    if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
    request += "\r\n" + (body ?? "")
    try TCP.writeAll(fd, Array(request.utf8))
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    let deadline = Date().addingTimeInterval(15)
    var expected: Int?
    while Date() < deadline {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&pfd, 1, 1000) == 0 { continue }
        let n = read(fd, &chunk, chunk.count)
        if n <= 0 { break }
        response += chunk[0..<n]
        if let end = response.firstRange(of: Array("\r\n\r\n".utf8)) {
            if expected == nil {
                let head = String(decoding: response[..<end.lowerBound], as: UTF8.self).lowercased()
                let length =
                    head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                expected = end.upperBound + length
            }
            if let expected, response.count >= expected { break }
        }
    }
    guard let end = response.firstRange(of: Array("\r\n\r\n".utf8)) else { throw TestClientError.closed }
    let (status, headers) = parseHTTPHead(response[..<end.lowerBound])
    return HTTPResult(status: status, headers: headers, body: Array(response[end.upperBound...]))
}

/// The status and (lower-cased) headers of a response head, without its blank line.
func parseHTTPHead(_ head: ArraySlice<UInt8>) -> (status: Int, headers: [String: String]) {
    let lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n")
    let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
        if let colon = line.firstIndex(of: ":") {
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }
    return (status, headers)
}
