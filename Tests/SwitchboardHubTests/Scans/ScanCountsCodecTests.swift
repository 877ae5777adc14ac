// The `scans` control message between nodes: what the encoder sends decodes
// to the same counts, large batches are split into bounded messages, and a
// body with anything out of range or out of bounds is refused whole.
import SwitchboardWire
import Testing
@testable import SwitchboardHub

@Suite struct ScanCountsCodecTests {
    let now: Int64 = 1_800_000_000_000
    var minute: Int64 { ScanTime.minute(now) }
    var day: Int64 { ScanTime.day(now) }

    func sample(_ qr: QRCodeID, owner: String = "shop") -> ScanCounts {
        ScanCounts(
            qr: qr, owner: owner, label: "Door \"A\" ✓", total: 1_234, days: [day: 40, day - 1: 7],
            minutes: [minute: 3, minute - 5: 9], devices: ["mobile": 30, "desktop": 10],
            countries: ["RO": 25, "ZZ": 15])
    }

    @Test func roundTrip() {
        var plain = sample(9)
        plain.label = nil
        let all = [sample(7), plain, ScanCounts(qr: Int64.max, owner: "o", total: ScanCountsCodec.maxCount)]
        let messages = ScanCountsCodec.messages(all)
        #expect(messages.count == 1)  // one message per batch
        // Through the bytes, as the link carries them.
        let decoded = messages.compactMap { try? JSON.parse($0.bytes, maxDepth: 8) }.compactMap(ScanCountsCodec.decode)
        #expect(decoded == [all])
    }

    @Test func theEncoderKeepsWhatABoardShowsAndLeavesOutWhatAReceiverWouldRefuse() throws {
        var big = sample(1)
        big.minutes = Dictionary(uniqueKeysWithValues: (0..<200).map { (minute - $0, Int64($0)) })
        big.days = Dictionary(uniqueKeysWithValues: (0..<31).map { (day - $0, 1) })
        big.devices = Dictionary(uniqueKeysWithValues: (0..<100).map { ("d\($0)", Int64($0)) })
        big.devices["Bad Name"] = 1_000
        big.countries["Romania"] = 1_000
        big.label = String(repeating: "x", count: 201)
        let refused = ScanCounts(qr: 2, owner: "o\u{0}evil", total: 1)
        let negative = ScanCounts(qr: 3, owner: "o", total: -1)
        let out = ScanCountsCodec.messages([big, refused, negative]).compactMap(ScanCountsCodec.decode).flatMap { $0 }
        #expect(out.count == 1)
        let kept = try #require(out.first)
        #expect(kept.minutes.count == ScanCountsCodec.maxMinutes)
        #expect(kept.minutes.keys.min() == minute - Int64(ScanCountsCodec.maxMinutes) + 1)  // the latest
        #expect(kept.days.count == ScanCountsCodec.maxDays)
        #expect(kept.days[day] == 1)
        #expect(kept.devices.count == ScanCountsCodec.maxNames)
        #expect(kept.devices["d99"] == 99 && kept.devices["d35"] == nil)  // the largest
        #expect(kept.devices["Bad Name"] == nil && kept.countries["Romania"] == nil)
        #expect(kept.label == nil)
        #expect(kept.total == big.total)
    }

    @Test func aLargeBatchIsSplitIntoBoundedMessages() {
        let all = (1...400).map { sample(QRCodeID($0), owner: "owner-\($0 % 7)") }
        let messages = ScanCountsCodec.messages(all)
        #expect(messages.count > 1)
        for message in messages { #expect(message.bytes.count <= ScanCountsCodec.messageBudgetBytes) }
        #expect(messages.compactMap(ScanCountsCodec.decode).flatMap { $0 } == all)
        #expect(ScanCountsCodec.messages([]).isEmpty)
    }

    @Test(arguments: [
        #"[]"#, #"{}"#, #"{"c":[]}"#, #"{"c":{}}"#, #"{"c":[1]}"#, #"{"c":[{}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":1,"d":[],"m":[],"dv":{},"co":{}}],"x":1}"#,  // an extra member
        #"{"c":[{"q":0,"o":"shop","t":1,"d":[],"m":[],"dv":{},"co":{}}]}"#,  // qr 0
        #"{"c":[{"q":-7,"o":"shop","t":1,"d":[],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":"7","o":"shop","t":1,"d":[],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"","t":1,"d":[],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"a\u0001b","t":1,"d":[],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":-1,"d":[],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":9007199254740993,"d":[],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":99999999999999999999999,"d":[],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":1.5,"d":[],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":1,"d":[5],"m":[],"dv":{},"co":{}}]}"#,  // odd pairs
        #"{"c":[{"q":7,"o":"shop","t":1,"d":[-1,1],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":1,"d":[],"m":[9223372036854775807,1],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":1,"d":[],"m":[5,1,5,2],"dv":{},"co":{}}]}"#,  // a minute twice
        #"{"c":[{"q":7,"o":"shop","t":1,"d":[],"m":[5,-1],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":1,"d":[],"m":[],"dv":{"Mobile":1},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":1,"d":[],"m":[],"dv":{"mobile":-1},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":1,"d":[],"m":[],"dv":{},"co":{"ROU":1}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":1,"d":[],"m":[],"dv":{},"co":{"RO":"1"}}]}"#,
        #"{"c":[{"q":7,"o":"shop","l":"","t":1,"d":[],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","l":"a\nb","t":1,"d":[],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","l":7,"t":1,"d":[],"m":[],"dv":{},"co":{}}]}"#,
        #"{"c":[{"q":7,"o":"shop","t":1,"m":[],"dv":{},"co":{}}]}"#,  // no days
    ])
    func aHostileBodyIsRefusedWhole(_ text: String) throws {
        let body = try JSON.parse(text)
        #expect(ScanCountsCodec.decode(body) == nil)
    }

    @Test func sizesAreBounded() {
        func body(codes: Int = 1, minutes: Int = 0, days: Int = 0, devices: Int = 0, countries: Int = 0, label: Int = 1)
            -> JSON
        {
            func pairs(_ n: Int, _ last: Int64) -> JSON {
                .array((0..<n).flatMap { [JSON.int(last - Int64($0)), JSON.int(1)] })
            }
            func names(_ n: Int, _ name: (Int) -> String) -> JSON {
                .object(Dictionary(uniqueKeysWithValues: (0..<n).map { (name($0), JSON.int(1)) }))
            }
            func country(_ i: Int) -> String {
                String(decoding: [UInt8(65 + i / 26), UInt8(65 + i % 26)], as: UTF8.self)
            }
            var fields: [String: JSON] = ["q": .int(7), "o": .string("shop"), "t": .int(1)]
            fields["l"] = .string(String(repeating: "x", count: label))
            fields["m"] = pairs(minutes, minute)
            fields["d"] = pairs(days, day)
            fields["dv"] = names(devices) { "d\($0)" }
            fields["co"] = names(countries, country)
            let entry = JSON.object(fields)
            return .object(["c": .array(Array(repeating: entry, count: codes))])
        }
        #expect(ScanCountsCodec.decode(body(codes: ScanCountsCodec.maxCodes)) != nil)
        #expect(ScanCountsCodec.decode(body(codes: ScanCountsCodec.maxCodes + 1)) == nil)
        #expect(ScanCountsCodec.decode(body(minutes: ScanCountsCodec.maxMinutes)) != nil)
        #expect(ScanCountsCodec.decode(body(minutes: ScanCountsCodec.maxMinutes + 1)) == nil)
        #expect(ScanCountsCodec.decode(body(days: ScanCountsCodec.maxDays)) != nil)
        #expect(ScanCountsCodec.decode(body(days: ScanCountsCodec.maxDays + 1)) == nil)
        #expect(ScanCountsCodec.decode(body(devices: ScanCountsCodec.maxNames)) != nil)
        #expect(ScanCountsCodec.decode(body(devices: ScanCountsCodec.maxNames + 1)) == nil)
        #expect(ScanCountsCodec.decode(body(countries: ScanCountsCodec.maxNames)) != nil)
        #expect(ScanCountsCodec.decode(body(countries: ScanCountsCodec.maxNames + 1)) == nil)
        #expect(ScanCountsCodec.decode(body(label: ScanCountsCodec.maxLabelBytes)) != nil)
        #expect(ScanCountsCodec.decode(body(label: ScanCountsCodec.maxLabelBytes + 1)) == nil)
    }
}
