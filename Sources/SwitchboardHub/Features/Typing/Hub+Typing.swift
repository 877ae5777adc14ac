// Typing indicators and read receipts on the loop.
import SwitchboardWire

extension Hub {
    func typingFrame(conversation: ConversationID, active: Bool, user: String, connection: ConnectionID, now: Int64) {
        let channel = Channel.conversation(conversation).name
        // Being subscribed proves membership (checked by the store on subscribe).
        guard registry.subscribers(of: channel).contains(connection) else {
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
        let own = registry.subscribers(of: Channel.user(user).name)
        let frame = ServerFrame.typing(conversation: conversation, user: user, active: active)
        for id in registry.subscribers(of: Channel.conversation(conversation).name) where !own.contains(id) {
            transport?.send(frame, to: id)
        }
    }

    func markRead(conversation: ConversationID, seq: Int64, user: String, connection: ConnectionID?, requestID: String?,
                  completion: ((Result<Int64, HubError>) -> Void)? = nil) {
        chat.markRead(conversation, user: user, seq: seq, reply: Reply(on: loop) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let stored):
                if let connection {
                    transport?.send(ServerFrame.receipt(id: requestID, conversation: conversation, user: user, seq: stored), to: connection)
                }
                let frame = ServerFrame.receipt(id: nil, conversation: conversation, user: user, seq: stored)
                for id in registry.subscribers(of: Channel.conversation(conversation).name) where id != connection {
                    transport?.send(frame, to: id)
                }
            case .failure(let error):
                if let connection { transport?.send(ServerFrame.error(id: requestID, error), to: connection) }
            }
            completion?(result)
        })
    }
}
