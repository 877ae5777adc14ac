// A minimal keep-alive HTTP/1.1 client for the load tool's REST calls.
import Foundation

final class Publisher {
    typealias Response = (status: Int, body: [UInt8])
    private let fd: Int32
    private let host: String
    private let apiKey: String

    init(host: String, port: Int, apiKey: String) throws {
        self.host = host
        self.apiKey = apiKey
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw CocoaError(.fileReadNoPermission) }
    }

    deinit { close(fd) }

    /// Publishes; true on 200.
    func publish(channel: String, data: String) throws -> Bool {
        let body = #"{"channel":"\#(channel)","data":\#(data)}"#
        return try post("/v1/publish", headers: ["X-API-Key": apiKey], body: body).status == 200
    }

    /// POSTs a JSON body and reads the whole response.
    func post(_ path: String, headers: [String: String], body: String) throws -> Response {
        var request = "POST \(path) HTTP/1.1\r\nHost: \(host)\r\nContent-Type: application/json\r\n"
        for (k, v) in headers { request += "\(k): \(v)\r\n" }
        request += "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw CocoaError(.fileWriteUnknown) }
            sent += n
        }
        var response = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { throw CocoaError(.fileReadUnknown) }
            response += chunk[0..<n]
            if let end = response.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: response[..<end.lowerBound], as: UTF8.self).lowercased()
                let length =
                    head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
                if response.count >= end.upperBound + length {
                    let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                    return (status, Array(response[end.upperBound..<(end.upperBound + length)]))
                }
            }
        }
    }
}
