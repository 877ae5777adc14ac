// The default WebSocket transport: hummingbird-project/swift-websocket's
// client (SwiftNIO), on Linux and Apple platforms alike. Foundation's
// URLSessionWebSocketTask is no option on Linux: FoundationNetworking's
// libcurl answers "WebSockets not supported by libcurl".
import Foundation
import HTTPTypes
import Logging
import NIOWebSocket
import WSClient

/// Connections over swift-websocket's `WebSocketClient`.
public struct WSClientTransport: WebSocketTransport {
    /// The largest message accepted from the hub (its own default limit is 64 KiB;
    /// replays and counters stay far below this).
    public var maxMessageBytes: Int

    public init(maxMessageBytes: Int = 4 << 20) { self.maxMessageBytes = maxMessageBytes }

    public func connect(url: URL, headers: [String: String]) async throws -> any WebSocketConnection {
        let connection = WSClientConnection()
        var fields: HTTPFields = [:]
        fields[HTTPField.Name("Sec-WebSocket-Protocol")!] = "switchboard.v1"
        for (name, value) in headers {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        let configuration = WebSocketClientConfiguration(
            maxFrameSize: maxMessageBytes, additionalHeaders: fields, autoPing: .disabled)
        let maxSize = maxMessageBytes
        let opened = OpenSignal()
        let run = Task {
            do {
                let closeFrame = try await WebSocketClient.connect(
                    url: url.absoluteString, configuration: configuration,
                    logger: Logger(label: "switchboard.client.ws")
                ) { inbound, outbound, _ in
                    opened.succeed()
                    try await connection.pump(inbound: inbound, outbound: outbound, maxSize: maxSize)
                }
                connection.finish(code: closeFrame.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) })
                opened.fail(SwitchboardError(code: "disconnected", message: "closed during the upgrade"))
            } catch {
                connection.finish(code: nil)
                opened.fail(error)
            }
        }
        do {
            try await opened.wait()
        } catch {
            run.cancel()
            throw error
        }
        return connection
    }
}

/// One-shot "the upgrade finished (or failed)" signal.
private final class OpenSignal: Sendable {
    private let state = LockedBox<(done: Bool, error: (any Error)?, waiter: CheckedContinuation<Void, any Error>?)>(
        (false, nil, nil))

    func succeed() { settle(nil) }
    func fail(_ error: any Error) { settle(error) }

    private func settle(_ error: (any Error)?) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            guard !s.done else { return nil }
            s.done = true
            s.error = error
            defer { s.waiter = nil }
            return s.waiter
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume() }
    }

    func wait() async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let outcome = state.withLock { s -> (Bool, (any Error)?) in
                if !s.done { s.waiter = c }
                return (s.done, s.error)
            }
            guard outcome.0 else { return }
            if let error = outcome.1 { c.resume(throwing: error) } else { c.resume() }
        }
    }
}

/// A connection bridged from swift-websocket's handler closure to streams.
final class WSClientConnection: WebSocketConnection {
    enum Outgoing: Sendable {
        case text(String)
        case close(Int)
        case abort
    }

    struct Aborted: Error {}

    let events: AsyncStream<TransportEvent>
    private let eventSink: AsyncStream<TransportEvent>.Continuation
    private let outgoing: AsyncStream<Outgoing>
    private let outgoingSink: AsyncStream<Outgoing>.Continuation
    private let finished = LockedBox(false)

    init() {
        (events, eventSink) = AsyncStream.makeStream()
        (outgoing, outgoingSink) = AsyncStream.makeStream()
    }

    func send(_ text: String) async throws {
        guard !finished.withLock({ $0 }) else {
            throw SwitchboardError(code: "disconnected", message: "the connection is closed")
        }
        outgoingSink.yield(.text(text))
    }

    func close(code: Int?) async { outgoingSink.yield(code.map { .close($0) } ?? .abort) }

    func pump(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, maxSize: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await message in inbound.messages(maxSize: maxSize) {
                    if case .text(let text) = message { self.eventSink.yield(.text(text)) }
                }
            }
            group.addTask {
                for await item in self.outgoing {
                    switch item {
                    case .text(let text): try await outbound.write(.text(text))
                    case .close(let code):
                        try await outbound.close(.init(codeNumber: code), reason: nil)
                        return
                    // Dropping the socket without a close frame is how a dead network looks.
                    case .abort: throw Aborted()
                    }
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    func finish(code: Int?) {
        let first = finished.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        eventSink.yield(.closed(code: code))
        eventSink.finish()
        outgoingSink.finish()
    }
}

/// A value behind a lock.
// Unchecked: `value` is only touched under `lock`.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
