// Notifications on the loop: committed first, then pushed to every connection
// of the user; a connection that came with `since` first gets what it missed
// (replay), then live, with no gap and no duplicate at the seam.
import SwitchboardWire
#if canImport(Glibc)
import Glibc
#endif

extension Hub {
    /// Most notifications replayed on connect; past it `recovered: false`.
    static let notificationReplayCap = 1_000

    /// Where live notifications wait for a connection whose replay is running.
    static func notificationSeam(_ user: String) -> String { "notifications:" + user }

    /// Pushes committed notifications to their users' connections.
    func pushNotifications(_ list: [StoredNotification]) {
        // Fault injection for the crash test: die after the commit, before the push.
        if configuration.failpoints.contains(.crashAfterNotifyCommit) { abort() }
        for n in list {
            // A connection replaying its missed notifications gets this one
            // after the replay, or in it: never twice (the stream position).
            publish(Publication(channel: ChannelName.user(n.user), frame: ServerFrame.notification(n, replay: false),
                                position: StreamPosition(stream: Self.notificationSeam(n.user), seq: n.id)))
        }
    }

    /// Starts the replay of a just-admitted connection that asked for `since`.
    func beginNotificationReplay(_ id: ConnectionID, user: String, since: Int64, requestID: String?) {
        let seam = Self.notificationSeam(user)
        beginResume(id, stream: seam, requestID: requestID, since: since)
        notifications.notificationsSince(user: user, since: since, limit: Self.notificationReplayCap + 1) { [weak self] result in
            self?.finishNotificationReplay(id, user: user, since: since, result)
        }
    }

    private func finishNotificationReplay(_ id: ConnectionID, user: String, since: Int64,
                                          _ result: Result<MissedNotifications, StoreError>) {
        guard let pending = endResume(id, stream: Self.notificationSeam(user)) else { return }
        var last = since
        var recovered = true
        switch result {
        case .success(let missed) where since > missed.newestID:
            // A cursor from the future: keeping it would silently drop every
            // live notification up to it. Say so, with the true position.
            recovered = false
            last = missed.newestID
        case .success(let missed) where missed.items.count <= Self.notificationReplayCap:
            guard let frames = replayFrames(missed.items.map { ServerFrame.notification($0, replay: true) }) else {
                recovered = false
                break
            }
            for frame in frames { transport?.send(frame, to: id) }
            last = max(last, missed.items.last?.id ?? last)
        case .success:
            recovered = false
        case .failure:
            recovered = false
            transport?.send(ServerFrame.error(id: nil, code: .unavailable,
                                              message: "notification replay failed; page GET /v1/notifications?after="), to: id)
        }
        transport?.send(ServerFrame.notificationsReplayed(id: pending.requestID, channel: ChannelName.user(user),
                                                          lastID: last, recovered: recovered), to: id)
        // The seam: what was committed while the replay was read and is not
        // in it goes out now, in order, once.
        completeResume(id, stream: Self.notificationSeam(user), pending, deliveredUpTo: last)
    }
}
