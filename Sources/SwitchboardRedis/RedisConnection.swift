// One hiredis connection, the only file that touches hiredis. A connection
// belongs to one thread; only `shutdown()` may be called from another (the
// link serialises it with freeing, so the descriptor is never reused).
import Foundation
internal import CHiredis

/// A reply from Redis, copied out of hiredis.
enum RedisReply: Equatable {
    case string([UInt8])
    case array([RedisReply])
    case integer(Int64)
    case status(String)
    case error(String)
    case null

    /// The bytes of a bulk or status string.
    var bytes: [UInt8]? {
        switch self {
        case .string(let bytes): bytes
        case .status(let text): Array(text.utf8)
        default: nil
        }
    }
}

/// Why a connection failed; the text is hiredis' or Redis' own (never a password).
struct RedisConnectionError: Error, CustomStringConvertible {
    let description: String
}

/// A blocking connection to Redis with bounded waits.
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>

    /// Connects, then AUTH and SELECT as the URL says. `timeoutMs` bounds the
    /// connect and every later write and command reply.
    init(url: RedisURL, timeoutMs: Int32) throws(RedisConnectionError) {
        guard let context = sb_redis_connect(url.host, Int32(url.port), timeoutMs) else {
            throw RedisConnectionError(description: "out of memory")
        }
        self.context = context
        if context.pointee.err != 0 { throw failure("connect to \(url.host):\(url.port)") }
        guard sb_redis_set_timeout(context, timeoutMs) == REDIS_OK else { throw failure("set timeout") }
        // Keepalive finds a dead peer even on a connection that only listens.
        _ = redisEnableKeepAlive(context)
        if let password = url.password {
            let answer = try command("AUTH", Array(password.utf8), timeoutMs: timeoutMs)
            if case .error(let text) = answer { throw RedisConnectionError(description: "AUTH refused: " + text) }
        }
        if url.database != 0 {
            let answer = try command("SELECT", Array(String(url.database).utf8), timeoutMs: timeoutMs)
            if case .error(let text) = answer { throw RedisConnectionError(description: "SELECT refused: " + text) }
        }
    }

    deinit { redisFree(context) }

    /// Queues `name arg` in the output buffer (binary-safe).
    func append(_ name: String, _ arg: [UInt8]) throws(RedisConnectionError) {
        let status = arg.withUnsafeBytes { sb_redis_append1(context, name, $0.baseAddress, $0.count) }
        guard status == REDIS_OK else { throw failure(name) }
    }

    /// Queues `name a b` in the output buffer (binary-safe).
    func append(_ name: String, _ a: [UInt8], _ b: [UInt8]) throws(RedisConnectionError) {
        let status = a.withUnsafeBytes { a in
            b.withUnsafeBytes { b in sb_redis_append2(context, name, a.baseAddress, a.count, b.baseAddress, b.count) }
        }
        guard status == REDIS_OK else { throw failure(name) }
    }

    /// Queues `PING`.
    func appendPing() throws(RedisConnectionError) {
        guard sb_redis_append_ping(context) == REDIS_OK else { throw failure("PING") }
    }

    /// Writes everything queued.
    func flush() throws(RedisConnectionError) {
        guard sb_redis_flush(context) == REDIS_OK else { throw failure("write") }
    }

    /// The next reply, or nil when none came within `timeoutMs`.
    func read(timeoutMs: Int32) throws(RedisConnectionError) -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        switch sb_redis_read(context, &raw, timeoutMs) {
        case 1:
            guard let raw else { return nil }
            defer { freeReplyObject(raw) }
            return Self.copy(raw.assumingMemoryBound(to: redisReply.self))
        case 0: return nil
        default: throw failure("read")
        }
    }

    /// What a subscribed connection reads.
    enum Pushed: Equatable {
        /// The payload of a `message` on the subscribed channel.
        case message([UInt8])
        /// Anything else: a PING's answer, a confirmation.
        case other
    }

    /// The next reply on a subscribed connection, or nil when none came
    /// within `timeoutMs`. Reads the reply in place: a message costs one copy.
    func readPushed(channel: [UInt8], timeoutMs: Int32) throws(RedisConnectionError) -> Pushed? {
        var raw: UnsafeMutableRawPointer?
        switch sb_redis_read(context, &raw, timeoutMs) {
        case 1:
            guard let raw else { return nil }
            defer { freeReplyObject(raw) }
            let reply = raw.assumingMemoryBound(to: redisReply.self).pointee
            guard reply.type == REDIS_REPLY_ARRAY, reply.elements == 3, let parts = reply.element,
                let kind = parts[0]?.pointee, let name = parts[1]?.pointee, let payload = parts[2]?.pointee,
                Self.bytes(kind, equal: Self.messageKind), Self.bytes(name, equal: channel),
                payload.type == REDIS_REPLY_STRING
            else { return .other }
            return .message(payload.str.map { Array(UnsafeRawBufferPointer(start: $0, count: payload.len)) } ?? [])
        case 0: return nil
        default: throw failure("read")
        }
    }

    private static let messageKind = Array("message".utf8)

    private static func bytes(_ reply: redisReply, equal expected: [UInt8]) -> Bool {
        guard reply.type == REDIS_REPLY_STRING, reply.len == expected.count, let str = reply.str else { return false }
        return expected.withUnsafeBytes { bytes in bytes.baseAddress.map { memcmp($0, str, bytes.count) == 0 } ?? true }
    }

    /// The next reply within `timeoutMs`, or a failure.
    func reply(timeoutMs: Int32) throws(RedisConnectionError) -> RedisReply {
        guard let reply = try read(timeoutMs: timeoutMs) else {
            throw RedisConnectionError(description: "no reply from Redis within \(timeoutMs) ms")
        }
        return reply
    }

    /// Sends one command and waits for its reply.
    func command(_ name: String, _ arg: [UInt8], timeoutMs: Int32) throws(RedisConnectionError) -> RedisReply {
        try append(name, arg)
        try flush()
        return try reply(timeoutMs: timeoutMs)
    }

    /// Wakes the thread blocked on this connection: its reads see EOF, its writes fail.
    func shutdown() { sb_redis_shutdown(context) }

    private func failure(_ what: String) -> RedisConnectionError {
        let text = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return RedisConnectionError(description: what + ": " + (text.isEmpty ? "failed" : text))
    }

    private static func copy(_ reply: UnsafePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .string(r.str.map { Array(UnsafeRawBufferPointer(start: $0, count: r.len)) } ?? [])
        case REDIS_REPLY_STATUS, REDIS_REPLY_ERROR:
            let text = r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.len), as: UTF8.self) } ?? ""
            return r.type == REDIS_REPLY_STATUS ? .status(text) : .error(text)
        case REDIS_REPLY_INTEGER:
            return .integer(r.integer)
        case REDIS_REPLY_ARRAY:
            guard let elements = r.element else { return .array([]) }
            return .array((0..<r.elements).map { index in elements[index].map { copy($0) } ?? .null })
        default:
            return .null
        }
    }
}
