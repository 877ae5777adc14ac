// The bodies of the libFuzzer targets (Fuzz/), kept in a library so that the
// unit tests can replay the corpus through them without libFuzzer.

/// One fuzz target: a function from arbitrary bytes to nothing that must
/// never trap, whatever the bytes.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// Client WebSocket frames: `JSON.parse`, `ClientFrame.decode`, then the
    /// hub's frame handling on an authenticated connection.
    case frames
    /// Tokens: `JWTVerifier.verify` on raw tokens and on payloads signed with
    /// the right key, then a WebSocket connection opened with the token.
    case jwt
    /// REST: a request decoded from the bytes through `Hub.handleHTTP` over
    /// the in-memory fakes (see `HTTPFuzz` for the input format).
    case http

    /// Feeds one input to the target.
    public func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .frames: FrameFuzz.run(bytes)
        case .jwt: JWTFuzz.run(bytes)
        case .http: HTTPFuzz.run(bytes)
        }
    }

    /// Feeds one input to the target.
    public func run(_ bytes: [UInt8]) { bytes.withUnsafeBytes { run($0) } }

    /// The largest input worth mutating (`-max_len`): a little above the
    /// hub's frame and token limits, far below its 1 MiB body limit so that
    /// mutations stay fast.
    public var maxLength: Int {
        switch self {
        case .frames: 16_384
        case .jwt: 4_096
        case .http: 8_192
        }
    }
}
