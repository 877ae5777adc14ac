// Options shared by serve, migrate and token: database and auth keys.
import ArgumentParser
import Foundation
import SwitchboardAuth

struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help:
            "PostgreSQL connection string (libpq URL or key=value). Env DATABASE_URL. Without it an embedded cluster is started under --data-dir/postgres."
    )
    var databaseURL: String? = Env.string("DATABASE_URL")

    @Option(
        name: .customLong("data-dir"), help: "Folder for the embedded cluster and development secrets. Env SWITCHBOARD_DATA_DIR.")
    var dataDirectory: String = Env.string("SWITCHBOARD_DATA_DIR") ?? DatabaseOptions.defaultDataDirectory

    /// The data folder when none is given.
    static let defaultDataDirectory = ".data"
}

struct AuthOptions: ParsableArguments {
    @Option(
        name: .customLong("jwt-secret"),
        help:
            "HS256 secret for user tokens. Env SWITCHBOARD_JWT_SECRET. Without any JWT key a development secret is generated in --data-dir/dev-secrets."
    )
    var jwtSecret: String? = Env.string("SWITCHBOARD_JWT_SECRET")

    @Option(name: .customLong("jwt-rs256-key"), help: "PEM file with the RS256 public key. Env SWITCHBOARD_JWT_RS256_KEY.")
    var rs256KeyFile: String? = Env.string("SWITCHBOARD_JWT_RS256_KEY")

    @Option(
        name: .customLong("jwt-es256-key"), help: "PEM file with the ES256 (P-256) public key. Env SWITCHBOARD_JWT_ES256_KEY.")
    var es256KeyFile: String? = Env.string("SWITCHBOARD_JWT_ES256_KEY")

    @Option(name: .customLong("jwt-issuer"), help: "Required `iss` claim, if set. Env SWITCHBOARD_JWT_ISSUER.")
    var issuer: String? = Env.string("SWITCHBOARD_JWT_ISSUER")

    @Option(name: .customLong("jwt-audience"), help: "Required `aud` claim, if set. Env SWITCHBOARD_JWT_AUDIENCE.")
    var audience: String? = Env.string("SWITCHBOARD_JWT_AUDIENCE")

    @Flag(
        name: .customLong("allow-tokens-without-exp"),
        help:
            "Accept user tokens that have no `exp` claim (refused by default: such a token can never be taken back). Env SWITCHBOARD_ALLOW_TOKENS_WITHOUT_EXP=1."
    )
    var allowTokensWithoutExpiry: Bool = Env.bool("SWITCHBOARD_ALLOW_TOKENS_WITHOUT_EXP")

    @Option(
        name: .customLong("api-key"),
        help: "Backend API key as name:secret (secret ≥ 16 bytes); repeatable. Env SWITCHBOARD_API_KEYS (comma-separated).")
    var apiKeys: [String] = (Env.string("SWITCHBOARD_API_KEYS") ?? "").split(separator: ",").map(String.init)

    /// Development secrets (generated once per data folder) used when no key
    /// is configured, so that a new user can run and try the hub at once.
    /// The file `dev-secrets` holds two lines: 1, the HS256 secret user
    /// tokens are signed with; 2, the backends' API key as `name:key`.
    func developmentSecrets(dataDirectory: String, create: Bool = true) throws -> (jwt: String, apiKey: String) {
        let path = dataDirectory + "/dev-secrets"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let lines = text.split(separator: "\n").map(String.init)
            if lines.count >= 2 { return (lines[0], lines[1]) }
        }
        guard create else {
            throw ValidationError(
                "no development secret in \(path): give the --data-dir `serve` uses (or --jwt-secret); "
                    + "a new secret here would sign tokens that hub refuses")
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let secrets = (APIKeyRing.generate(), "dev:" + APIKeyRing.generate())
        try (secrets.0 + "\n" + secrets.1 + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        _ = chmod(path, 0o600)
        return secrets
    }

    /// `createSecrets`: whether a missing development secret is generated
    /// (`serve`) or an error (`token`, which must sign with `serve`'s).
    func jwtConfiguration(dataDirectory: String, createSecrets: Bool = true) throws -> (
        JWTConfiguration, usedDevelopmentSecret: Bool
    ) {
        var config = JWTConfiguration(
            issuer: issuer, audience: audience, leewaySeconds: 0,
            requireExpiry: !allowTokensWithoutExpiry)
        if let rs256KeyFile { config.rsaKey = try AsymmetricKey(pem: String(contentsOfFile: rs256KeyFile, encoding: .utf8)) }
        if let es256KeyFile { config.ecKey = try AsymmetricKey(pem: String(contentsOfFile: es256KeyFile, encoding: .utf8)) }
        if let rsa = config.rsaKey, rsa.algorithm != .rs256 { throw ValidationError("--jwt-rs256-key is not an RSA key") }
        if let ec = config.ecKey, ec.algorithm != .es256 { throw ValidationError("--jwt-es256-key is not a P-256 key") }
        var dev = false
        if let jwtSecret {
            guard jwtSecret.utf8.count >= 32 else { throw ValidationError("--jwt-secret must be at least 32 bytes") }
            config.hmacSecret = Array(jwtSecret.utf8)
        } else if config.rsaKey == nil && config.ecKey == nil {
            config.hmacSecret = Array(try developmentSecrets(dataDirectory: dataDirectory, create: createSecrets).jwt.utf8)
            dev = true
        }
        return (config, dev)
    }

    func apiKeyRing(dataDirectory: String, development: Bool) throws -> APIKeyRing {
        var entries = apiKeys
        if entries.isEmpty && development { entries = [try developmentSecrets(dataDirectory: dataDirectory).apiKey] }
        do { return try APIKeyRing(entries: entries) } catch {
            throw ValidationError("every --api-key needs a secret of at least 16 bytes")
        }
    }
}
