// Live QR counters: merging absolute counts, coalescing per channel, who may
// watch, the snapshot at subscribe, and the ingest / stats routes (fakes,
// injected clock).
import SwitchboardWire
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct CounterBoardTests {
    let now: Int64 = 1_800_000_000_000

    @Test func largestValueWinsSoAStaleSnapshotNeverMovesBack() {
        var board = CounterBoard(intervalMillis: 100)
        board.beginLoading(qr: 7)
        let minute = ScanTime.minute(now)
        board.committed(
            ScanCounts(qr: 7, owner: "o", total: 12, minutes: [minute: 5], devices: ["mobile": 9]),
            nowMillis: now
        ) { _ in true }
        // The snapshot was read before that commit.
        board.loaded(
            ScanCounts(
                qr: 7, owner: "o", label: "Door", total: 10, minutes: [minute: 3, minute - 1: 4],
                devices: ["mobile": 7, "tablet": 1]), nowMillis: now)
        let fields = board.codes[7]!.fields(nowMillis: now)
        #expect(fields.total == 12)
        #expect(fields.label == "Door")
        #expect(fields.minutes.count == CounterBoard.windowMinutes)
        #expect(fields.minutes.suffix(2) == [4, 5])
        #expect(fields.devices.map(\.name) == ["mobile", "tablet"])
        #expect(fields.devices.map(\.count) == [9, 1])
    }

    @Test func commitsBeforeTheSnapshotAreNotSentAndUnwatchedCodesAreIgnored() {
        var board = CounterBoard(intervalMillis: 100)
        board.beginLoading(qr: 1)
        board.committed(ScanCounts(qr: 1, owner: "o", total: 1), nowMillis: now) { _ in true }
        #expect(!board.hasPending)  // not loaded: nothing to show yet
        board.committed(ScanCounts(qr: 2, owner: "p", total: 1), nowMillis: now) { _ in true }
        #expect(board.codes[2] == nil)
    }

    @Test func aChannelGetsAtMostOneFramePerInterval() {
        var board = CounterBoard(intervalMillis: 100)
        board.loaded(ScanCounts(qr: 1, owner: "o", label: "a", total: 0), nowMillis: now)
        var sent = 0
        var t = now
        var lastTotal: Int64 = 0
        for i in 1...100 {  // one commit every 10 ms for a second
            board.committed(ScanCounts(qr: 1, owner: "o", total: Int64(i)), nowMillis: t) { $0 == "scans:1" }
            for due in board.due(nowMillis: t) {
                sent += 1
                lastTotal = due.codes[0].total
            }
            t += 10
        }
        #expect(sent == 10)
        for due in board.due(nowMillis: t + 100) { lastTotal = due.codes[0].total; sent += 1 }
        #expect(lastTotal == 100)  // the last state always goes out
        #expect(!board.hasPending)
    }

    @Test func windowDropsOldMinutesAndTodayIsTheCurrentUTCDay() {
        var board = CounterBoard(intervalMillis: 100)
        let minute = ScanTime.minute(now)
        board.loaded(
            ScanCounts(
                qr: 1, owner: "o", label: "a", total: 9, days: [ScanTime.day(now): 9],
                minutes: [minute - 60: 4, minute - 59: 5]), nowMillis: now)
        var fields = board.codes[1]!.fields(nowMillis: now)
        #expect(fields.minutes.first == 5)
        #expect(fields.today == 9)
        fields = board.codes[1]!.fields(nowMillis: now + ScanTime.dayMillis)
        #expect(fields.today == 0)
        #expect(fields.minutes.allSatisfy { $0 == 0 })
    }

    @Test func sweepForgetsWhatNobodyWatches() {
        var board = CounterBoard(intervalMillis: 100)
        board.loaded(ScanCounts(qr: 1, owner: "o", label: "a", total: 1), nowMillis: now)
        board.loaded(owner: "p", [ScanCounts(qr: 2, owner: "p", label: "b", total: 1)], nowMillis: now)
        board.sweep(nowMillis: now, isWatched: { $0 == "scans:owner:p" }, isAwaited: { _ in false })
        #expect(board.codes[1] == nil)
        #expect(board.codes[2] != nil)
        board.sweep(nowMillis: now, isWatched: { _ in false }, isAwaited: { _ in false })
        #expect(board.codes.isEmpty && board.owners.isEmpty)
    }
}

@Suite struct HubScanTests {
    func counterFrames(_ f: HubFixture, _ id: ConnectionID) -> [JSON] {
        f.transport.frames(to: id).filter { $0["type"] == .string("counter") }
    }

    func ingest(_ f: HubFixture, _ body: String, id: HTTPRequestID = 100) {
        f.hub.handleHTTP(
            HTTPRequest(method: "POST", path: "/v1/scans", apiKey: HubFixture.apiKey, body: Array(body.utf8)), id: id)
        f.scans.flush()
    }

    @Test func ownerGetsTheSnapshotAtOnceThenCoalescedCounters() {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop", label: "Door")
        ingest(f, #"{"qr":\#(qr),"device":"mobile","country":"ro"}"#)
        f.hub.connectionOpened(1, token: f.token("shop"))
        f.send(1, #"{"type":"subscribe","id":"s","channel":"scans:\#(qr)"}"#)
        f.scans.flush()
        #expect(f.transport.types(to: 1).suffix(2) == ["subscribed", "counter"])
        let snapshot = counterFrames(f, 1).last!
        #expect(snapshot["codes"]?[0]?["total"] == .int(1))
        #expect(snapshot["codes"]?[0]?["label"] == .string("Door"))
        #expect(snapshot["codes"]?[0]?["countries"]?[0]?["name"] == .string("RO"))

        ingest(f, #"{"scans":[{"qr":\#(qr)},{"qr":\#(qr)}]}"#)
        #expect(counterFrames(f, 1).count == 2)  // first change after a quiet interval: at once
        #expect(counterFrames(f, 1).last?["codes"]?[0]?["total"] == .int(3))
        ingest(f, #"{"qr":\#(qr)}"#, id: 101)
        f.hub.tick()
        #expect(counterFrames(f, 1).count == 2)  // within 100 ms: held back
        f.clock.advance(seconds: 0.1)
        f.hub.tick()
        #expect(counterFrames(f, 1).count == 3)
        #expect(counterFrames(f, 1).last?["codes"]?[0]?["total"] == .int(4))
        #expect(counterFrames(f, 1).last?["codes"]?[0]?["today"] == .int(4))
    }

    @Test func aCommitRacingTheSnapshotIsNotLost() {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop")
        f.hub.connectionOpened(1, token: f.token("shop"))
        f.send(1, #"{"type":"subscribe","channel":"scans:\#(qr)"}"#)  // snapshot taken now: total 0
        f.hub.handleHTTP(
            HTTPRequest(
                method: "POST", path: "/v1/scans", apiKey: HubFixture.apiKey,
                body: Array(#"{"qr":\#(qr)}"#.utf8)), id: 1)
        f.scans.flush()  // the snapshot (0) and the commit (1) arrive in either order
        f.clock.advance(seconds: 0.2)
        f.hub.tick()
        #expect(counterFrames(f, 1).last?["codes"]?[0]?["total"] == .int(1))
    }

    @Test func onlyTheOwnerOrAnAdminMayWatch() {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop")
        f.hub.connectionOpened(1, token: f.token("mallory"))
        f.hub.connectionOpened(2, token: f.token("root", role: "admin"))
        f.send(1, #"{"type":"subscribe","channel":"scans:\#(qr)"}"#)
        f.send(2, #"{"type":"subscribe","channel":"scans:\#(qr)"}"#)
        f.scans.flush()
        #expect(f.transport.lastError(to: 1) == "forbidden")
        #expect(counterFrames(f, 1).isEmpty)
        #expect(counterFrames(f, 2).count == 1)
        // Loaded now: the answer comes from memory, still refused.
        f.send(1, #"{"type":"subscribe","id":"again","channel":"scans:\#(qr)"}"#)
        #expect(f.transport.frames(to: 1).last?["id"] == .string("again"))
        #expect(f.transport.lastError(to: 1) == "forbidden")
        f.send(1, #"{"type":"subscribe","channel":"scans:owner:shop"}"#)
        #expect(f.transport.lastError(to: 1) == "forbidden")
        f.send(1, #"{"type":"subscribe","id":"u","channel":"scans:999"}"#)
        f.scans.flush()
        #expect(f.transport.lastError(to: 1) == "not_found")
        ingest(f, #"{"qr":\#(qr)}"#)
        #expect(counterFrames(f, 1).isEmpty)
    }

    @Test func ownerChannelCoversCodesCreatedAfterSubscribing() {
        let f = HubFixture()
        let first = f.scans.register(owner: "shop", label: "A")
        f.hub.connectionOpened(1, token: f.token("shop"))
        f.send(1, #"{"type":"subscribe","channel":"scans:owner:shop"}"#)
        f.scans.flush()
        #expect(counterFrames(f, 1).last?["codes"]?[0]?["qr"] == .string(String(first)))
        let second = f.scans.register(owner: "shop", label: "B")
        ingest(f, #"{"qr":\#(second),"device":"tablet"}"#)
        let frame = counterFrames(f, 1).last!
        #expect(frame["channel"] == .string("scans:owner:shop"))
        #expect(frame["codes"]?[0]?["qr"] == .string(String(second)))
        #expect(frame["codes"]?[0]?["total"] == .int(1))
        #expect(frame["codes"]?[0]?["devices"]?[0]?["name"] == .string("tablet"))
    }

    @Test func ingestNeedsABackendAndValidScans() {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop")
        func post(_ body: String, apiKey: String? = HubFixture.apiKey, auth: String? = nil, id: HTTPRequestID) -> HTTPResponse? {
            f.hub.handleHTTP(
                HTTPRequest(
                    method: "POST", path: "/v1/scans", authorization: auth, apiKey: apiKey,
                    body: Array(body.utf8)), id: id)
            f.scans.flush()
            return f.transport.responses[id]
        }
        #expect(post(#"{"qr":\#(qr)}"#, apiKey: nil, auth: "Bearer " + f.token("shop"), id: 1)?.status == 403)
        #expect(post(#"{"qr":\#(qr)}"#, apiKey: nil, id: 2)?.status == 401)
        let bad = post(#"{"scans":[{"qr":\#(qr)},{"qr":\#(qr),"country":"Romania"}]}"#, id: 3)
        #expect(bad?.status == 400)
        let badText = String(decoding: bad?.body ?? [], as: UTF8.self)
        #expect(badText.contains("scans[1]"))
        #expect(post(#"{"qr":\#(qr),"at":1}"#, id: 4)?.status == 400)
        #expect(post(#"{"scans":[]}"#, id: 5)?.status == 400)
        let many = "{\"scans\":[" + Array(repeating: "{\"qr\":\(qr)}", count: 1001).joined(separator: ",") + "]}"
        #expect(post(many, id: 6)?.status == 400)
        #expect(f.scans.counts[qr]?.total == 0)  // nothing of a refused batch is stored
        let mixed = post(#"{"scans":[{"qr":\#(qr)},{"qr":424242}]}"#, id: 7)
        #expect(mixed?.status == 200)
        let body = try? JSON.parse(mixed!.body)
        #expect(body?["accepted"] == .int(1))
        #expect(body?["rejected"]?[0]?["index"] == .int(1))
        #expect(body?["rejected"]?[0]?["code"] == .string("unknown_qr"))
    }

    @Test func statsAreForTheOwnerInWholeBuckets() {
        let f = HubFixture()
        let qr = f.scans.register(owner: "shop")
        let hour = ScanBucket.hour.millis
        f.scans.statsPoints = [f.clock.millis / hour * hour: 2, f.clock.millis / hour * hour - hour: 0]
        func get(_ query: [String: String], user: String, id: HTTPRequestID) -> HTTPResponse? {
            f.hub.handleHTTP(
                HTTPRequest(
                    method: "GET", path: "/v1/qr-codes/\(qr)/stats", query: query,
                    authorization: "Bearer " + f.token(user)), id: id)
            f.scans.flush()
            return f.transport.responses[id]
        }
        #expect(get([:], user: "mallory", id: 1)?.status == 403)
        let ok = get(["bucket": "hour"], user: "shop", id: 2)
        let json = try? JSON.parse(ok?.body ?? [])
        #expect(ok?.status == 200)
        #expect(json?["total"] == .int(2))
        if case .array(let points)? = json?["points"] {
            #expect(points.count == 24)  // 24 whole hours, the current one last
        } else {
            Issue.record("no points")
        }
        #expect(get(["bucket": "week"], user: "shop", id: 3)?.status == 400)
        #expect(get(["bucket": "minute", "from": "0"], user: "shop", id: 4)?.status == 400)  // too many points
        #expect(get(["from": "yesterday"], user: "shop", id: 5)?.status == 400)
    }

    @Test func timestampsParseAsMillisOrRFC3339() {
        #expect(Timestamp.parseMillis("1700000000000") == 1_700_000_000_000)
        #expect(Timestamp.parseMillis("1970-01-01T00:00:00Z") == 0)
        #expect(Timestamp.parseMillis("2026-11-21T10:00:00Z") == 1_795_255_200_000)
        #expect(Timestamp.parseMillis("2026-11-21T12:00:00.5+02:00") == 1_795_255_200_500)
        #expect(Timestamp.parseMillis("2026-13-01T00:00:00Z") == nil)
        #expect(Timestamp.parseMillis("2026-11-21") == nil)
    }
}
