// Instants from outside (query strings, bodies): range-checked where they
// enter, so no arithmetic on them can overflow.

/// Timestamps in query strings: ms since the epoch, or RFC 3339
/// (`2026-11-21T10:00:00Z`, `2026-11-21T12:00:00.5+02:00`).
enum Timestamp {
    /// The latest instant accepted from outside: 9999-12-31T23:59:59.999Z.
    /// Every parsed timestamp lies in `0...maxMillis`, so sums and
    /// differences of a few of them (plus a bucket or a day) cannot overflow.
    static let maxMillis: Int64 = 253_402_300_799_999

    /// Milliseconds since the epoch, or nil when the text is neither form or
    /// lies outside `0...maxMillis`.
    static func parseMillis(_ text: String) -> Int64? {
        guard let value = parseUnchecked(text), (0...maxMillis).contains(value) else { return nil }
        return value
    }

    private static func parseUnchecked(_ text: String) -> Int64? {
        if let ms = Int64(text) { return ms }
        let b = Array(text.utf8)
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116 || b[10] == 32,
            b[13] == 58, b[16] == 58
        else { return nil }
        func number(_ from: Int, _ count: Int) -> Int64? {
            var n: Int64 = 0
            for i in from..<(from + count) {
                guard i < b.count, (48...57).contains(b[i]) else { return nil }
                n = n * 10 + Int64(b[i] - 48)
            }
            return n
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var fractionMillis: Int64 = 0
        if i < b.count, b[i] == 46 {
            i += 1
            var scale: Int64 = 100
            let start = i
            while i < b.count, (48...57).contains(b[i]) {
                fractionMillis += Int64(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offsetMinutes: Int64 = 0
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45, let oh = number(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = number(i + 4, 2)
        {
            offsetMinutes = (oh * 60 + om) * (b[i] == 45 ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year, month, day)
        return ((days * 24 + hour) * 60 + minute - offsetMinutes) * 60_000 + second * 1000 + fractionMillis
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
