// Transitional wiring while the slices move onto the core API: the old
// Hub-extension code of each feature registered as channel kinds, frames,
// hooks, periodic work and routers. Each slice deletes its part here when it
// becomes a feature object; the file goes when it is empty.
import Logging
import SwitchboardAuth
import SwitchboardWire

/// The outcome of authenticating a REST caller (old routers).
enum CallerCheck {
    case success(RESTCaller)
    case failure(HTTPResponse)
}

extension Hub {
    /// A hub with every feature, over these stores (the old composition).
    public convenience init(configuration: HubConfiguration, loop: any HubLoop, clock: HubClock, store: HubStore,
                            chat: ChatStore, scans: ScanStore, notifications: NotificationStore, quotes: QuoteStore,
                            market: MarketStore, metrics: HubMetrics, logger: Logger) {
        self.init(configuration: configuration, loop: loop, clock: clock, store: store, metrics: metrics, logger: logger)
        install(TypingFeature())
        let presence = PresenceFeature(store: chat, graceMillis: configuration.presenceGraceMillis)
        install(presence)
        let chatFeature = ChatFeature(store: chat, presence: presence)
        install(chatFeature)
        let notices = NotificationsFeature(store: notifications)
        install(notices)
        install(QuotesFeature(store: quotes, notifications: notices))
        install(ScansFeature(store: scans, intervalMillis: configuration.counterIntervalMillis))
        install(MarketFeature(store: market, notifications: notices, chat: chatFeature))
    }

    /// Publishes committed notifications through the installed notifications
    /// feature (the notification tests still push through the hub).
    func pushNotifications(_ list: [StoredNotification]) {
        for case let notices as NotificationsFeature in features { notices.publish(list) }
    }

    /// Authenticates a REST caller (old routers).
    func caller(of request: HTTPRequest) -> CallerCheck {
        do throws(HubError) {
            return .success(try authenticate(request))
        } catch {
            return .failure(.error(error, headers: ["WWW-Authenticate": "Bearer"]))
        }
    }

    static let unavailable = HTTPResponse.error(.unavailable)

    /// The old store-failure rendering, still used by the notification routes.
    static func storeFailure(_ error: StoreError) -> HTTPResponse {
        error.code == .overloaded ? .error(.storeBusy) : .error(error.hubError)
    }
}

/// A channel kind whose subscribe is old Hub-extension code.
final class LegacyKind: ChannelKind {
    let prefix: String
    private let acceptsRest: (String) -> Bool
    private let subscribeRequest: (SubscribeRequest) -> Void
    init(prefix: String, accepts: @escaping (String) -> Bool, subscribe: @escaping (SubscribeRequest) -> Void) {
        self.prefix = prefix
        self.acceptsRest = accepts
        self.subscribeRequest = subscribe
    }
    func accepts(_ rest: String) -> Bool { acceptsRest(rest) }
    func subscribe(_ request: SubscribeRequest) { subscribeRequest(request) }
}
