// `switchboard token`: mints a development token with the HS256 secret.
import ArgumentParser
import Foundation
import SwitchboardAuth

struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Mint an HS256 user token (for development and tests).")

    @Option(help: "User id (the `sub` claim).") var user: String
    @Option(help: "Role claim.") var role: String = "user"
    @Option(help: "Lifetime, e.g. 90s, 15m, 2h, 7d.") var ttl: String = "15m"
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var auth: AuthOptions

    func run() throws {
        guard let seconds = Self.parseDuration(ttl) else { throw ValidationError("--ttl must look like 90s, 15m, 2h or 7d") }
        let (config, _) = try auth.jwtConfiguration(
            dataDirectory: try Self.servedDataDirectory(database.dataDirectory), createSecrets: false)
        guard let secret = config.hmacSecret else { throw ValidationError("token needs an HS256 secret (--jwt-secret)") }
        let now = Int64(Date().timeIntervalSince1970)
        let claims = Claims(
            subject: user, role: role, expiresAt: now + seconds, issuedAt: now,
            issuer: auth.issuer, audience: auth.audience.map { [$0] } ?? [])
        print(JWTSigner.hs256(claims, secret: secret))
    }

    /// The data folder whose development secret `serve` signs with: the one
    /// given (--data-dir, SWITCHBOARD_DATA_DIR), else the nearest `.data`
    /// holding a dev-secrets file in this folder or above it (`scripts/run`
    /// serves from the repository's root), else `.data` (then `token` fails
    /// rather than mint a secret `serve` would not know).
    static func servedDataDirectory(_ given: String) throws -> String {
        guard given == DatabaseOptions.defaultDataDirectory, Env.string("SWITCHBOARD_DATA_DIR") == nil else { return given }
        var folder = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        while true {
            let candidate = folder.appendingPathComponent(given)
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("dev-secrets").path) {
                return candidate.path
            }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path { return given }
            folder = parent
        }
    }

    static func parseDuration(_ text: String) -> Int64? {
        guard let unit = text.last, let value = Int64(text.dropLast()), value > 0 else { return Int64(text) }
        switch unit {
        case "s": return value
        case "m": return value * 60
        case "h": return value * 3600
        case "d": return value * 86400
        default: return nil
        }
    }
}
