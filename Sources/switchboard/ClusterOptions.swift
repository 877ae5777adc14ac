// `serve`'s cluster options: which broker joins this node to the others,
// and the node's name.
import ArgumentParser
import Foundation
import Logging
import SwitchboardHub
import SwitchboardPostgres
import SwitchboardRedis

/// How nodes reach each other.
enum BrokerKind: String, ExpressibleByArgument, CaseIterable {
    /// One node: nothing leaves the process.
    case memory
    /// LISTEN/NOTIFY on the shared PostgreSQL.
    case postgres
    /// Redis pub/sub (`--redis-url`).
    case redis
}

struct ClusterOptions: ParsableArguments {
    @Option(
        name: .customLong("broker"),
        help: "How nodes reach each other: memory (one node), postgres or redis. Env SWITCHBOARD_BROKER.")
    var broker: BrokerKind = Env.string("SWITCHBOARD_BROKER").flatMap(BrokerKind.init(rawValue:)) ?? .memory
    @Option(
        name: .customLong("redis-url"),
        help: "redis://[:password@]host[:port][/db], for --broker redis. Env SWITCHBOARD_REDIS_URL.")
    var redisURL: String? = Env.string("SWITCHBOARD_REDIS_URL")
    @Option(
        name: .customLong("node-name"),
        help: "This node's name in the cluster (logs, /readyz, /metrics); default host:pid. Env SWITCHBOARD_NODE_NAME.")
    var nodeName: String? = Env.string("SWITCHBOARD_NODE_NAME")
    @Option(
        name: .customLong("node-timeout"),
        help:
            "Seconds a node may stay silent before the others count its users offline. Env SWITCHBOARD_NODE_TIMEOUT.")
    var nodeTimeout: Double = Env.double("SWITCHBOARD_NODE_TIMEOUT", 15)

    func validate() throws {
        if let raw = Env.string("SWITCHBOARD_BROKER"), BrokerKind(rawValue: raw) == nil {
            throw ValidationError("SWITCHBOARD_BROKER must be memory, postgres or redis")
        }
        if broker == .redis && redisURL == nil { throw ValidationError("--broker redis needs --redis-url") }
        if let nodeName {
            guard (1...128).contains(nodeName.utf8.count), !nodeName.utf8.contains(0),
                nodeName.allSatisfy({ !$0.isWhitespace && !$0.isNewline })
            else { throw ValidationError("--node-name must be 1…128 bytes, no spaces or control characters") }
        }
        // Converted to integer milliseconds: bounded so that cannot trap.
        guard (1...3600).contains(nodeTimeout) else { throw ValidationError("--node-timeout must be 1...3600 seconds") }
    }

    /// The node's name: the given one, or host:pid.
    var resolvedNodeName: String {
        nodeName ?? "\(ProcessInfo.processInfo.hostName):\(getpid())"
    }
}

extension ClusterOptions {
    /// The link to the other nodes, or nil for one node.
    func link(conninfo: String, logger: Logger) throws -> ClusterLink? {
        switch broker {
        case .memory: return nil
        case .postgres: return PostgresLink(conninfo: conninfo, logger: logger)
        case .redis:
            do {
                return try RedisLink(url: redisURL ?? "", logger: logger)
            } catch {
                throw ValidationError("--redis-url: \(error)")
            }
        }
    }
}
