// How a request's body is framed, decided from its Content-Length and
// Transfer-Encoding headers before anything else; whatever is ambiguous is
// refused and the connection closed (the request-smuggling shapes).
//
// What lws 4.1.6 does with these headers (lib/roles/http/parsers.c, server.c):
// - a repeated known header is kept as a chain of fragments; lws_hdr_copy
//   joins them with ',' and lws_hdr_total_length counts the separators, so
//   `Content-Length: 5` twice reads as "5, 5";
// - lws_http_action frames the body by atoll() of that copy: "+32" is 32,
//   "5, 5" is 5, "-1" is -1, and out-of-range values are undefined behaviour
//   in C; a POST/PUT/PATCH without Content-Length expects a 100 MB body;
// - Transfer-Encoding is parsed (WSI_TOKEN_HTTP_TRANSFER_ENCODING) but never
//   used by the h1 server: chunked request bodies are not decoded, the body
//   is still framed by Content-Length.
// So the hub accepts exactly one Content-Length of plain digits and no
// Transfer-Encoding at all: 400 for the ambiguous shapes, 411 for a chunked
// body (lws cannot read it), and every such answer closes the connection.

enum HTTPFraming: Equatable {
    /// No Content-Length, no Transfer-Encoding.
    case none
    /// Exactly one well-formed Content-Length.
    case length(Int)
    /// Refuse with this status (400 or 411) and close.
    case refused(status: Int, message: String)

    /// `contentLength` and `transferEncoding` are the header fragments as lws
    /// stored them (one per occurrence).
    static func check(contentLength: [String], transferEncoding: [String]) -> HTTPFraming {
        if !transferEncoding.isEmpty {
            if !contentLength.isEmpty {
                return .refused(status: 400, message: "both Content-Length and Transfer-Encoding")
            }
            let codings = transferEncoding.map { trimmed($0).lowercased() }
            if codings == ["chunked"] {
                return .refused(status: 411, message: "chunked request bodies are not supported; send Content-Length")
            }
            return .refused(status: 400, message: "unsupported Transfer-Encoding")
        }
        guard let first = contentLength.first else { return .none }
        guard contentLength.count == 1 else { return .refused(status: 400, message: "repeated Content-Length") }
        guard let n = digits(trimmed(first)) else {
            return .refused(status: 400, message: "Content-Length must be decimal digits within range")
        }
        return .length(n)
    }

    /// Plain decimal digits, at least one, without overflow.
    static func digits(_ text: Substring) -> Int? {
        guard !text.isEmpty else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(byte - 0x30))
            if o1 || o2 { return nil }
            value = sum
        }
        return value
    }

    /// Without surrounding optional whitespace (SP, HTAB).
    private static func trimmed(_ s: String) -> Substring {
        var t = Substring(s)
        while let c = t.first, c == " " || c == "\t" { t = t.dropFirst() }
        while let c = t.last, c == " " || c == "\t" { t = t.dropLast() }
        return t
    }
}

/// Compares without an early exit, so the time taken does not tell how many
/// leading bytes matched (the length may show).
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
    if a.count != b.count { difference |= 1 }
    for i in 0..<a.count {
        difference |= a[i] ^ (i < b.count ? b[i] : 0)
    }
    return difference == 0
}
