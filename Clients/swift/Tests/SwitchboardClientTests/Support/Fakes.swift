// In-memory fakes of the client's ports: a hub the test scripts frame by
// frame, a REST server of canned pages, and a clock that moves only when told.
import Foundation
import Testing

@testable import SwitchboardClient

/// A value behind a lock, shared between the client's tasks and the test.
// Unchecked: `value` is only touched under `lock`.
final class Shared<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
    var current: Value { withLock { $0 } }
}

/// Waits (bounded, 10 s of real time) until `condition` holds.
func waitUntil(
    _ what: String = "condition", sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: @Sendable () async -> Bool
) async {
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
        if await condition() { return }
        try? await Task.sleep(nanoseconds: 2_000_000)
    }
    Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
}

/// One fake WebSocket: the test pushes frames and reads what the client sent.
final class FakeConnection: WebSocketConnection {
    let events: AsyncStream<TransportEvent>
    private let sink: AsyncStream<TransportEvent>.Continuation
    private let state = Shared((sent: [JSONValue](), open: true, closedByClient: false))
    let headers: [String: String]

    init(headers: [String: String]) {
        self.headers = headers
        (events, sink) = AsyncStream.makeStream()
    }

    var sent: [JSONValue] { state.current.sent }
    var isOpen: Bool { state.current.open }
    var closedByClient: Bool { state.current.closedByClient }
    /// Frames sent of `type`.
    func sent(_ type: String) -> [JSONValue] { sent.filter { $0["type"]?.string == type } }

    func send(_ text: String) async throws {
        let ok = state.withLock { s -> Bool in
            guard s.open else { return false }
            s.sent.append(JSONValue.parse(text) ?? .null)
            return true
        }
        if !ok { throw SwitchboardError(code: "disconnected", message: "fake closed") }
    }

    func close(code: Int?) async {
        state.withLock { $0.closedByClient = true }
        drop(code: code)
    }

    /// The hub sends `frame`.
    func push(_ frame: JSONValue) { sink.yield(.text(frame.jsonText)) }

    /// The socket dies (or the hub closes with `code`).
    func drop(code: Int? = nil) {
        let wasOpen = state.withLock { s -> Bool in
            defer { s.open = false }
            return s.open
        }
        guard wasOpen else { return }
        sink.yield(.closed(code: code))
        sink.finish()
    }
}

/// Hands out FakeConnections; can refuse connections.
final class FakeTransport: WebSocketTransport {
    private let state = Shared((connections: [FakeConnection](), refusals: 0, attempts: 0))

    var connections: [FakeConnection] { state.current.connections }
    var attempts: Int { state.current.attempts }
    var last: FakeConnection? { connections.last }
    /// The next `count` connects fail.
    func refuse(_ count: Int) { state.withLock { $0.refusals += count } }

    func connect(url: URL, headers: [String: String]) async throws -> any WebSocketConnection {
        let connection = FakeConnection(headers: headers)
        let refused = state.withLock { s -> Bool in
            s.attempts += 1
            if s.refusals > 0 {
                s.refusals -= 1
                return true
            }
            s.connections.append(connection)
            return false
        }
        if refused { throw SwitchboardError(code: "disconnected", message: "refused") }
        return connection
    }
}

/// REST pages by path + query, and the requests made.
final class FakeHTTP: HTTPTransport {
    let pages = Shared([String: JSONValue]())
    let requests = Shared([URL]())

    func get(_ url: URL, headers: [String: String]) async throws -> (status: Int, body: Data) {
        requests.withLock { $0.append(url) }
        let key = url.path + "?" + (url.query ?? "")
        guard let page = pages.current[key] else { return (404, Data()) }
        return (200, Data(page.jsonText.utf8))
    }
}

/// A clock that moves only when the test advances it.
final class ManualClock: ClientClock {
    private struct Sleeper {
        let id: Int
        let deadline: Int64
        let continuation: CheckedContinuation<Void, any Error>
    }
    private let state = Shared((now: Int64(1_800_000_000_000), sleepers: [Sleeper](), nextID: 0))

    func now() -> Int64 { state.current.now }
    /// How many sleeps are waiting.
    var sleepers: Int { state.current.sleepers.count }

    func sleep(until deadline: Int64) async throws {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let due = state.withLock { s -> Bool in
                    if deadline <= s.now || Task.isCancelled { return true }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: c))
                    return false
                }
                if due { c.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { s -> Sleeper? in
                guard let i = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: i)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleep that is due.
    func advance(by milliseconds: Int64) {
        let due = state.withLock { s -> [Sleeper] in
            s.now += milliseconds
            let due = s.sleepers.filter { $0.deadline <= s.now }
            s.sleepers.removeAll { $0.deadline <= s.now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}

/// Collects a client's events.
final class EventLog: Sendable {
    private let events = Shared([SwitchboardEvent]())

    init(_ client: SwitchboardClient) {
        Task { [events] in
            for await event in client.events { events.withLock { $0.append(event) } }
        }
    }

    var all: [SwitchboardEvent] { events.current }
    var messages: [ChatMessage] {
        all.compactMap { if case .message(let m) = $0 { return m } else { return nil } }
    }
    var acks: [Ack] { all.compactMap { if case .ack(let a) = $0 { return a } else { return nil } } }
    var notifications: [HubNotification] {
        all.compactMap { if case .notification(let n) = $0 { return n } else { return nil } }
    }
    var states: [ConnectionState] {
        all.compactMap { if case .connectionState(let s) = $0 { return s } else { return nil } }
    }
}
