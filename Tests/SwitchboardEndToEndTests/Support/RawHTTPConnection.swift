// A raw HTTP/1.1 connection for tests that need exact bytes on the wire
// (framing, pipelining, slow bodies): it writes what it is given and parses
// responses by Content-Length, several per connection.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class RawHTTPConnection {
    let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var peerClosed = false

    init(port: Int) throws { fd = try TCP.connect(port: port) }
    deinit { close(fd) }

    /// Writes `text` as it is; false when the peer already closed or reset.
    @discardableResult
    func send(_ text: String) -> Bool { send(bytes: Array(text.utf8)) }
    /// Raw bytes: a NUL or invalid UTF-8 inside a header.
    func send(bytes: [UInt8]) -> Bool { (try? TCP.writeAll(fd, bytes)) != nil }

    /// The next whole response, or nil if the peer closed (or `timeout`
    /// passed) before one arrived.
    func readResponse(timeout: TimeInterval = 10) -> HTTPResult? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let response = takeResponse() { return response }
            if peerClosed || !fill(until: deadline) { return nil }
        }
    }

    /// True once the peer closed the connection (EOF or reset) within
    /// `timeout`; data arriving meanwhile is kept for `readResponse`.
    func waitForClose(timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !peerClosed {
            if !fill(until: deadline) { return peerClosed }
        }
        return true
    }

    /// Reads once (waiting at most until `deadline`); false on timeout.
    private func fill(until deadline: Date) -> Bool {
        let left = deadline.timeIntervalSinceNow
        guard left > 0 else { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&pfd, 1, Int32(min(left, 1) * 1000) + 1) == 0 { return Date() < deadline }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = read(fd, &chunk, chunk.count)
        if n <= 0 { peerClosed = true } else { buffer += chunk[0..<n] }
        return true
    }

    private func takeResponse() -> HTTPResult? {
        guard let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let (status, headers) = parseHTTPHead(buffer[..<end.lowerBound])
        let length = headers["content-length"].flatMap { Int($0) } ?? 0
        guard buffer.count >= end.upperBound + length else { return nil }
        let body = Array(buffer[end.upperBound..<(end.upperBound + length)])
        buffer.removeFirst(end.upperBound + length)
        return HTTPResult(status: status, headers: headers, body: body)
    }
}
