import Foundation

// What the client does with each frame from the hub.
extension SwitchboardClient {
    func handle(text: String, generation gen: Int) {
        guard gen == generation else { return }
        lastReceived = clock.now()
        guard let frame = JSONValue.parse(text), let type = frame["type"]?.string else { return }
        let id = frame["id"]?.string ?? frame["id"]?.int.map(String.init)
        switch type {
        case "welcome": welcome(frame, generation: gen)
        case "subscribed": subscribed(frame, id: id, generation: gen)
        case "message":
            if let message = ChatMessage(frame, me: user) { deliver(message, live: true, generation: gen) }
        case "ack": acked(frame, id: id)
        case "notification":
            if let n = HubNotification(frame) { deliver(n, live: true) }
        case "error": failed(frame, id: id, generation: gen)
        case "typing":
            if let c = frame["conversation"]?.string, let u = frame["user"]?.string, let a = frame["active"]?.bool {
                emit(.typing(Typing(conversation: c, user: u, active: a)))
            }
        case "receipt":
            answer(id, with: frame)
            if let c = frame["conversation"]?.string, let u = frame["user"]?.string, let s = frame["seq"]?.int {
                emit(.receipt(Receipt(conversation: c, user: u, seq: s)))
            }
        case "presence":
            if id != nil { answer(id, with: frame) } else if let p = Presence(frame) { emit(.presence(p)) }
        case "publication":
            if let channel = frame["channel"]?.string {
                emit(.publication(Publication(channel: channel, ts: frame["ts"]?.int ?? 0, data: frame["data"] ?? .null)))
            }
        case "counter": emit(.counter(frame))
        case "notice": emit(.notice(frame))
        case "refreshed":
            answer(id, with: frame)
            scheduleRefresh(expiresAt: frame["expires_at"], generation: gen)
        case "pong", "unsubscribed": answer(id, with: frame)
        default: emit(.other(frame))
        }
    }

    /// Resolves the request `id` (if it is a plain request).
    func answer(_ id: String?, with frame: JSONValue) {
        guard let id, case .request(let c)? = pending[id] else {
            if let id, case .ping? = pending[id] { pending[id] = nil }
            return
        }
        pending[id] = nil
        c.resume(returning: frame)
    }

    // MARK: welcome and the resume

    func welcome(_ frame: JSONValue, generation gen: Int) {
        user = frame["user"]?.string ?? user
        hubRevision = frame["revision"]?.int ?? 1
        welcomed = true
        // Only a cursor from before this welcome needs a catch-up.
        let catchUpNotifications = knowsNotificationHistory
        if !knowsNotificationHistory {
            // First connection: notifications start after the newest one now
            // (none yet: from the beginning), so nothing is missed from here on.
            notificationID = notificationID ?? frame["last_notification_id"]?.decimalID ?? 0
            knowsNotificationHistory = true
        }
        emit(.connectionState(.connected))
        scheduleRefresh(expiresAt: frame["expires_at"], generation: gen)
        // The channels to resume are fixed now: a `subscribe` after this sends its own frame.
        var names: [String] = []
        if catchUpNotifications, let me = user, notificationID != nil, !channels.contains("user:" + me) {
            names.append("user:" + me)
        }
        names += channels
        resuming = Set(names)
        Task { await self.resume(names, generation: gen) }
    }

    /// ONE `subscribe` frame (per 100 channels) for every channel held, each
    /// with its cursor — the user channel with the notification cursor — then the outbox.
    func resume(_ names: [String], generation gen: Int) async {
        var entries: [JSONValue] = []
        for channel in names {
            var entry: [String: JSONValue] = ["channel": .string(channel)]
            if let cursor = cursorValue(channel) { entry["since"] = cursor }
            entries.append(.object(entry))
        }
        let deadline = clock.now() + options.requestTimeout
        if names.isEmpty { emit(.connectionState(.resumed)) }
        var start = 0
        while hubRevision >= 2, start < entries.count {
            let id = newRequestID()
            pending[id] = .resume
            let batch = Array(entries[start..<min(start + 100, entries.count)])
            await transmit(["type": "subscribe", "id": .string(id), "channels": .array(batch)], generation: gen)
            start += 100
        }
        // A revision-1 hub knows no batch (nor `since` on the user channel, which it subscribed already).
        for case .object(var entry) in entries where hubRevision < 2 {
            if entry["channel"]?.string == user.map({ "user:" + $0 }) {
                resumed("user:" + (user ?? ""))
                continue
            }
            let id = newRequestID()
            pending[id] = .subscribe(channel: entry["channel"]?.string ?? "")
            entry["type"] = "subscribe"
            entry["id"] = .string(id)
            await transmit(.object(entry), generation: gen)
        }
        await flushOutbox(generation: gen)
        guard !names.isEmpty else { return }
        // A resume that is not fully answered in time: the connection is not healthy.
        try? await clock.sleep(until: deadline)
        if gen == generation, !resuming.subtracting(paging).isEmpty { await connection?.close(code: nil) }
    }

    func resumed(_ channel: String) {
        guard resuming.remove(channel) != nil else { return }
        if resuming.isEmpty { emit(.connectionState(.resumed)) }
    }

    func subscribed(_ frame: JSONValue, id: String?, generation gen: Int) {
        guard let channel = frame["channel"]?.string else { return }
        if let id, case .subscribe? = pending[id] { pending[id] = nil }
        let recovered = frame["recovered"]?.bool ?? true
        if let conversation = conversationID(channel) {
            let last = frame["last_seq"]?.int
            if !recovered, let cursor = seqCursors[conversation] {
                startPaging(conversation: conversation, after: cursor, generation: gen, then: channel)
            } else {
                if seqCursors[conversation] == nil, let last { seqCursors[conversation] = last }
                resumed(channel)
            }
        } else if channel == user.map({ "user:" + $0 }), !recovered, let cursor = notificationID {
            startPagingNotifications(after: cursor, generation: gen, then: channel)
        } else {
            resumed(channel)
        }
        finishSubscribe(channel, error: nil)
    }

    func acked(_ frame: JSONValue, id: String?) {
        guard let id, case .send(let clientMsgID)? = pending.removeValue(forKey: id),
            let conversation = frame["conversation"]?.string, let seq = frame["seq"]?.int
        else { return }
        let ack = Ack(
            clientMsgID: clientMsgID, conversation: conversation, messageID: frame["message_id"]?.string ?? "",
            seq: seq, createdAt: frame["created_at"]?.int ?? 0)
        settle(ack)
    }

    func failed(_ frame: JSONValue, id: String?, generation gen: Int) {
        let error = SwitchboardError(frame: frame)
        guard let id, let request = pending[id] else {
            emit(.error(error))
            return
        }
        switch request {
        case .request(let c):
            pending[id] = nil
            c.resume(throwing: error)
        case .send(let clientMsgID):
            pending[id] = nil
            if error.isTransient {
                // Kept; sent again after the hub's hint (or the backoff's base).
                let wait = error.retryAfter.map { Int64(min(max($0, 0), 3600) * 1000) } ?? options.backoff.baseMilliseconds
                let deadline = clock.now() + wait
                Task {
                    try? await self.clock.sleep(until: deadline)
                    if gen == self.generation, let m = self.outbox.first(where: { $0.clientMsgID == clientMsgID }) {
                        await self.transmitSend(m, generation: gen)
                    }
                }
            } else {
                Task { await self.refuse(clientMsgID, error: error) }
            }
        case .subscribe(let channel):
            pending[id] = nil
            if !error.isTransient { channels.removeAll { $0 == channel } }
            finishSubscribe(channel, error: error)
            resumed(channel)
            emit(.error(error))
        case .resume:
            // One entry of the batch refused (the error names its channel).
            emit(.error(error))
            if let channel = error.channel {
                if !error.isTransient { channels.removeAll { $0 == channel } }
                finishSubscribe(channel, error: error)
                resumed(channel)
            }
        case .ping:
            pending[id] = nil
        }
    }

    // MARK: Delivery, once

    /// Emits `message` unless its seq was delivered already; a gap pages the
    /// missing range first; one's own message settles its outbox entry.
    func deliver(_ message: ChatMessage, live: Bool, generation gen: Int) {
        let conversation = message.conversation
        if live, paging.contains(conversation) {
            heldMessages[conversation, default: []].append(message)
            return
        }
        if let cursor = seqCursors[conversation] {
            if message.seq <= cursor { return }
            if message.seq > cursor + 1 {
                heldMessages[conversation, default: []].append(message)
                startPaging(conversation: conversation, after: cursor, generation: gen, then: nil)
                return
            }
        }
        seqCursors[conversation] = message.seq
        if message.isOwn, let clientMsgID = message.clientMsgID {
            // One's own echo: it is the ack if the ack has not come yet.
            settle(
                Ack(
                    clientMsgID: clientMsgID, conversation: conversation, messageID: message.messageID,
                    seq: message.seq, createdAt: message.createdAt))
        }
        emit(.message(message))
    }

    /// Emits a notification unless its id is not past the cursor.
    func deliver(_ notification: HubNotification, live: Bool) {
        if live, paging.contains(Self.notificationsKey) {
            heldNotifications.append(notification)
            return
        }
        guard let id = Int64(notification.id) else { return }
        if let cursor = notificationID, id <= cursor { return }
        notificationID = id
        emit(.notification(notification))
    }

    static let notificationsKey = "\u{0}notifications"
}
