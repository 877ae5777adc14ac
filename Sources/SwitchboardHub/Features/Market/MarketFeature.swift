// The market: projects, contracts, milestones and payments over REST. Input
// is validated here; every rule about who may do what and in which state is
// decided in SQL by the store, which answers with entities; the status (201
// for what a route creates, 200 otherwise) and the JSON are chosen here. The
// notifications and system messages a change committed are published.
import SwitchboardWire

/// The market feature: owns the market store and the payment provider.
public final class MarketFeature: HubFeature {
    let store: MarketStore
    private(set) unowned var hub: Hub!
    /// Publishes the notifications market changes commit.
    private let notifications: NotificationsFeature
    /// Publishes the system messages market changes post in conversations.
    private let chat: ChatFeature
    /// Charges escrowed payments (the built-in sandbox by default).
    public var paymentProvider: PaymentProvider

    /// The market over `store`, charging through `paymentProvider`;
    /// notifications go out through `notifications`, system messages through `chat`.
    public init(
        store: MarketStore, notifications: NotificationsFeature, chat: ChatFeature,
        paymentProvider: PaymentProvider = SandboxPaymentProvider()
    ) {
        self.store = store
        self.notifications = notifications
        self.chat = chat
        self.paymentProvider = paymentProvider
    }

    public func install(on hub: Hub) {
        self.hub = hub
        func route(
            _ method: String, _ pattern: String, caller: CallerRule = .userOrBackend,
            _ handler: @escaping (MarketFeature, RouteCall, Actor) throws(HubError) -> HTTPResponse?
        ) {
            hub.route(method, pattern, caller: caller) { [unowned self] call throws(HubError) in
                try handler(self, call, Self.actor(call))
            }
        }
        route("POST", "/v1/projects") { f, call, actor throws(HubError) in try f.createProject(call, actor) }
        route("GET", "/v1/projects/{project}") { f, call, actor throws(HubError) in
            let project = try Self.entity(call, "project")
            try f.storeUp()
            f.store.project(project, actor: actor, reply: f.answer(call, 200, \.json))
            return nil
        }
        route("POST", "/v1/projects/{project}/contracts") { f, call, actor throws(HubError) in try f.createContract(call, actor) }
        route("POST", "/v1/projects/{project}/payments") { f, call, actor throws(HubError) in try f.createPayment(call, actor) }
        route("POST", "/v1/projects/{project}/milestones") { f, call, actor throws(HubError) in
            let project = try Self.entity(call, "project")
            let body = try call.jsonObject()
            try f.storeUp()
            let milestone = try MilestoneInput(body)
            f.store.createMilestone(project: project, milestone, actor: actor, reply: f.answer(call, 201) { $0.json() })
            return nil
        }
        route("POST", "/v1/projects/{project}/milestones/{milestone}/complete") { f, call, actor throws(HubError) in
            let project = try Self.entity(call, "project")
            try f.storeUp()
            let milestone = try call.id("milestone", notFound: "no such milestone")
            f.store.completeMilestone(
                project: project, milestone: milestone, actor: actor, reply: f.answer(call, 200) { $0.json() })
            return nil
        }
        route("POST", "/v1/projects/{project}/milestones/{milestone}/approve") { f, call, actor throws(HubError) in
            let project = try Self.entity(call, "project")
            try f.storeUp()
            let milestone = try call.id("milestone", notFound: "no such milestone")
            f.store.approveMilestone(
                project: project, milestone: milestone, actor: actor, reply: f.answer(call, 200) { $0.json() })
            return nil
        }
        route("GET", "/v1/contracts/{contract}") { f, call, actor throws(HubError) in
            let contract = try Self.entity(call, "contract")
            try f.storeUp()
            f.store.contract(contract, actor: actor, reply: f.answer(call, 200, \.json))
            return nil
        }
        route("POST", "/v1/contracts/{contract}/sign") { f, call, actor throws(HubError) in
            let contract = try Self.entity(call, "contract")
            try f.storeUp()
            f.store.sign(contract: contract, actor: actor, reply: f.answer(call, 200, \.json))
            return nil
        }
        route("POST", "/v1/contracts/{contract}/amend") { f, call, actor throws(HubError) in
            let contract = try Self.entity(call, "contract")
            let body = try call.jsonObject()
            try f.storeUp()
            let terms = try Self.terms(body)
            f.store.amend(contract: contract, terms: terms, actor: actor, reply: f.answer(call, 201, \.json))
            return nil
        }
        route("GET", "/v1/payments") { f, call, actor throws(HubError) in try f.listPayments(call, actor) }
        // No store involved: computed from the body alone, whatever it is.
        route("POST", "/v1/payments/calculate-fee") { _, call, _ throws(HubError) in
            try Self.calculateFee((try? call.jsonObject()) ?? .object([:]))
        }
        // Users are refused by the handler, with the provider's wording.
        route("POST", "/v1/payments/webhook/sandbox") { f, call, actor throws(HubError) in try f.providerEvent(call, actor) }
        route("POST", "/v1/payments/{payment}/release") { f, call, actor throws(HubError) in
            let payment = try Self.entity(call, "payment")
            try f.storeUp()
            f.store.release(payment: payment, actor: actor, reply: f.answer(call, 200, \.json))
            return nil
        }
        route("POST", "/v1/payments/{payment}/refund") { f, call, actor throws(HubError) in try f.refund(call, actor) }
    }

    // MARK: Answers

    /// The reply to a read: `status` with the entity rendered, or the error.
    func answer<T: Sendable>(_ call: RouteCall, _ status: Int, _ render: @escaping @Sendable (T) -> JSON) -> Reply<T> {
        let id = call.id
        return Reply(on: hub.loop, to: self) { market, result in
            switch result {
            case .success(let value): market.hub.respond(id, .json(status, render(value)))
            case .failure(let error): market.hub.respond(id, .error(error))
            }
        }
    }

    /// The reply to a change: what it committed is published, then `status`
    /// with the changed entity rendered; or the error.
    func answer<T: Sendable>(
        _ call: RouteCall, _ status: Int,
        _ render: @escaping @Sendable (T) -> JSON
    ) -> Reply<MarketChange<T>> {
        let id = call.id
        return Reply(on: hub.loop, to: self) { market, result in
            switch result {
            case .success(let change):
                market.publish(change)
                market.hub.respond(id, .json(status, render(change.value)))
            case .failure(let error):
                market.hub.respond(id, .error(error))
            }
        }
    }

    /// Publishes what a change committed: its notifications through the
    /// notifications' publication, its system messages through chat's.
    private func publish<T>(_ change: MarketChange<T>) {
        notifications.publish(change.notifications)
        for system in change.systemMessages { chat.deliverSystemMessage(system.message, members: system.members) }
    }

    // MARK: Checks shared by the routes

    static func actor(_ call: RouteCall) -> Actor {
        switch call.caller {
        case .backend(let name)?:
            return Actor(id: ReservedUser.backendPrefix + name, isBackend: true, ip: call.request.clientAddress)
        case .user(let principal)?: return Actor(id: principal.user, isBackend: false, ip: call.request.clientAddress)
        case nil: preconditionFailure("market routes admit users and backends only")
        }
    }

    /// The entity a path names: a positive id, else 404.
    static func entity(_ call: RouteCall, _ name: String) throws(HubError) -> Int64 {
        try call.id(name, notFound: "no such resource")
    }

    /// Refused with 503 while the database is down (after the body was read).
    func storeUp() throws(HubError) {
        guard hub.store.isAvailable else { throw HubError.unavailable }
    }

    static func terms(_ body: JSON) throws(HubError) -> [UInt8] {
        guard let terms = body["terms"], terms.isObject else { throw HubError(.badRequest, "'terms' must be a JSON object") }
        return terms.bytes
    }
}
