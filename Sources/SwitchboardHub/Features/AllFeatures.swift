// The composition of Switchboard's features: the one place that names them
// all. The executable, the test fixture and the fuzz targets build the hub here.
import Logging

extension Hub {
    /// A hub with every feature, over these stores.
    public convenience init(
        configuration: HubConfiguration, features settings: FeatureSettings = FeatureSettings(), loop: any HubLoop,
        clock: HubClock, store: HubStore, chat: ChatStore, scans: ScanStore, notifications: NotificationStore,
        quotes: QuoteStore, market: MarketStore, broker: Broker = InProcessBroker(), metrics: HubMetrics, logger: Logger
    ) {
        self.init(
            configuration: configuration, loop: loop, clock: clock, store: store, broker: broker, metrics: metrics,
            logger: logger)
        install(TypingFeature())
        let presence = PresenceFeature(
            store: chat, graceMillis: settings.presenceGraceMillis, nodeTimeoutMillis: settings.nodeTimeoutMillis)
        install(presence)
        let chatFeature = ChatFeature(
            store: chat, presence: presence, crashAfterCommit: settings.failpoints.contains(.crashAfterSendCommit))
        install(chatFeature)
        let notices = NotificationsFeature(
            store: notifications, crashAfterCommit: settings.failpoints.contains(.crashAfterNotifyCommit))
        install(notices)
        install(QuotesFeature(store: quotes, notifications: notices))
        install(ScansFeature(store: scans, intervalMillis: settings.counterIntervalMillis))
        install(MarketFeature(store: market, notifications: notices, chat: chatFeature))
    }
}
