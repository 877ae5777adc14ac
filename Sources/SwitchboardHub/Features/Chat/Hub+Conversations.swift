// Conversations on the loop: subscribe with replay and a seamless switch to
// live, sends acked after commit, live fan-out and notices.
import SwitchboardWire

extension Hub {
    /// Most messages replayed on subscribe; past it `recovered: false`.
    static let replayCap = 1_000

    func subscribeToConversation(_ id: ConnectionID, principal: Principal, conversation: ConversationID, since: Int64?,
                                 requestID: String?) {
        let channel = ConversationChannel.name(conversation)
        // From here on live messages for this channel are buffered for the
        // connection until the store's snapshot arrives.
        unsubscribe(id, from: channel)
        beginResume(id, stream: channel, requestID: requestID, since: since)
        chat.openConversation(conversation, user: principal.user, since: since, limit: Self.replayCap + 1,
                              reply: Reply(on: loop) { [weak self] result in
            self?.finishSubscribe(id, channel: channel, conversation: conversation, result: result)
        })
    }

    private func finishSubscribe(_ id: ConnectionID, channel: String, conversation: ConversationID,
                                 result: Result<ConversationSnapshot, HubError>) {
        guard let pending = endResume(id, stream: channel) else { return }
        let snapshot: ConversationSnapshot
        switch result {
        case .failure(let error):
            transport?.send(ServerFrame.error(id: pending.requestID, error), to: id)
            return
        case .success(let s): snapshot = s
        }
        var delivered = snapshot.lastSeq
        var recovered: Bool?
        if let since = pending.since {
            let frames = since > snapshot.lastSeq || snapshot.messages.count > Self.replayCap
                ? nil : replayFrames(snapshot.messages.map { ServerFrame.message($0, replay: true) })
            if let frames {
                recovered = true
                for frame in frames { transport?.send(frame, to: id) }
                delivered = max(snapshot.lastSeq, snapshot.messages.last?.seq ?? since)
            } else {
                // Too much to replay (in count or bytes), or a cursor from the
                // future (keeping it would drop every live message up to it):
                // `recovered: false` with the true position.
                recovered = false
            }
        }
        transport?.send(ServerFrame.conversationSubscribed(id: pending.requestID, channel: channel, lastSeq: delivered,
                                                           recovered: recovered), to: id)
        // The seam: what was committed while waiting and is not in the
        // replay goes out now, in order, once.
        completeResume(id, stream: channel, pending, deliveredUpTo: delivered)
        subscribe(id, to: channel)
    }

    func send(_ request: SendRequest, from user: String, connection: ConnectionID?, requestID: String?,
              completion: ((Result<SendOutcome, HubError>) -> Void)? = nil) {
        let message = NewMessage(conversation: request.conversation, sender: user, clientMessageID: request.clientMessageID,
                                 kind: MessageKind(rawValue: request.kind) ?? .text, body: request.body,
                                 quoteAmount: request.quoteAmount, quoteCurrency: request.quoteCurrency,
                                 quoteValidUntilMillis: request.quoteValidUntilMillis)
        chat.send(message, reply: Reply(on: loop) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let outcome):
                if let connection {
                    transport?.send(ServerFrame.ack(id: requestID, conversation: outcome.conversation, messageID: outcome.id,
                                                    seq: outcome.seq, createdAtMillis: outcome.createdAtMillis,
                                                    duplicate: outcome.duplicate), to: connection)
                }
                if !outcome.duplicate { deliver(message, outcome, from: connection) }
            case .failure(let error):
                if let connection { transport?.send(ServerFrame.error(id: requestID, error), to: connection) }
            }
            completion?(result)
        })
    }

    /// Fans a committed message out: subscribers (and waiting subscribers)
    /// get the message, connected members who are not subscribed a notice.
    /// Fans out a `system` message committed by another action (contracts,
    /// payments) as if it had been sent.
    func deliverSystemMessage(_ m: StoredMessage, members: [String]) {
        let message = NewMessage(conversation: m.conversation, sender: m.sender, clientMessageID: m.clientMessageID,
                                 kind: .system, body: m.body)
        deliver(message, SendOutcome(id: m.id, conversation: m.conversation, seq: m.seq, createdAtMillis: m.createdAtMillis,
                                     duplicate: false, members: members), from: nil)
    }

    private func deliver(_ message: NewMessage, _ outcome: SendOutcome, from sender: ConnectionID?) {
        let channel = ConversationChannel.name(outcome.conversation)
        tookPart(message.sender, members: outcome.members)
        let frame = ServerFrame.message(ServerFrame.MessageFields(
            conversation: outcome.conversation, id: outcome.id, seq: outcome.seq, sender: message.sender,
            clientMessageID: message.clientMessageID, kind: message.kind.rawValue, body: message.body,
            createdAtMillis: outcome.createdAtMillis), replay: false)
        // A commit visible to the subscribe's read before its answer reached
        // the loop was in the replay already: not again (the stream position).
        publish(Publication(channel: channel, frame: frame, position: StreamPosition(stream: channel, seq: outcome.seq)))
        var notice: OutboundFrame?
        for member in outcome.members {
            let shared = notice ?? ServerFrame.notice(conversation: outcome.conversation, messageID: outcome.id, seq: outcome.seq,
                                                      sender: message.sender, kind: message.kind.rawValue)
            notice = shared
            // Members with no device watching the conversation get a notice;
            // the sending connection has its ack, its other devices the notice.
            publish(Publication(channel: ChannelName.user(member), frame: shared,
                                excluding: sender.map(PublicationExclusion.connection), unlessWatching: channel))
        }
    }
}
