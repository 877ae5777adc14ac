// How a feature plugs into the core. A feature is an object that owns its
// state and its store port; `install(on:)` registers what it adds — channel
// kinds, client frames, routes, reactions to connections coming and going,
// periodic work. The core names no feature; the composition root (the
// executable, the test fixture) installs them.
import SwitchboardWire

/// A feature of the hub.
public protocol HubFeature: AnyObject {
    /// Registers the feature's channel kinds, frames, routes, hooks and
    /// periodic work. Called once, by `Hub.install`, before the loop runs.
    func install(on hub: Hub)
}

/// A client frame for a feature, from an authenticated connection.
public struct FrameCall: Sendable {
    /// The connection.
    public var connection: ConnectionID
    /// Who sent it.
    public var principal: Principal
    /// The decoded frame.
    public var frame: ClientFrame
    /// When it arrived (ms).
    public var nowMillis: Int64
}

/// A connection just admitted.
public struct Admission: Sendable {
    /// The connection.
    public var connection: ConnectionID
    /// Who it is.
    public var principal: Principal
    /// The id of the frame that authenticated it (nil for a handshake token).
    public var requestID: RequestID?
    /// The resume cursor the client gave (`?since=` or the auth frame's `since`).
    public var since: Int64?
}

/// Holds a connection's `welcome` until `welcome` is called with the user's
/// newest notification (once; the hub ignores it if the connection left).
public typealias WelcomeGate = (Admission, _ welcome: @escaping (ServerFrame.LastNotification) -> Void) -> Void

/// Work the loop runs every `intervalMillis` (at most as often as `Hub.tick`).
struct ScheduledWork {
    var intervalMillis: Int64
    var lastRunMillis: Int64?
    var work: () -> Void
}

extension Hub {
    /// Installs a feature (before the loop runs).
    public func install(_ feature: HubFeature) {
        features.append(feature)
        feature.install(on: self)
    }

    /// The installed feature of a type (tests and the composition reach it here).
    public func feature<F: HubFeature>(_ type: F.Type) -> F? {
        features.lazy.compactMap { $0 as? F }.first
    }

    /// Registers a channel kind; a prefix is owned by one kind.
    public func register(_ kind: ChannelKind) {
        precondition(channelKinds[kind.prefix] == nil, "channel kind '\(kind.prefix)' registered twice")
        channelKinds[kind.prefix] = kind
    }

    /// Handles client frames of `type` (from authenticated connections only).
    public func handleFrames(_ type: String, _ handler: @escaping (FrameCall) -> Void) {
        precondition(frameHandlers[type] == nil, "frame type '\(type)' handled twice")
        frameHandlers[type] = handler
    }

    /// Adds a REST route.
    public func route(_ method: String, _ pattern: String, caller: CallerRule, _ handler: @escaping RouteHandler) {
        routes.add(method, pattern, caller: caller, handler)
    }

    /// Runs `hook` after each connection is admitted (welcome sent).
    public func onAdmission(_ hook: @escaping (Admission) -> Void) { admissionHooks.append(hook) }

    /// Holds every `welcome` until `gate` calls back (one gate: the
    /// notifications feature, which looks up the newest notification).
    public func gateWelcome(_ gate: @escaping WelcomeGate) {
        precondition(welcomeGate == nil, "welcome gated twice")
        welcomeGate = gate
    }

    /// Handles a subscribe to the caller's own `user:` channel with `since`
    /// (the notifications feature replays what came after it).
    public func resumeUserChannel(_ handler: @escaping (SubscribeRequest) -> Void) {
        precondition(userChannelResume == nil, "user channel resumed twice")
        userChannelResume = handler
    }

    /// Runs `hook` after an admitted connection closed.
    public func onDeparture(_ hook: @escaping (ConnectionID, Principal) -> Void) { departureHooks.append(hook) }

    /// Runs `work` on the loop every `millis` (checked on each `tick`).
    public func every(millis: Int64, _ work: @escaping () -> Void) {
        scheduled.append(ScheduledWork(intervalMillis: millis, lastRunMillis: nil, work: work))
    }

    /// The channel kind of a well-formed name, with the name's rest.
    func channelKind(of name: String) -> (ChannelKind, String)? {
        guard let (prefix, rest) = ChannelName.split(name), let kind = channelKinds[prefix], kind.accepts(rest) else {
            return nil
        }
        return (kind, rest)
    }
}
