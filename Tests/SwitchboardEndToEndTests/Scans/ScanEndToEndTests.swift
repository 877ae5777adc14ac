// QR scans end to end: register, ingest in batches, live counters equal to
// the durable rows, owner-only access, and exact totals after kill -9.
import Foundation
import Testing

extension HubProcess {
    func registerCode(_ owner: String, label: String = "code") throws -> String {
        let r = try httpRequest(
            port: port, "POST", "/v1/qr-codes", headers: ["Authorization": "Bearer " + token(owner)],
            body: #"{"label":"\#(label)","target":"https://example.com/\#(label.replacingOccurrences(of: " ", with: "%20"))"}"#)
        guard r.status == 201, let id = r.json?["id"] as? String else {
            throw TestClientError.handshake("register code: \(r.status) \(String(decoding: r.body, as: UTF8.self))")
        }
        return id
    }

    func postScans(_ scans: [String]) throws -> HTTPResult {
        try httpRequest(
            port: port, "POST", "/v1/scans", headers: ["X-API-Key": Self.apiKey],
            body: #"{"scans":[\#(scans.joined(separator: ","))]}"#)
    }
}

/// The last counter frame's entry for `qr` within `timeout`, once `until` holds.
func counter(
    of qr: String, on client: WebSocketTestClient, timeout: TimeInterval = 20,
    until: ([String: Any]) -> Bool = { _ in true }
) -> [String: Any]? {
    let deadline = Date().addingTimeInterval(timeout)
    var last: [String: Any]?
    while Date() < deadline {
        guard let frame = try? client.receiveJSON(timeout: max(0.05, deadline.timeIntervalSinceNow)) else { break }
        guard frame["type"] as? String == "counter", let codes = frame["codes"] as? [[String: Any]] else { continue }
        if let entry = codes.first(where: { $0["qr"] as? String == qr }) {
            last = entry
            if until(entry) { return entry }
        }
    }
    return last
}

@Suite struct ScanEndToEndTests {
    @Test func countersFollowIngestExactlyAndMatchTheRows() throws {
        let hub = try HubProcess()
        let owner = uniqueUser("shop")
        let qr = try hub.registerCode(owner, label: "door")
        let ws = try hub.connect(owner)
        _ = try ws.receive(type: "welcome")
        try ws.sendText(#"{"type":"subscribe","id":"s","channel":"scans:\#(qr)"}"#)
        #expect(try ws.receive(type: "subscribed")["channel"] as? String == "scans:\(qr)")
        let first = counter(of: qr, on: ws)
        #expect(first?["total"] as? Int == 0)

        let devices = ["mobile", "desktop", "tablet"]
        var sent = 0
        for batch in 0..<5 {
            let scans = (0..<200).map { i in
                #"{"qr":"\#(qr)","device":"\#(devices[(batch + i) % 3])","country":"\#(i % 4 == 0 ? "DE" : "RO")","os":"Android","event_id":"b\#(batch)-\#(i)"}"#
            }
            let r = try hub.postScans(scans)
            #expect(r.status == 200)
            #expect(r.json?["accepted"] as? Int == 200)
            sent += 200
        }
        // A retried batch (same event ids) stores nothing twice.
        let retry = try hub.postScans((0..<200).map { #"{"qr":"\#(qr)","event_id":"b0-\#($0)"}"# })
        #expect(retry.json?["accepted"] as? Int == 0)
        #expect(retry.json?["duplicates"] as? Int == 200)

        let live = counter(of: qr, on: ws) { $0["total"] as? Int == sent }
        #expect(live?["total"] as? Int == sent)
        #expect(live?["today"] as? Int == sent)
        #expect((live?["minutes"] as? [Int])?.reduce(0, +) == sent)
        #expect((live?["countries"] as? [[String: Any]])?.first?["name"] as? String == "RO")
        let rows = try TestDatabase.query("SELECT count(*) FROM scans WHERE qr_id = $1", [qr])
        #expect(rows.first?[0] == String(sent))

        let stats = try httpRequest(
            port: hub.port, "GET", "/v1/qr-codes/\(qr)/stats?bucket=day",
            headers: ["Authorization": "Bearer " + hub.token(owner)])
        #expect(stats.status == 200)
        #expect(stats.json?["total"] as? Int == sent)
        let list = try httpRequest(
            port: hub.port, "GET", "/v1/qr-codes", headers: ["Authorization": "Bearer " + hub.token(owner)])
        #expect((list.json?["codes"] as? [[String: Any]])?.first?["total"] as? Int == sent)
    }

    @Test func onlyTheOwnerOrAnAdminSeesCountersAndStats() throws {
        let hub = try HubProcess()
        let owner = uniqueUser("shop"), mallory = uniqueUser("mallory"), root = uniqueUser("root")
        let qr = try hub.registerCode(owner)

        let m = try hub.connect(mallory)
        _ = try m.receive(type: "welcome")
        try m.sendText(#"{"type":"subscribe","id":"1","channel":"scans:\#(qr)"}"#)
        #expect(try m.receive(type: "error")["code"] as? String == "forbidden")
        try m.sendText(#"{"type":"subscribe","id":"2","channel":"scans:owner:\#(owner)"}"#)
        #expect(try m.receive(type: "error")["code"] as? String == "forbidden")
        let stats = try httpRequest(
            port: hub.port, "GET", "/v1/qr-codes/\(qr)/stats",
            headers: ["Authorization": "Bearer " + hub.token(mallory)])
        #expect(stats.status == 403)
        let listed = try httpRequest(
            port: hub.port, "GET", "/v1/qr-codes?owner=\(owner)",
            headers: ["Authorization": "Bearer " + hub.token(mallory)])
        #expect(listed.status == 403)
        let ingestAsUser = try httpRequest(
            port: hub.port, "POST", "/v1/scans", headers: ["Authorization": "Bearer " + hub.token(owner)],
            body: #"{"qr":"\#(qr)"}"#)
        #expect(ingestAsUser.status == 403)

        let admin = try WebSocketTestClient(port: hub.port, path: "/?token=" + hub.token(root, role: "admin"))
        _ = try admin.receive(type: "welcome")
        try admin.sendText(#"{"type":"subscribe","channel":"scans:owner:\#(owner)"}"#)
        _ = try admin.receive(type: "subscribed")
        _ = try hub.postScans([#"{"qr":"\#(qr)"}"#])
        #expect(counter(of: qr, on: admin) { $0["total"] as? Int == 1 }?["total"] as? Int == 1)
        // Mallory, still connected, got no counter: a counter of that tick
        // would be queued before the answer to a ping sent after it.
        try m.sendText(#"{"type":"ping","id":"barrier"}"#)
        var leaked = false
        while true {
            let frame = try m.receiveJSON()
            if frame["type"] as? String == "counter" { leaked = true }
            if frame["type"] as? String == "pong" { break }
        }
        #expect(!leaked)
        let unknown = try hub.postScans([#"{"qr":"987654321"}"#])
        #expect((unknown.json?["rejected"] as? [[String: Any]])?.first?["code"] as? String == "unknown_qr")
    }

    @Test func totalsEqualTheRowsAfterKillNineAndRestart() throws {
        var hub: HubProcess? = try HubProcess()
        let owner = uniqueUser("shop")
        let codes = try (0..<3).map { try hub!.registerCode(owner, label: "c\($0)") }
        // Several senders in flight while the hub dies; each stops at its
        // first failed request (the crash).
        let port = hub!.port
        let group = DispatchGroup()
        let statuses = Locked<[Int: Int]>([:])
        for sender in 0..<4 {
            DispatchQueue.global().async(group: group) {
                for batch in 0..<200 {
                    let scans = (0..<50).map { i in #"{"qr":"\#(codes[(sender + batch + i) % 3])","device":"mobile"}"# }
                    let body = #"{"scans":[\#(scans.joined(separator: ","))]}"#
                    guard
                        let r = try? httpRequest(
                            port: port, "POST", "/v1/scans", headers: ["X-API-Key": HubProcess.apiKey], body: body)
                    else { return }
                    statuses.withLock { $0[r.status, default: 0] += 1 }
                }
            }
        }
        // Kill once some scans are durable (not after a fixed sleep: a loaded
        // machine may not have stored any yet).
        let progress = Date().addingTimeInterval(30)
        var before = 0
        while Date() < progress {
            before =
                Int(
                    try TestDatabase.query(
                        "SELECT count(*) FROM scans WHERE qr_id = ANY($1::bigint[])",
                        ["{" + codes.joined(separator: ",") + "}"]
                    ).first?[0] ?? "") ?? 0
            if before >= 1_000 { break }
            usleep(20_000)
        }
        #expect(before >= 1_000, "senders stored \(before) scans in 30 s; statuses \(statuses.withLock { $0 })")
        // The hub's sessions are named by its pid, so crash() can wait them out.
        #expect((hub!.databaseSessions() ?? 0) > 0)
        hub!.crash()
        group.wait()
        hub = try HubProcess()
        let ws = try hub!.connect(owner)
        _ = try ws.receive(type: "welcome")
        try ws.sendText(#"{"type":"subscribe","channel":"scans:owner:\#(owner)"}"#)
        _ = try ws.receive(type: "subscribed")
        let snapshot = try ws.receive(type: "counter")
        let entries = Dictionary(
            uniqueKeysWithValues: ((snapshot["codes"] as? [[String: Any]]) ?? []).map {
                ($0["qr"] as? String ?? "", $0["total"] as? Int ?? -1)
            })
        var stored = 0
        for qr in codes {
            let rows = try TestDatabase.query(
                """
                SELECT (SELECT count(*) FROM scans WHERE qr_id = $1), (SELECT total_scans FROM qr_codes WHERE id = $1),
                       (SELECT coalesce(sum(count), 0) FROM scan_minutes WHERE qr_id = $1)
                """, [qr])
            let count = Int(rows[0][0] ?? "") ?? -1
            #expect(rows[0][1] == rows[0][0], "total_scans drifted from the rows of \(qr)")
            #expect(rows[0][2] == rows[0][0], "minute buckets drifted from the rows of \(qr)")
            #expect(entries[qr] == count, "counter after restart differs from the rows of \(qr)")
            stored += count
        }
        print("scan crash test: \(stored) scans stored before kill -9")
        #expect(stored > 0)
    }
}
