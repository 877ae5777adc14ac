// The body of `POST /v1/notify`, checked field by field into a NotifyRequest.
import SwitchboardWire

/// Decodes `POST /v1/notify` bodies.
enum NotifyRequestDecoder {
    /// The request, or the refusal (400) naming the field.
    static func decode(_ body: JSON, idempotencyKey: String?) throws(HubError) -> NotifyRequest {
        guard case .array(let list)? = body["user_ids"] else { throw HubError(.missingField, "missing array 'user_ids'") }
        let users = list.compactMap(\.stringValue)
        guard users.count == list.count, !users.isEmpty, users.count <= NotificationsFeature.recipientCap,
            users.allSatisfy(Identifier.isUserID)
        else {
            throw HubError(.badRequest, "'user_ids' must be 1 to \(NotificationsFeature.recipientCap) user ids")
        }
        guard let kindText = body["kind"]?.stringValue, let kind = NotificationKind(rawValue: kindText) else {
            throw HubError(
                .badRequest, "'kind' must be one of " + NotificationKind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard let title = body["title"]?.stringValue, !title.isEmpty, title.utf8.count <= 200 else {
            throw HubError(.badRequest, "'title' must be a string of 1 to 200 bytes")
        }
        let text = body["body"]?.stringValue ?? ""
        guard text.utf8.count <= 4000 else { throw HubError(.badRequest, "'body' must be at most 4,000 bytes") }
        var data: [UInt8] = Array("{}".utf8)
        if let field = body["data"], field != .null {
            guard field.isObject else { throw HubError(.badRequest, "'data' must be a JSON object") }
            data = field.bytes
            guard data.count <= 16_384 else { throw HubError(.badRequest, "'data' must be at most 16 KiB") }
        }
        func optionalText(_ name: String) throws(HubError) -> String? {
            guard let field = body[name], field != .null else { return nil }
            guard let value = field.stringValue, !value.isEmpty, value.utf8.count <= 128 else {
                throw HubError(.badRequest, "'\(name)' must be a string of 1 to 128 bytes")
            }
            return value
        }
        let key = try optionalText("idempotency_key") ?? idempotencyKey
        if let key, key.isEmpty || key.utf8.count > 128 {
            throw HubError(.badRequest, "the idempotency key must be 1 to 128 bytes")
        }
        // Deduplicated, order kept: a user listed twice is notified once.
        var seen = Set<String>()
        let recipients = users.filter { seen.insert($0).inserted }
        var request = NotifyRequest(
            recipients: recipients, kind: kind, title: title, body: text, data: data,
            entityType: try optionalText("entity_type"), entityID: try optionalText("entity_id"),
            idempotencyKey: key)
        // The key itself is not part of what a retry must repeat.
        var rest = body
        if case .object(var members) = rest { members["idempotency_key"] = nil; rest = .object(members) }
        request.fingerprint = RequestFingerprint.of(rest)
        return request
    }
}
