// The members of conversations, remembered from sends' answers so that a
// batch reads members only for conversations it has not met before: their
// lookup was about a fifth of the send statement's cost (issue 12).
import Synchronization

/// Members by conversation. A conversation's members never change once it
/// exists: `createConversation` inserts them with it, from its participants
/// key, and nothing adds or removes one. So an entry never goes stale; if
/// membership ever becomes changeable, this cache must learn of the change.
final class MemberCache: Sendable {
    private let entries = Mutex<[ConversationKey: [String]]>([:])
    /// Most conversations remembered; past it the cache starts over.
    let limit: Int

    typealias ConversationKey = Int64

    init(limit: Int = 100_000) { self.limit = limit }

    func members(of conversation: ConversationKey) -> [String]? { entries.withLock { $0[conversation] } }

    func remember(_ members: [String], of conversation: ConversationKey) {
        entries.withLock { entries in
            if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
            entries[conversation] = members
        }
    }
}
