import Foundation

extension SwitchboardClient {
    /// Subscribes to `channel` and keeps it subscribed across reconnects,
    /// resumed from its cursor. For a conversation, `since` is the last seq the
    /// app already has (missed messages are replayed or paged, then live).
    /// Returns once the hub answered `subscribed` (waits for the connection).
    public func subscribe(_ channel: String, since: Int64? = nil) async throws {
        if let conversation = conversationID(channel), let since, seqCursors[conversation] == nil {
            seqCursors[conversation] = since
        }
        if !channels.contains(channel) { channels.append(channel) }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            subscribeWaiters[channel, default: []].append(continuation)
            // The resume after `welcome` sends it (or is sending it).
            guard welcomed, !resuming.contains(channel) else { return }
            let id = newRequestID()
            pending[id] = .subscribe(channel: channel)
            var frame: [String: JSONValue] = ["type": "subscribe", "id": .string(id), "channel": .string(channel)]
            if let cursor = cursorValue(channel) { frame["since"] = cursor }
            let gen = generation
            let deadline = clock.now() + options.requestTimeout
            Task {
                await self.transmit(.object(frame), generation: gen)
                try? await self.clock.sleep(until: deadline)
                self.subscribeTimedOut(id, channel: channel)
            }
        }
    }

    /// Stops resuming `channel` and unsubscribes it on the hub.
    public func unsubscribe(_ channel: String) async throws {
        channels.removeAll { $0 == channel }
        guard welcomed else { return }
        _ = try await request(["type": "unsubscribe", "channel": .string(channel)])
    }

    /// Queues a message in the outbox (persisted) and sends it; returns its
    /// ack. Resent with the same `client_msg_id` after every reconnect until
    /// acked; a refusal (forbidden, bad_frame, …) throws and removes it.
    @discardableResult
    public func send(
        conversation: String, body: JSONValue, kind: String = "text", clientMsgID: String = UUID().uuidString
    ) async throws -> Ack {
        try await withCheckedThrowingContinuation { continuation in
            sendWaiters[clientMsgID, default: []].append(continuation)
            Task { await self.enqueue(conversation: conversation, body: body, kind: kind, clientMsgID: clientMsgID) }
        }
    }

    /// Queues a message without waiting for its ack (it comes as an `.ack` event).
    public func enqueue(
        conversation: String, body: JSONValue, kind: String = "text", clientMsgID: String = UUID().uuidString
    ) async {
        await loadOutbox()
        guard !outbox.contains(where: { $0.clientMsgID == clientMsgID }) else { return }
        let message = PendingMessage(
            clientMsgID: clientMsgID, conversation: conversation, kind: kind, body: body, queuedAt: clock.now())
        outbox.append(message)
        await persistOutbox()
        if outboxFlushed { await transmitSend(message, generation: generation) }
    }

    /// Marks the conversation read up to `seq`; returns the stored position.
    @discardableResult
    public func markRead(conversation: String, seq: Int64) async throws -> Int64 {
        let answer = try await request(["type": "read", "conversation": .string(conversation), "seq": .int(seq)])
        return answer["seq"]?.int ?? seq
    }

    /// Tells the conversation's other subscribers that this user is (not) typing.
    /// Fire and forget: the hub answers nothing.
    public func typing(conversation: String, active: Bool) async {
        await transmit(
            ["type": "typing", "conversation": .string(conversation), "active": .bool(active)], generation: generation)
    }

    /// The presence of `users` (only those who share a conversation with this user).
    public func presence(of users: [String]) async throws -> [Presence] {
        let answer = try await request(["type": "presence", "users": .array(users.map(JSONValue.string))])
        guard case .array(let entries)? = answer["users"] else { return [] }
        return entries.compactMap(Presence.init)
    }

    /// A round trip to the hub; returns the hub's time (ms).
    public func ping() async throws -> Int64 {
        try await request(["type": "ping"])["time"]?.int ?? 0
    }

    // MARK: Internals of the API

    func conversationID(_ channel: String) -> String? {
        channel.hasPrefix("conversation:") ? String(channel.dropFirst("conversation:".count)) : nil
    }

    /// The `since` to resume `channel` from, if it has a cursor.
    func cursorValue(_ channel: String) -> JSONValue? {
        if let conversation = conversationID(channel) { return seqCursors[conversation].map(JSONValue.int) }
        if channel == user.map({ "user:" + $0 }) { return notificationID.map { .string(String($0)) } }
        return nil
    }

    func subscribeTimedOut(_ id: String, channel: String) {
        guard pending.removeValue(forKey: id) != nil else { return }
        finishSubscribe(channel, error: .timeout)
    }

    func finishSubscribe(_ channel: String, error: SwitchboardError?) {
        let waiters = subscribeWaiters.removeValue(forKey: channel) ?? []
        for waiter in waiters {
            if let error { waiter.resume(throwing: error) } else { waiter.resume() }
        }
    }

    func transmitSend(_ message: PendingMessage, generation gen: Int) async {
        let id = newRequestID()
        pending[id] = .send(clientMsgID: message.clientMsgID)
        let deadline = clock.now() + options.requestTimeout
        await transmit(message.frame(id: id), generation: gen)
        Task {
            try? await self.clock.sleep(until: deadline)
            await self.sendTimedOut(id, generation: gen)
        }
    }

    /// No ack in time on a live connection: send again (same `client_msg_id`, stored once).
    func sendTimedOut(_ id: String, generation gen: Int) async {
        guard case .send(let clientMsgID) = pending.removeValue(forKey: id), gen == generation,
            let message = outbox.first(where: { $0.clientMsgID == clientMsgID })
        else { return }
        await transmitSend(message, generation: gen)
    }

    /// Sends every queued message (after the resume frame), including those
    /// queued while this runs; later ones are sent by `enqueue` itself.
    func flushOutbox(generation gen: Int) async {
        var sent: Set<String> = []
        while gen == generation, let next = outbox.first(where: { !sent.contains($0.clientMsgID) }) {
            sent.insert(next.clientMsgID)
            await transmitSend(next, generation: gen)
        }
        if gen == generation { outboxFlushed = true }
    }

    /// The message is committed: it leaves the outbox and its `.ack` is
    /// emitted, once, whichever came first (the ack or one's own echo).
    func settle(_ ack: Ack) {
        guard let index = outbox.firstIndex(where: { $0.clientMsgID == ack.clientMsgID }) else { return }
        outbox.remove(at: index)
        emit(.ack(ack))
        for waiter in sendWaiters.removeValue(forKey: ack.clientMsgID) ?? [] { waiter.resume(returning: ack) }
        Task { await self.persistOutbox() }
    }

    /// The hub refused the message for good.
    func refuse(_ clientMsgID: String, error: SwitchboardError) async {
        guard let index = outbox.firstIndex(where: { $0.clientMsgID == clientMsgID }) else { return }
        outbox.remove(at: index)
        emit(.sendFailed(clientMsgID: clientMsgID, error: error))
        for waiter in sendWaiters.removeValue(forKey: clientMsgID) ?? [] { waiter.resume(throwing: error) }
        await persistOutbox()
    }
}
