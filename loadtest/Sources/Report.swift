// Human-readable table by default, JSON with --json.
import Foundation

enum Report {
    static func print(title: String, rows: [(String, String)], json: Bool) {
        if json {
            var object: [String: String] = ["scenario": title]
            for (k, v) in rows { object[k] = v }
            let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Swift.print(String(decoding: data, as: UTF8.self))
            return
        }
        let width = rows.map(\.0.count).max() ?? 0
        Swift.print("== \(title)")
        for (k, v) in rows { Swift.print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
    }
}
