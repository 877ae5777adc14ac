// `redis://[:password@]host[:port][/db]`, checked before anything reaches
// hiredis: the URL comes from a flag or the environment.

/// Where a Redis server is and how to log in.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    /// Host name or IP address (IPv6 without its brackets).
    public let host: String
    /// TCP port, 1...65535 (default 6379).
    public let port: Int
    /// The AUTH password, percent-decoded; nil when none is given.
    public let password: String?
    /// The database number (SELECT); pub/sub ignores it, but it is honoured.
    public let database: Int

    /// Parses `redis://[:password@]host[:port][/db]`; throws `RedisURLError`
    /// naming what is wrong, never echoing the password.
    public init(_ text: String) throws(RedisURLError) {
        let scheme = "redis://"
        guard text.utf8.count <= 1024 else { throw RedisURLError("the Redis URL is longer than 1024 bytes") }
        guard !text.utf8.contains(0) else { throw RedisURLError("the Redis URL contains a NUL byte") }
        guard text.hasPrefix(scheme) else {
            if text.hasPrefix("rediss://") { throw RedisURLError("TLS (rediss://) is not supported; use redis://") }
            throw RedisURLError("a Redis URL starts with redis:// (redis://[:password@]host[:port][/db])")
        }
        var rest = Substring(text.dropFirst(scheme.count))
        if rest.contains("?") || rest.contains("#") {
            throw RedisURLError("the Redis URL has a query or fragment; only redis://[:password@]host[:port][/db]")
        }
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            guard userInfo.hasPrefix(":") else {
                throw RedisURLError("a Redis URL names no user; give the password as redis://:password@host")
            }
            password = try Self.percentDecoded(userInfo.dropFirst())
            if password?.isEmpty == true { password = nil }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !db.isEmpty {
                guard let n = Self.number(db, max: 1_000_000) else {
                    throw RedisURLError("the Redis database must be a number from 0 to 1000000")
                }
                database = n
            }
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw RedisURLError("the Redis host has no closing ]") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw RedisURLError("unexpected text after the Redis host's ]") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw RedisURLError("the Redis host in [] is not an IPv6 address")
            }
        } else {
            if let colon = rest.firstIndex(of: ":") {
                portText = rest[rest.index(after: colon)...]
                host = rest[..<colon]
            } else {
                host = rest
            }
            guard !host.isEmpty else { throw RedisURLError("the Redis URL names no host") }
            guard host.utf8.count <= 253,
                host.unicodeScalars.allSatisfy({
                    $0.isASCII && (Self.hostCharacters.contains($0) || $0.properties.isAlphabetic || ("0"..."9").contains($0))
                })
            else { throw RedisURLError("the Redis host may hold only letters, digits, '.', '-' and '_'") }
        }
        var port = 6379
        if let portText {
            guard let n = Self.number(portText, max: 65535), n >= 1 else {
                throw RedisURLError("the Redis port must be a number from 1 to 65535")
            }
            port = n
        }
        self.host = String(host)
        self.port = port
        self.password = password
        self.database = database
    }

    /// The URL without its password (for logs).
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "redis://" + (password == nil ? "" : ":***@") + "\(shownHost):\(port)/\(database)"
    }

    private static let hostCharacters: Set<Unicode.Scalar> = [".", "-", "_"]

    /// Decimal digits only (no sign, no spaces), at most `max`; checked
    /// before any arithmetic can overflow.
    private static func number(_ text: Substring, max: Int) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 7, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        guard let n = Int(text), n <= max else { return nil }
        return n
    }

    private static func percentDecoded(_ text: Substring) throws(RedisURLError) -> String {
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = utf8.popFirst().flatMap(Self.hexValue), let low = utf8.popFirst().flatMap(Self.hexValue) else {
                throw RedisURLError("the Redis password has a bad %-escape")
            }
            bytes.append(high << 4 | low)
        }
        guard !bytes.contains(0) else { throw RedisURLError("the Redis password contains a NUL byte") }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw RedisURLError("the Redis password is not UTF-8 once decoded")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A Redis URL that cannot be used; `description` says why (never the password).
public struct RedisURLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, for the operator.
    public let description: String

    init(_ description: String) { self.description = description }
}
