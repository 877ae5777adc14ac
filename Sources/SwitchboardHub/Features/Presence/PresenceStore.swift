// What presence reads from the store: who shares a conversation with whom,
// and when users were last seen.

/// Presence reads; replies run on the loop.
public protocol PresenceStore: AnyObject {
    /// Everyone who shares a conversation with `user` that `user` took part in.
    func contacts(of user: String, reply: Reply<[String]>)
    /// `last_seen_at` (ms, nil when never disconnected) of those of `users`
    /// who share a conversation with `asker` (and `asker`); the others are left out.
    func presence(asker: String, users: [String], reply: Reply<[String: Int64?]>)
}
