// The body of a `send` frame (and of POST /v1/conversations/{id}/messages).

/// A validated chat send.
public struct SendRequest: Equatable, Sendable {
    /// Message kinds on the wire.
    public static let kinds: Set<String> = ["text", "image", "document", "quote", "contract_proposal", "system"]

    public var conversation: Int64
    /// The sender's idempotency key (≤ 128 bytes).
    public var clientMessageID: String
    public var kind: String
    /// The body object, compact JSON text.
    public var body: [UInt8]
    /// For quotes: amount in minor units, currency, valid-until in ms.
    public var quoteAmount: Int64?
    public var quoteCurrency: String?
    public var quoteValidUntilMillis: Int64?

    /// Largest message body (its compact JSON), in bytes, however it is sent
    /// (WebSocket, REST, an edit): far below a connection's outbound queue
    /// bound, so a message can always be delivered and replayed.
    public static let maxBodyBytes = 32 * 1024

    /// Validates a `send` object. `system` messages are refused here: only
    /// the hub and backends write them.
    public static func decode(_ json: JSON, conversation: Int64, requestID: RequestID?) throws(FrameDecodingError) -> SendRequest
    {
        func bad(_ code: ErrorCode, _ message: String) -> FrameDecodingError {
            FrameDecodingError(code: code, message: message, requestID: requestID)
        }
        guard let clientID = json["client_msg_id"] else { throw bad(.missingField, "missing field 'client_msg_id'") }
        guard let clientMessageID = clientID.stringValue, Identifier.isValid(clientMessageID, maxBytes: 128) else {
            throw bad(.badFrame, "'client_msg_id' must be a string of 1 to 128 bytes without control characters")
        }
        let kind = json["kind"]?.stringValue ?? "text"
        guard kinds.contains(kind), kind != "system" else { throw bad(.badFrame, "unknown or reserved message kind") }
        guard let body = json["body"] else { throw bad(.missingField, "missing field 'body'") }
        guard body.isObject else { throw bad(.badFrame, "'body' must be a JSON object") }
        let bodyBytes = body.bytes
        guard bodyBytes.count <= maxBodyBytes else {
            throw bad(.payloadTooLarge, "a message body is at most \(maxBodyBytes) bytes of JSON")
        }
        var request = SendRequest(conversation: conversation, clientMessageID: clientMessageID, kind: kind, body: bodyBytes)
        if kind == "quote" {
            guard let amount = body["amount"]?.intValue, amount >= 0, let currency = body["currency"]?.stringValue,
                currency.utf8.count == 3, currency.utf8.allSatisfy({ (65...90).contains($0 & 0xDF) })
            else {
                throw bad(.badFrame, "a quote's body needs 'amount' (integer minor units ≥ 0) and a 3-letter 'currency'")
            }
            request.quoteAmount = amount
            request.quoteCurrency = currency.uppercased()
            if let field = body["valid_until"], field != .null {
                // ms since the epoch, up to 9999-12-31 (PostgreSQL's timestamptz and
                // the hub's own time arithmetic stay in range).
                guard let until = field.intValue, (0...253_402_300_799_999).contains(until) else {
                    throw bad(.badFrame, "'valid_until' must be ms since the epoch, up to year 9999")
                }
                request.quoteValidUntilMillis = until
            }
        } else if kind == "text" {
            guard let text = body["text"]?.stringValue, !text.isEmpty else {
                throw bad(.badFrame, "a text message needs a non-empty 'text'")
            }
        }
        return request
    }

    /// A request.
    public init(conversation: Int64, clientMessageID: String, kind: String, body: [UInt8]) {
        self.conversation = conversation
        self.clientMessageID = clientMessageID
        self.kind = kind
        self.body = body
    }
}
