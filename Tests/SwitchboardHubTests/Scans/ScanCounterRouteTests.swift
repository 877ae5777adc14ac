// The scan REST routes in process (over FakeScanStore): registering and
// listing codes, ingest limits and per-item results, stats ranges, routing,
// and every refusal rendered the one way (status from the code, uniform
// body, Retry-After from the hint).
import Logging
import SwitchboardAuth
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

/// A response as the tests read it.
struct ScanAnswer {
    var status: Int
    var headers: [String: String]
    var json: JSON?
    var code: String? { json?["error"]?["code"]?.stringValue }
    var message: String? { json?["error"]?["message"]?.stringValue }
}

enum ScanCaller {
    case user(String), admin(String), backend, anonymous
}

extension HubFixture {
    /// Sends one request, lets the fake store answer, returns the response.
    func scanCall(
        _ method: String, _ path: String, as caller: ScanCaller, query: [String: String] = [:],
        body: String = ""
    ) -> ScanAnswer? {
        var request = HTTPRequest(method: method, path: path, query: query, body: Array(body.utf8))
        switch caller {
        case .user(let name): request.authorization = "Bearer " + token(name)
        case .admin(let name): request.authorization = "Bearer " + token(name, role: "admin")
        case .backend: request.apiKey = HubFixture.apiKey
        case .anonymous: break
        }
        hub.handleHTTP(request, id: 1)
        scans.flush()
        guard let response = transport.responses.removeValue(forKey: 1) else { return nil }
        return ScanAnswer(status: response.status, headers: response.headers, json: try? JSON.parse(response.body))
    }
}

@Suite struct ScanRouteTests {
    @Test func codesAreRegisteredForTheCallerOrTheNamedOwner() {
        let f = HubFixture()
        let mine = f.scanCall(
            "POST", "/v1/qr-codes", as: .user("shop"), body: #"{"label":"Door","target":"https://shop.example/x"}"#)
        #expect(mine?.status == 201)
        #expect(mine?.json?["owner"] == .string("shop"))
        #expect(mine?.json?["label"] == .string("Door"))
        let id = mine?.json?["id"]?.stringValue ?? "?"
        #expect(mine?.json?["channel"] == .string("scans:" + id))

        let other = #"{"label":"L","target":"https://x.example","owner":"bob"}"#
        let forbidden = f.scanCall("POST", "/v1/qr-codes", as: .user("shop"), body: other)
        #expect(forbidden?.status == 403 && forbidden?.code == "forbidden")
        #expect(forbidden?.message == "users register codes for themselves")
        #expect(f.scanCall("POST", "/v1/qr-codes", as: .admin("root"), body: other)?.json?["owner"] == .string("bob"))
        #expect(f.scanCall("POST", "/v1/qr-codes", as: .backend, body: other)?.status == 201)
        let noOwner = f.scanCall("POST", "/v1/qr-codes", as: .backend, body: #"{"label":"L","target":"https://x.example"}"#)
        #expect(noOwner?.status == 400 && noOwner?.code == "missing_field" && noOwner?.message == "missing field 'owner'")

        let badLabel = f.scanCall("POST", "/v1/qr-codes", as: .user("shop"), body: #"{"label":"","target":"https://x.example"}"#)
        #expect(badLabel?.status == 400 && badLabel?.code == "bad_request")
        #expect(badLabel?.message == "'label' must be a string of 1 to 200 bytes")
        let script = f.scanCall("POST", "/v1/qr-codes", as: .user("shop"), body: #"{"label":"L","target":"javascript:alert(1)"}"#)
        #expect(script?.status == 400 && script?.code == "bad_request")
        let badOwner = f.scanCall(
            "POST", "/v1/qr-codes", as: .backend, body: #"{"label":"L","target":"https://x.example","owner":7}"#)
        #expect(badOwner?.status == 400 && badOwner?.message == "'owner' must be a user id")
        let notObject = f.scanCall("POST", "/v1/qr-codes", as: .user("shop"), body: "[1]")
        #expect(notObject?.status == 400 && notObject?.code == "bad_json" && notObject?.message == "body must be a JSON object")
        #expect(f.scans.codes.count == 3)  // only the three accepted ones reached the store
    }

    @Test func usersListTheirOwnCodesAdminsAndBackendsNameTheOwner() {
        let f = HubFixture()
        f.scans.register(owner: "shop", label: "A")
        f.scans.register(owner: "bob", label: "B")
        let own = f.scanCall("GET", "/v1/qr-codes", as: .user("shop"))
        #expect(own?.status == 200)
        #expect(own?.json?["codes"]?[0]?["label"] == .string("A"))
        #expect(own?.json?["codes"]?[1] == nil)
        #expect(f.scans.listsAsked.last?.limit == ScansFeature.codeListCap)
        let other = f.scanCall("GET", "/v1/qr-codes", as: .user("shop"), query: ["owner": "bob"])
        #expect(other?.status == 403 && other?.message == "users list their own codes")
        #expect(
            f.scanCall("GET", "/v1/qr-codes", as: .admin("root"), query: ["owner": "bob"])?.json?["codes"]?[0]?["label"]
                == .string("B"))
        let unnamed = f.scanCall("GET", "/v1/qr-codes", as: .backend)
        #expect(unnamed?.status == 400 && unnamed?.code == "missing_field")
        #expect(unnamed?.message == "missing query parameter 'owner'")
        #expect(f.scanCall("GET", "/v1/qr-codes", as: .backend, query: ["owner": "bob"])?.status == 200)
    }

    @Test func pathsOutsideTheRoutesAre404AndOtherMethods405() {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop")
        for (method, path) in [("GET", "/v1/scans"), ("DELETE", "/v1/qr-codes"), ("POST", "/v1/qr-codes/\(qr)/stats")] {
            let answer = f.scanCall(method, path, as: .user("shop"))
            #expect(answer?.status == 405 && answer?.code == "method_not_allowed", "\(method) \(path)")
        }
        for path in ["/v1/qr-codes/abc/stats", "/v1/qr-codes/0/stats", "/v1/qr-codes/-3/stats"] {
            let answer = f.scanCall("GET", path, as: .user("shop"))
            #expect(answer?.status == 404 && answer?.message == "no such QR code", "\(path)")
        }
        let deep = f.scanCall("GET", "/v1/scans/1", as: .user("shop"))
        #expect(deep?.status == 404 && deep?.message == "no such endpoint")
        #expect(f.scanCall("GET", "/v1/qr-codes", as: .anonymous)?.status == 401)
        // The store knows no such code.
        #expect(f.scanCall("GET", "/v1/qr-codes/\(qr + 1)/stats", as: .user("shop"))?.status == 404)
    }

    @Test func aBatchHoldsOneToAThousandScansAndEachIsCheckedWhereItEnters() {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop")
        func batch(_ n: Int) -> String {
            "{\"scans\":[" + Array(repeating: "{\"qr\":\(qr)}", count: n).joined(separator: ",") + "]}"
        }
        let full = f.scanCall("POST", "/v1/scans", as: .backend, body: batch(ScanRequest.maxBatch))
        #expect(full?.status == 200 && full?.json?["accepted"] == .int(1000))
        for body in [batch(ScanRequest.maxBatch + 1), #"{"scans":[]}"#] {
            let answer = f.scanCall("POST", "/v1/scans", as: .backend, body: body)
            #expect(answer?.status == 400 && answer?.code == "bad_request" && answer?.message == "a batch holds 1 to 1000 scans")
        }
        let cases: [(body: String, code: String, message: String)] = [
            ("not json", "bad_json", "body must be JSON"),
            ("[1]", "bad_json", "body must be a JSON object"),
            (#"{"scans":{}}"#, "bad_request", "'scans' must be an array"),
            (#"{"scans":[{"qr":\#(qr)},{"device":"x"}]}"#, "missing_field", "scans[1]: missing field 'qr'"),
            (#"{"qr":"x"}"#, "bad_request", "scans[0]: 'qr' must be a QR code id"),
            (
                #"{"qr":\#(qr),"at":\#(f.clock.millis + 5 * 60_000 + 1)}"#, "bad_request",
                "scans[0]: 'at' must be within the last 30 days and at most 5 minutes ahead"
            ),
            (#"{"qr":\#(qr),"device":"a b"}"#, "bad_request", "scans[0]: 'device' must be letters, digits, '-' or '_'"),
            (#"{"qr":\#(qr),"country":"R1"}"#, "bad_request", "scans[0]: 'country' must be an ISO 3166-1 alpha-2 code"),
            (#"{"qr":\#(qr),"os":""}"#, "bad_request", "scans[0]: 'os' must be a string of 1 to 64 bytes"),
        ]
        for c in cases {
            let answer = f.scanCall("POST", "/v1/scans", as: .backend, body: c.body)
            #expect(answer?.status == 400 && answer?.code == c.code && answer?.message == c.message, "\(c.body)")
        }
        #expect(f.scans.ingested.count == 1)  // refused bodies never reach the store
        _ = f.scanCall(
            "POST", "/v1/scans", as: .backend,
            body: #"{"qr":"\#(qr)","at":\#(f.clock.millis - 1000),"device":"Mobile","country":"ro","event_id":"e1"}"#)
        #expect(
            f.scans.ingested.last == [
                ScanInput(
                    qr: qr, atMillis: f.clock.millis - 1000, device: "mobile", country: "RO",
                    eventID: "e1")
            ])
    }

    @Test func theIngestAnswerCountsAcceptedDuplicatesAndNamesUnknownCodes() {
        let f = HubFixture()
        f.scans.nextIngest = IngestOutcome(accepted: 2, duplicates: 1, unknownCodes: [1, 4], counts: [])
        let answer = f.scanCall(
            "POST", "/v1/scans", as: .backend, body: #"{"scans":[{"qr":1},{"qr":2},{"qr":3},{"qr":4},{"qr":5}]}"#)
        #expect(answer?.status == 200)
        #expect(
            answer?.json
                == .object([
                    "accepted": .int(2), "duplicates": .int(1),
                    "rejected": .array([
                        .object(["index": .int(1), "code": .string("unknown_qr")]),
                        .object(["index": .int(4), "code": .string("unknown_qr")]),
                    ]),
                ]))
    }

    /// Stats answered a backend as they did before the route table: a path
    /// naming no code is 404 whoever asks, a backend is refused in the
    /// route's own words.
    @Test func statsRefuseABackendInTheirOwnWordsAfterThePath() {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop")
        let backend = f.scanCall("GET", "/v1/qr-codes/\(qr)/stats", as: .backend)
        #expect(backend?.status == 403 && backend?.message == "stats are for the code's owner")
        let nothing = f.scanCall("GET", "/v1/qr-codes/abc/stats", as: .backend)
        #expect(nothing?.status == 404 && nothing?.message == "no such QR code")
        #expect(f.scans.statsAsked.isEmpty)
    }

    @Test func statsRangesAreWholeBucketsWithinTheCap() throws {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop")
        let path = "/v1/qr-codes/\(qr)/stats"
        let hour = ScanBucket.hour.millis
        let endOfHour = (f.clock.millis / hour + 1) * hour
        let standard = f.scanCall("GET", path, as: .user("shop"), query: ["bucket": "hour"])
        #expect(standard?.status == 200)
        let asked = try #require(f.scans.statsAsked.last)
        #expect(
            asked.qr == qr && asked.bucket == .hour && asked.toMillis == endOfHour && asked.fromMillis == endOfHour - 24 * hour)
        #expect(standard?.json?["from"] == .int(endOfHour - 24 * hour) && standard?.json?["to"] == .int(endOfHour))
        #expect(standard?.json?["qr"] == .string(String(qr)) && standard?.json?["bucket"] == .string("hour"))

        // `from` rounds down, `to` up, to whole buckets.
        _ = f.scanCall(
            "GET", path, as: .user("shop"),
            query: [
                "bucket": "day", "from": "2026-11-21T10:00:00Z",
                "to": "2026-11-22T00:00:00.001Z",
            ])
        let day = try #require(f.scans.statsAsked.last)
        #expect(day.fromMillis == 1_795_219_200_000 && day.toMillis == 1_795_219_200_000 + 2 * ScanTime.dayMillis)

        let cap = Int64(ScansFeature.statsPointCap) * ScanTime.minuteMillis
        #expect(f.scanCall("GET", path, as: .user("shop"), query: ["from": "0", "to": String(cap)])?.status == 200)
        let over = f.scanCall("GET", path, as: .user("shop"), query: ["from": "0", "to": String(cap + 1)])
        #expect(over?.status == 400 && over?.message == "at most 10080 buckets per request; use a larger bucket")
        let backwards = f.scanCall("GET", path, as: .user("shop"), query: ["from": "120000", "to": "60000"])
        #expect(backwards?.status == 400 && backwards?.message == "'from' must be before 'to'")
        let badTo = f.scanCall("GET", path, as: .user("shop"), query: ["to": "10000-01-01T00:00:00Z"])
        #expect(badTo?.status == 400 && badTo?.message == "'to' must be ms since the epoch (up to year 9999) or RFC 3339")
        let badBucket = f.scanCall("GET", path, as: .user("shop"), query: ["bucket": "week"])
        #expect(badBucket?.message == "'bucket' must be minute, hour or day")
        #expect(f.scans.statsAsked.count == 3)  // refused ranges never reach the store

        #expect(f.scanCall("GET", path, as: .admin("root"))?.status == 200)
        let backend = f.scanCall("GET", path, as: .backend)
        // As before the route table (46150cd): a backend is told who stats are for.
        #expect(backend?.status == 403 && backend?.message == "stats are for the code's owner")
        let stranger = f.scanCall("GET", path, as: .user("mallory"))
        #expect(stranger?.status == 403 && stranger?.message == "only the code's owner or an admin may read its stats")
    }

    @Test func storeRefusalsAreRenderedOneWayOnEveryRoute() {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop")
        let routes: [(String, String, ScanCaller, String)] = [
            ("POST", "/v1/scans", .backend, #"{"qr":\#(qr)}"#),
            ("POST", "/v1/qr-codes", .user("shop"), #"{"label":"L","target":"https://x.example"}"#),
            ("GET", "/v1/qr-codes", .user("shop"), ""),
            ("GET", "/v1/qr-codes/\(qr)/stats", .user("shop"), ""),
        ]
        let refusals: [(HubError, Int, String, String, String?)] = [
            (.unavailable, 503, "unavailable", "database unavailable; retry later", "1"),
            (.storeBusy, 503, "overloaded", "the store is busy; retry later", "1"),
            (.storeFailed, 500, "internal", "the store failed", nil),
            (
                .invalidValue, 400, "bad_request",
                "a value cannot be stored (NUL characters and out-of-range numbers are refused)", nil
            ),
        ]
        for (method, path, caller, body) in routes {
            for (error, status, code, message, retry) in refusals {
                f.scans.failure = error
                let answer = f.scanCall(method, path, as: caller, body: body)
                #expect(
                    answer?.status == status && answer?.code == code && answer?.message == message,
                    "\(method) \(path) \(String(describing: answer))")
                #expect(answer?.headers["Retry-After"] == retry, "\(method) \(path)")
            }
            // The database known to be down: refused before the store is asked.
            f.scans.failure = nil
            f.store.isAvailable = false
            let down = f.scanCall(method, path, as: caller, body: body)
            #expect(down?.status == 503 && down?.code == "unavailable" && down?.headers["Retry-After"] == "1")
            f.store.isAvailable = true
        }
    }

    @Test func aSnapshotThatCannotBeReadIsRefusedAndCanBeRetried() {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop")
        f.hub.connectionOpened(1, token: f.token("shop"))
        f.scans.failure = .storeBusy
        f.send(1, #"{"type":"subscribe","id":"a","channel":"scans:\#(qr)"}"#)
        f.scans.flush()
        var last = f.transport.frames(to: 1).last
        #expect(last?["code"] == .string("unavailable") && last?["message"] == .string("counters unavailable; retry later"))
        f.scans.failure = .storeFailed
        f.send(1, #"{"type":"subscribe","id":"b","channel":"scans:owner:shop"}"#)
        f.scans.flush()
        last = f.transport.frames(to: 1).last
        #expect(last?["id"] == .string("b") && last?["code"] == .string("internal"), "\(String(describing: last))")
        f.scans.failure = nil
        f.send(1, #"{"type":"subscribe","id":"c","channel":"scans:\#(qr)"}"#)
        f.scans.flush()
        #expect(f.transport.types(to: 1).suffix(2) == ["subscribed", "counter"])
    }
}

/// A broker that records what is published and broadcast, and delivers
/// publications on this node.
final class RecordingBroker: Broker {
    var published: [Publication] = []
    var broadcasts: [(topic: String, body: JSON)] = []
    let kind = "recording"
    func broadcast(topic: String, _ body: JSON) { broadcasts.append((topic, body)) }
    private var delivery: ((Publication) -> Int)?
    func attach(_ delivery: @escaping (Publication) -> Int) { self.delivery = delivery }
    func publish(_ publication: Publication) -> Int {
        published.append(publication)
        return delivery?(publication) ?? 0
    }
}

extension RecordingTransport {
    func counterCount(to id: ConnectionID) -> Int { types(to: id).filter { $0 == "counter" }.count }
}

@Suite struct ScansFeatureTests {
    @Test func theFeatureAloneServesItsChannelsAndCommittedCountsGoThroughTheBroker() {
        let broker = RecordingBroker()
        let transport = RecordingTransport()
        let clock = ManualClock()
        let scans = FakeScanStore()
        let config = HubConfiguration(
            jwt: JWTConfiguration(hmacSecret: HubFixture.secret),
            apiKeys: try! APIKeyRing(entries: ["matcher:" + HubFixture.apiKey]))
        let hub = Hub(
            configuration: config, loop: ImmediateLoop(), clock: clock, store: RecordingStore(), broker: broker,
            metrics: HubMetrics(), logger: Logger(label: "test"))
        hub.install(ScansFeature(store: scans, intervalMillis: 100))
        hub.transport = transport
        let qr = scans.register(owner: "shop")
        let token = JWTSigner.hs256(
            Claims(subject: "shop", role: "user", expiresAt: clock.millis / 1000 + 600),
            secret: HubFixture.secret)
        hub.connectionOpened(1, token: token)
        Array(#"{"type":"subscribe","id":"s","channel":"scans:owner:shop"}"#.utf8).withUnsafeBytes { hub.textReceived(1, $0) }
        scans.flush()
        #expect(transport.types(to: 1).suffix(2) == ["subscribed", "counter"])  // the snapshot answers the subscriber
        #expect(broker.published.isEmpty)

        hub.handleHTTP(
            HTTPRequest(
                method: "POST", path: "/v1/scans", apiKey: HubFixture.apiKey,
                body: Array(#"{"qr":\#(qr)}"#.utf8)), id: 9)
        scans.flush()
        #expect(transport.responses[9]?.status == 200)
        // Frames stay on this node (every node coalesces for its own
        // subscribers); the committed counts go to the other nodes.
        #expect(broker.published.isEmpty)
        #expect(transport.frames(to: 1).last?["codes"]?[0]?["total"] == .int(1))
        #expect(broker.broadcasts.isEmpty)  // until the tick
        hub.tick()
        #expect(broker.broadcasts.map(\.topic) == ["scans"])
        #expect(broker.broadcasts.last.flatMap { ScanCountsCodec.decode($0.body) }?.map(\.total) == [1])
        hub.handleHTTP(
            HTTPRequest(
                method: "POST", path: "/v1/scans", apiKey: HubFixture.apiKey,
                body: Array(#"{"qr":\#(qr)}"#.utf8)), id: 10)
        scans.flush()
        #expect(transport.counterCount(to: 1) == 2)  // within the interval: held back
        clock.advance(seconds: 0.1)
        hub.tick()
        #expect(transport.counterCount(to: 1) == 3)
        #expect(broker.broadcasts.count == 2)
        #expect(broker.published.isEmpty)
        #expect(transport.frames(to: 1).last?["codes"]?[0]?["total"] == .int(2))
    }
}
