import Foundation

// Token refresh and the REST fallback for what the hub could not replay.
extension SwitchboardClient {
    /// Schedules a `refresh` before `expiresAt` (ms since the epoch; a
    /// revision-1 hub sent seconds, told apart by size) when a provider can
    /// bring a new token. A fixed token simply expires (close 4002).
    func scheduleRefresh(expiresAt value: JSONValue?, generation gen: Int) {
        guard tokenSource.canRenew, var expiresAt = value?.int else { return }
        if expiresAt < 100_000_000_000 { expiresAt *= 1000 }
        let now = clock.now()
        let margin = min(options.refreshMargin, max(0, (expiresAt - now) / 2))
        let due = expiresAt - margin
        Task {
            try? await self.clock.sleep(until: due)
            await self.refresh(generation: gen)
        }
    }

    func refresh(generation gen: Int) async {
        guard gen == generation, welcomed else { return }
        do {
            let token = try await tokenSource.token()
            guard gen == generation else { return }
            currentToken = token
            _ = try await request(["type": "refresh", "token": .string(token)])
            // `refreshed` scheduled the next one.
        } catch {
            // Not refreshed: reconnecting asks the provider again.
            if gen == generation { await connection?.close(code: nil) }
        }
    }

    var restBase: URL {
        if let rest = options.restURL { return rest }
        var parts = URLComponents(url: url, resolvingAgainstBaseURL: false) ?? URLComponents()
        parts.scheme = parts.scheme == "wss" ? "https" : "http"
        parts.path = ""
        parts.query = nil
        return parts.url ?? url
    }

    /// GET a REST page as JSON (nil on any failure).
    func getJSON(_ path: String, query: [URLQueryItem]) async -> JSONValue? {
        var parts = URLComponents(url: restBase, resolvingAgainstBaseURL: false) ?? URLComponents()
        parts.path = path
        parts.queryItems = query
        guard let url = parts.url, let token = currentToken,
            let (status, body) = try? await http.get(url, headers: ["Authorization": "Bearer " + token]),
            status == 200
        else { return nil }
        return JSONValue.parse(body)
    }

    /// The hub could not replay a conversation (`recovered: false`, or a gap):
    /// page `GET /v1/conversations/{id}/messages?after=` from the cursor, then
    /// deliver what arrived live meanwhile. A failed page drops the connection,
    /// so the next one resumes from the cursor.
    func startPaging(conversation: String, after cursor: Int64, generation gen: Int, then channel: String?) {
        guard !paging.contains(conversation) else { return }
        paging.insert(conversation)
        Task { await self.page(conversation: conversation, after: cursor, generation: gen, then: channel) }
    }

    func page(conversation: String, after start: Int64, generation gen: Int, then channel: String?) async {
        var cursor = start
        let path =
            "/v1/conversations/"
            + (conversation.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? conversation) + "/messages"
        while gen == generation {
            guard
                let page = await getJSON(
                    path,
                    query: [.init(name: "after", value: String(cursor)), .init(name: "limit", value: String(options.pageLimit))]),
                case .array(let items)? = page["messages"]
            else {
                if gen == generation { await connection?.close(code: nil) }
                return
            }
            guard gen == generation else { return }
            for item in items {
                if let message = ChatMessage(item, me: user) { deliver(message, live: false, generation: gen) }
            }
            cursor = seqCursors[conversation] ?? cursor
            if items.count < options.pageLimit { break }
        }
        guard gen == generation else { return }
        paging.remove(conversation)
        let held = (heldMessages.removeValue(forKey: conversation) ?? []).sorted { $0.seq < $1.seq }
        for message in held { deliver(message, live: true, generation: gen) }
        if let channel { resumed(channel) }
    }

    /// Notifications past the hub's replay: page `GET /v1/notifications?after=`.
    func startPagingNotifications(after cursor: Int64, generation gen: Int, then channel: String) {
        guard !paging.contains(Self.notificationsKey) else { return }
        paging.insert(Self.notificationsKey)
        Task {
            var after = cursor
            while gen == self.generation {
                guard
                    let page = await self.getJSON(
                        "/v1/notifications",
                        query: [
                            .init(name: "after", value: String(after)),
                            .init(name: "limit", value: String(self.options.pageLimit)),
                        ]),
                    case .array(let items)? = page["notifications"]
                else {
                    if gen == self.generation { await self.connection?.close(code: nil) }
                    return
                }
                guard gen == self.generation else { return }
                for item in items {
                    if let n = HubNotification(item) { self.deliver(n, live: false) }
                }
                after = self.notificationID ?? after
                if items.count < self.options.pageLimit { break }
            }
            self.finishNotificationPaging(generation: gen, channel: channel)
        }
    }

    func finishNotificationPaging(generation gen: Int, channel: String) {
        guard gen == generation else { return }
        paging.remove(Self.notificationsKey)
        let held = heldNotifications.sorted { (Int64($0.id) ?? 0) < (Int64($1.id) ?? 0) }
        heldNotifications.removeAll()
        for n in held { deliver(n, live: true) }
        resumed(channel)
    }
}
