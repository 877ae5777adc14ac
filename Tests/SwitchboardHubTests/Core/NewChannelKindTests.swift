// The core's extension point, proven from outside it: a feature that adds a
// channel kind is one kind (this file's `RoomChannels`) plus one
// `hub.register` line; subscribe, server publish and delivery need no change
// in the core.
import Logging
import SwitchboardAuth
import SwitchboardWire
import Testing
import SwitchboardHub
import SwitchboardHubTesting

/// `room:<name>`: any authenticated user may join; backends publish to it.
private final class RoomChannels: ChannelKind {
    unowned let hub: Hub
    init(hub: Hub) { self.hub = hub }
    let prefix = "room"
    func accepts(_ rest: String) -> Bool { rest.utf8.count <= 32 }
    var acceptsServerPublish: Bool { true }
    func subscribe(_ request: SubscribeRequest) { hub.confirm(request) }
}

private final class RoomsFeature: HubFeature {
    func install(on hub: Hub) { hub.register(RoomChannels(hub: hub)) }
}

@Suite struct NewChannelKindTests {
    @Test func aRegisteredKindIsSubscribableAndPublishedToWithoutTouchingTheCore() {
        let transport = RecordingTransport()
        let clock = ManualClock()
        let secret = Array("test-secret-test-secret-test-sec".utf8)
        let config = HubConfiguration(
            jwt: JWTConfiguration(hmacSecret: secret),
            apiKeys: try! APIKeyRing(entries: ["pusher:backend-key-0123456789"]))
        let hub = Hub(
            configuration: config, loop: ImmediateLoop(), clock: clock, store: RecordingStore(),
            metrics: HubMetrics(), logger: Logger(label: "test"))
        hub.transport = transport
        func subscribe() {
            Array(#"{"type":"subscribe","id":"s","channel":"room:lobby"}"#.utf8).withUnsafeBytes { hub.textReceived(1, $0) }
        }
        let token = JWTSigner.hs256(Claims(subject: "alice", role: "user", expiresAt: clock.millis / 1000 + 600), secret: secret)
        hub.connectionOpened(1, token: token)

        subscribe()  // unknown kind before the feature is installed
        #expect(transport.lastError(to: 1) == "bad_channel")

        hub.install(RoomsFeature())
        subscribe()
        #expect(transport.types(to: 1).last == "subscribed")
        #expect(hub.publish(channel: "room:lobby", data: Array(#"{"n":1}"#.utf8)) == 1)
        #expect(transport.types(to: 1).last == "publication")
        hub.handleHTTP(
            HTTPRequest(
                method: "POST", path: "/v1/publish", apiKey: "backend-key-0123456789",
                body: Array(#"{"channel":"room:lobby","data":2}"#.utf8)), id: 1)
        #expect(transport.responses[1]?.status == 200)
        #expect(transport.frames(to: 1).last?["data"] == .int(2))
    }
}
