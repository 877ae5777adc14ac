// Typing indicators and read receipts on the loop.
import SwitchboardWire

extension Hub {
    func typingFrame(conversation: ConversationID, active: Bool, user: String, connection: ConnectionID, now: Int64) {
        let channel = Self.conversationChannel(conversation)
        // Being subscribed proves membership (checked by the store on subscribe).
        guard isSubscribed(connection, to: channel) else {
            transport?.send(ServerFrame.error(id: nil, code: .forbidden, message: "subscribe to the conversation before typing"),
                            to: connection)
            return
        }
        if case .relay(let shown) = typing.typing(conversation: conversation, user: user, active: active, nowMillis: now) {
            relayTyping(conversation: conversation, user: user, active: shown)
        }
    }

    /// Sends `typing` to the conversation's subscribers except the typist's own connections.
    func relayTyping(conversation: ConversationID, user: String, active: Bool) {
        publish(Publication(channel: Self.conversationChannel(conversation),
                            frame: ServerFrame.typing(conversation: conversation, user: user, active: active),
                            excluding: .user(user)))
    }

    func markRead(conversation: ConversationID, seq: Int64, user: String, connection: ConnectionID?, requestID: String?,
                  completion: ((Result<Int64, ChatFailure>) -> Void)? = nil) {
        chat.markRead(conversation, user: user, seq: seq) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let stored):
                if let connection {
                    transport?.send(ServerFrame.receipt(id: requestID, conversation: conversation, user: user, seq: stored), to: connection)
                }
                publish(Publication(channel: Self.conversationChannel(conversation),
                                    frame: ServerFrame.receipt(id: nil, conversation: conversation, user: user, seq: stored),
                                    excluding: connection.map(PublicationExclusion.connection)))
            case .failure(let failure):
                if let connection {
                    transport?.send(ServerFrame.error(id: requestID, code: failure.errorCode, message: failure.message), to: connection)
                }
            }
            completion?(result)
        }
    }
}
