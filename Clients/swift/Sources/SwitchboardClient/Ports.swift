// The client's ports: the WebSocket, REST, the clock and the outbox's
// storage. The client's logic (resume, outbox, dedupe, backoff) sees only
// these, so its tests run over in-memory fakes with a manual clock.
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Opens WebSocket connections.
public protocol WebSocketTransport: Sendable {
    /// Opens a connection to `url` with `headers` on the upgrade request and the
    /// `switchboard.v1` subprotocol; returns once the upgrade succeeded.
    func connect(url: URL, headers: [String: String]) async throws -> any WebSocketConnection
}

/// What a connection delivers.
public enum TransportEvent: Sendable, Equatable {
    case text(String)
    /// The connection ended: the server's close code if it sent one.
    case closed(code: Int?)
}

/// One open WebSocket.
public protocol WebSocketConnection: Sendable {
    /// Text frames in order, then exactly one `.closed`, then the end.
    var events: AsyncStream<TransportEvent> { get }
    /// Sends one text frame (throws once the connection is gone).
    func send(_ text: String) async throws
    /// Closes (a close frame when `code` is given, else the socket is dropped at once).
    func close(code: Int?) async
}

/// Plain HTTP for the REST fallback (paging history after `recovered: false`).
public protocol HTTPTransport: Sendable {
    /// GET `url` with `headers`; returns status and body.
    func get(_ url: URL, headers: [String: String]) async throws -> (status: Int, body: Data)
}

/// Time for the client's timers, in milliseconds.
public protocol ClientClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func now() -> Int64
    /// Sleeps until `deadline` (ms since the epoch; returns at once if it
    /// passed). Deadlines, not durations: a timer's deadline is fixed when its
    /// cause happens, however late the sleeping task starts. Throws on cancellation.
    func sleep(until deadline: Int64) async throws
}

/// The wall clock.
public struct SystemClock: ClientClock {
    public init() {}
    public func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
    public func sleep(until deadline: Int64) async throws {
        let left = deadline - now()
        if left > 0 { try await Task.sleep(nanoseconds: UInt64(left) * 1_000_000) }
    }
}

/// URLSession for REST (data tasks work on Linux too; only its WebSocket task does not).
public struct URLSessionHTTPTransport: HTTPTransport {
    public init() {}
    public func get(_ url: URL, headers: [String: String]) async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: url)
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        return try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: request) { data, response, error in
                if let error { return continuation.resume(throwing: error) }
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                continuation.resume(returning: (status, data ?? Data()))
            }.resume()
        }
    }
}
