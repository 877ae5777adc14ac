// Read receipts on the loop: the store moves the member's read position
// forward; the reader gets `receipt`, the conversation's other subscribers too.
import SwitchboardWire

extension Hub {
    func markRead(conversation: ConversationID, seq: Int64, user: String, connection: ConnectionID?, requestID: String?,
                  completion: ((Result<Int64, HubError>) -> Void)? = nil) {
        chat.markRead(conversation, user: user, seq: seq, reply: Reply(on: loop) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let stored):
                if let connection {
                    transport?.send(ServerFrame.receipt(id: requestID, conversation: conversation, user: user, seq: stored), to: connection)
                }
                publish(Publication(channel: ConversationChannel.name(conversation),
                                    frame: ServerFrame.receipt(id: nil, conversation: conversation, user: user, seq: stored),
                                    excluding: connection.map(PublicationExclusion.connection)))
            case .failure(let error):
                if let connection { transport?.send(ServerFrame.error(id: requestID, error), to: connection) }
            }
            completion?(result)
        })
    }
}
