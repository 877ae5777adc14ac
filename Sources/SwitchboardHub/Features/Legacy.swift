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
        self.chat = chat
        self.market = market
        install(TypingFeature())
        install(PresenceFeature(store: chat, graceMillis: configuration.presenceGraceMillis))
        let notices = NotificationsFeature(store: notifications)
        install(notices)
        install(QuotesFeature(store: quotes, notifications: notices))
        install(ScansFeature(store: scans, intervalMillis: configuration.counterIntervalMillis))
        installLegacyFeatures()
    }

    /// The installed presence feature (chat tells it who took part).
    func tookPart(_ member: String, members: [String]) {
        for case let presence as PresenceFeature in features { presence.tookPart(member, members: members) }
    }

    /// Publishes committed notifications through the installed notifications
    /// feature (for Market until it is a feature object that holds it).
    func pushNotifications(_ list: [StoredNotification]) {
        for case let notices as NotificationsFeature in features { notices.publish(list) }
    }

    /// A request body as a JSON object (old routers; routes use `RouteCall.jsonObject`).
    static func jsonBody(_ request: HTTPRequest) -> JSON? {
        guard let json = try? JSON.parse(request.body, maxDepth: RouteCall.maxBodyDepth), json.isObject else { return nil }
        return json
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

    private func installLegacyFeatures() {
        register(LegacyKind(prefix: "conversation", accepts: { ChannelName.positiveID($0) != nil }) { [unowned self] r in
            subscribeToConversation(r.connection, principal: r.principal, conversation: ChannelName.positiveID(r.rest)!,
                                    since: r.since, requestID: r.requestID)
        })
        handleFrames("send") { [unowned self] call in
            guard case .send(let requestID, let request) = call.frame else { return }
            send(request, from: call.principal.user, connection: call.connection, requestID: requestID)
        }
        handleFrames("read") { [unowned self] call in
            guard case .read(let requestID, let conversation, let seq) = call.frame else { return }
            markRead(conversation: conversation, seq: seq, user: call.principal.user, connection: call.connection,
                     requestID: requestID)
        }
        legacyRouters = [
            { [unowned self] in chatRoute($0, id: $1) }, { [unowned self] in messageRoute($0, id: $1) },
            { [unowned self] in marketRoute($0, id: $1) },
        ]
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

/// Why a market operation was refused (old form; Market's slice replaces it
/// with `HubError`, and then this goes).
public enum DomainFailure: Error, Sendable, Equatable {
    case notFound(String)
    case forbidden(String)
    /// The state does not allow it (409).
    case conflict(String)
    /// The same idempotency key with a different request (422).
    case idempotencyMismatch
    case store(StoreError)

    /// The REST answer.
    public var response: HTTPResponse {
        switch self {
        case .notFound(let m): return .error(404, .notFound, m)
        case .forbidden(let m): return .error(403, .forbidden, m)
        case .conflict(let m): return .error(409, .conflict, m)
        case .idempotencyMismatch:
            return .error(422, .idempotencyMismatch, "this idempotency key was used with a different request")
        case .store(let e): return Hub.storeFailure(e)
        }
    }
}
