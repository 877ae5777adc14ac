// API keys for backend callers, compared in constant time.

/// The configured backend API keys, each with a name for logs and audit.
public struct APIKeyRing: Sendable {
    private let keys: [(name: String, secret: [UInt8])]

    /// Parses `name:secret` entries; an entry without a colon is named
    /// `backend-N`. Secrets shorter than 16 bytes are rejected.
    public init(entries: [String]) throws(AuthError) {
        var keys: [(String, [UInt8])] = []
        for (i, entry) in entries.enumerated() where !entry.isEmpty {
            let parts = entry.split(separator: ":", maxSplits: 1)
            let name = parts.count == 2 ? String(parts[0]) : "backend-\(i + 1)"
            let secret = Array((parts.count == 2 ? parts[1] : parts[0]).utf8)
            guard secret.count >= 16 else { throw AuthError(.badKey) }
            keys.append((name, secret))
        }
        self.keys = keys
    }

    /// The name of the backend owning `presented`, or throws `unknownAPIKey`.
    public func authenticate(_ presented: String) throws(AuthError) -> String {
        let bytes = Array(presented.utf8)
        var match: String?
        // Check every key so timing does not reveal which one matched.
        for key in keys where CryptoPrimitives.constantTimeEqual(key.secret, bytes) { match = key.name }
        guard let match else { throw AuthError(.unknownAPIKey) }
        return match
    }

    /// True when no key is configured (the server API is then closed).
    public var isEmpty: Bool { keys.isEmpty }

    /// A random key suitable for configuration (hex, 32 bytes of entropy).
    public static func generate() -> String {
        CryptoPrimitives.randomBytes(32).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
