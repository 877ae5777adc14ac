// Reading defaults from environment variables, so every flag has an
// environment twin (documented in each flag's help and in README.md).
import Foundation

enum Env {
    static let values = ProcessInfo.processInfo.environment

    static func string(_ name: String) -> String? {
        guard let v = values[name], !v.isEmpty else { return nil }
        return v
    }

    static func int(_ name: String, _ fallback: Int) -> Int { string(name).flatMap(Int.init) ?? fallback }
    static func double(_ name: String, _ fallback: Double) -> Double { string(name).flatMap(Double.init) ?? fallback }
    static func bool(_ name: String) -> Bool { ["1", "true", "yes", "on"].contains(string(name)?.lowercased() ?? "") }
}
