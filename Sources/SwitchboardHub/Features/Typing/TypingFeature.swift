// Typing indicators: a member subscribed to a conversation says `typing`;
// the conversation's other subscribers hear it (throttled), and an active
// state nobody refreshes ends by itself.
import SwitchboardWire

/// The typing feature.
public final class TypingFeature: HubFeature {
    private unowned var hub: Hub!
    private var tracker = TypingTracker()

    /// Typing indicators.
    public init() {}

    public func install(on hub: Hub) {
        self.hub = hub
        hub.handleFrames("typing") { [unowned self] call in
            guard case .typing(let conversation, let active) = call.frame else { return }
            typing(
                conversation: conversation, active: active, user: call.principal.user, connection: call.connection,
                now: call.nowMillis)
        }
        hub.every(millis: 250) { [unowned self] in
            for stop in tracker.tick(nowMillis: hub.clock.nowMillis()) {
                relay(conversation: stop.conversation, user: stop.user, active: false)
            }
        }
    }

    private func typing(conversation: ConversationID, active: Bool, user: String, connection: ConnectionID, now: Int64) {
        // Being subscribed proves membership (checked by the store on subscribe).
        guard hub.isSubscribed(connection, to: ConversationChannel.name(conversation)) else {
            hub.refuse(HubError(.forbidden, "subscribe to the conversation before typing"), requestID: nil, on: connection)
            return
        }
        if case .relay(let shown) = tracker.typing(conversation: conversation, user: user, active: active, nowMillis: now) {
            relay(conversation: conversation, user: user, active: shown)
        }
    }

    /// Sends `typing` to the conversation's subscribers except the typist's own connections.
    private func relay(conversation: ConversationID, user: String, active: Bool) {
        hub.publish(
            Publication(
                channel: ConversationChannel.name(conversation),
                frame: ServerFrame.typing(conversation: conversation, user: user, active: active),
                excluding: .user(user)))
    }
}
