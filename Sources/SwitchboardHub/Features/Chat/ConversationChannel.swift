// `conversation:<id>`: a conversation's messages, typing and receipts; its
// members may subscribe (the store decides membership on subscribe).

/// Conversation channel names.
public enum ConversationChannel {
    /// The channel of a conversation.
    public static func name(_ id: ConversationID) -> String { "conversation:" + String(id) }
    /// The conversation of a channel's rest (after `conversation:`).
    public static func id(rest: String) -> ConversationID? { ChannelName.positiveID(rest) }
}
