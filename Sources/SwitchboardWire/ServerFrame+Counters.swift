// The `counter` frame: live QR-scan counters of one or more codes.

extension ServerFrame {
    /// One code's counters in a `counter` frame.
    public struct CounterFields: Equatable, Sendable {
        public var qr: Int64
        public var label: String
        /// Every scan stored for the code.
        public var total: Int64
        /// Scans of the current UTC day.
        public var today: Int64
        /// Scans per minute, oldest first, the last one being the current minute.
        public var minutes: [Int64]
        /// Top device types, largest first.
        public var devices: [(name: String, count: Int64)]
        /// Top countries, largest first.
        public var countries: [(name: String, count: Int64)]

        /// Fields.
        public init(
            qr: Int64, label: String, total: Int64, today: Int64, minutes: [Int64],
            devices: [(name: String, count: Int64)], countries: [(name: String, count: Int64)]
        ) {
            self.qr = qr
            self.label = label
            self.total = total
            self.today = today
            self.minutes = minutes
            self.devices = devices
            self.countries = countries
        }

        public static func == (a: CounterFields, b: CounterFields) -> Bool {
            a.qr == b.qr && a.label == b.label && a.total == b.total && a.today == b.today && a.minutes == b.minutes
                && a.devices.map(\.name) == b.devices.map(\.name) && a.devices.map(\.count) == b.devices.map(\.count)
                && a.countries.map(\.name) == b.countries.map(\.name) && a.countries.map(\.count) == b.countries.map(\.count)
        }
    }

    /// `counter`: the current counters of the codes of `channel` that changed
    /// (or all of them, for a new subscriber). `minuteStartMillis` is the
    /// start of the first entry of every code's `minutes`.
    public static func counter(
        channel: String, atMillis: Int64, minuteStartMillis: Int64,
        codes: [CounterFields]
    ) -> OutboundFrame {
        var w = JSONWriter(headroom: OutboundFrame.headroom, capacity: 256 + codes.count * 400)
        w.raw("{\"type\":\"counter\"")
        w.key("channel"); w.string(channel)
        w.key("at"); w.int(atMillis)
        w.key("minute_start"); w.int(minuteStartMillis)
        w.key("codes"); w.raw("[")
        for (i, code) in codes.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"qr\":"); w.string(String(code.qr))
            w.key("label"); w.string(code.label)
            w.key("total"); w.int(code.total)
            w.key("today"); w.int(code.today)
            w.key("minutes"); w.raw("[")
            for (j, n) in code.minutes.enumerated() {
                if j > 0 { w.raw(",") }
                w.int(n)
            }
            w.raw("]")
            w.key("devices"); ranking(&w, code.devices)
            w.key("countries"); ranking(&w, code.countries)
            w.raw("}")
        }
        w.raw("]}")
        return OutboundFrame(writer: w)
    }

    private static func ranking(_ w: inout JSONWriter, _ list: [(name: String, count: Int64)]) {
        w.raw("[")
        for (i, entry) in list.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"name\":"); w.string(entry.name)
            w.key("count"); w.int(entry.count)
            w.raw("}")
        }
        w.raw("]")
    }
}
