// The scan channels: `scans:<qr id>` (one code's counters; its owner or an
// admin) and `scans:owner:<user id>` (every code of a user; that user or an admin).

/// A parsed scan channel name.
enum ScanChannel: Hashable, Sendable {
    case code(QRCodeID)
    case owner(String)

    /// Parses the part after `scans:`.
    init?(rest: String) {
        if rest.hasPrefix("owner:") {
            let owner = String(rest.dropFirst(6))
            guard !owner.isEmpty else { return nil }
            self = .owner(owner)
        } else {
            guard let id = ChannelName.positiveID(rest) else { return nil }
            self = .code(id)
        }
    }

    /// The wire name.
    var name: String {
        switch self {
        case .code(let id): return "scans:" + String(id)
        case .owner(let owner): return "scans:owner:" + owner
        }
    }
}

/// The `scans:` channel kind: subscribing answers `subscribed` and the
/// counters at once (after a snapshot read when they are not in memory).
final class ScanChannels: ChannelKind {
    private unowned let feature: ScansFeature
    init(feature: ScansFeature) { self.feature = feature }
    let prefix = "scans"
    func accepts(_ rest: String) -> Bool { ScanChannel(rest: rest) != nil }
    func subscribe(_ request: SubscribeRequest) {
        guard let channel = ScanChannel(rest: request.rest) else { return }
        feature.subscribe(request, to: channel)
    }
}
