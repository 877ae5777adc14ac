// `serve --workers N`: one supervisor, N hub processes on one port. Which
// worker holds a connection is read from /proc: the worker's socket
// descriptors (/proc/<pid>/fd) matched against the kernel's TCP table
// (/proc/net/tcp), by inode.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct WorkersEndToEndTests {
    /// A supervisor of two workers. The broker is given by its environment
    /// name, which is read whether or not `--broker` exists as a flag yet.
    static func twoWorkers() throws -> HubProcess {
        try HubProcess(extra: ["--workers", "2"], environment: ["SWITCHBOARD_BROKER": "postgres"])
    }

    @Test func connectionsOnOnePortLandOnBothWorkers() throws {
        let hub = try Self.twoWorkers()
        let workers = Procfs.children(of: hub.process.processIdentifier)
        #expect(workers.count == 2)
        #expect(workers.allSatisfy { Procfs.isListening($0, port: hub.port) })
        let topic = "topic:" + uniqueUser("workers")
        var clients: [WebSocketTestClient] = []
        for i in 0..<40 {
            let client = try hub.connect(uniqueUser("worker-\(i)"))
            _ = try client.receive(type: "welcome")
            try client.sendText(#"{"type":"subscribe","channel":"\#(topic)"}"#)
            _ = try client.receive(type: "subscribed")
            clients.append(client)
        }
        var held: [Int] = []
        let settled = eventually {
            held = workers.map { Procfs.connections(of: $0, port: hub.port) }
            return held.reduce(0, +) == 40
        }
        #expect(settled, "connections held per worker: \(held)")
        #expect(held.allSatisfy { $0 > 0 }, "connections held per worker: \(held)")
        // One publication, taken by one worker, reaches the subscribers of both.
        #expect(try hub.publish(topic, #"{"n":1}"#).status == 200)
        for client in clients {
            #expect((try client.receive(type: "publication")["data"] as? [String: Any])?["n"] as? Int == 1)
        }
        // Each worker is a node of its own name: <supervisor's name>-w<k>.
        var nodes = Set<String>()
        _ = try eventually {
            let ready = try httpRequest(port: hub.port, "GET", "/readyz")
            if let node = ready.json?["node"] as? String { nodes.insert(String(node.suffix(3))) }
            return nodes.count == 2
        }
        #expect(nodes == ["-w1", "-w2"])
    }

    @Test func sigtermToTheSupervisorDrainsAndStopsEveryWorker() throws {
        let hub = try Self.twoWorkers()
        let workers = Procfs.children(of: hub.process.processIdentifier)
        #expect(workers.count == 2)
        let client = try hub.connect(uniqueUser("drained"))
        _ = try client.receive(type: "welcome")
        let code = Locked<UInt16?>(nil)
        let reader = DispatchGroup()
        DispatchQueue.global().async(group: reader) {
            let received = try? client.receiveClose(timeout: 15)
            code.withLock { $0 = received }
        }
        let outcome = hub.terminate(timeout: 30)
        reader.wait()
        #expect(outcome.status == 0)
        #expect(code.withLock { $0 } == 1001)
        // The supervisor reaps its workers before it exits: none may be left.
        #expect(workers.allSatisfy { !Procfs.exists($0) }, "workers left: \(workers.filter(Procfs.exists))")
    }

    @Test func aKilledWorkerIsRestartedAndThePortKeepsServing() throws {
        let hub = try Self.twoWorkers()
        let supervisor = hub.process.processIdentifier
        let before = Procfs.children(of: supervisor)
        #expect(before.count == 2)
        guard let victim = before.first else { return }
        kill(victim, SIGKILL)
        var after: [pid_t] = []
        let restarted = eventually(timeout: 20) {
            after = Procfs.children(of: supervisor)
            return after.count == 2 && !after.contains(victim) && after.allSatisfy { Procfs.isListening($0, port: hub.port) }
        }
        #expect(restarted, "workers after the kill: \(after)")
        guard restarted, let replacement = after.first(where: { !before.contains($0) }) else { return }
        var clients: [WebSocketTestClient] = []
        for i in 0..<20 {
            let client = try hub.connect(uniqueUser("after-kill-\(i)"))
            _ = try client.receive(type: "welcome")
            clients.append(client)
        }
        #expect(eventually { Procfs.connections(of: replacement, port: hub.port) > 0 })
    }

    @Test func twoWorkersWithTheMemoryBrokerAreRefused() throws {
        let error = #expect(throws: TestClientError.self) {
            // An empty value counts as unset: the default, memory.
            _ = try HubProcess(extra: ["--workers", "2"], environment: ["SWITCHBOARD_BROKER": ""])
        }
        guard case .handshake(let log) = error else { return }
        #expect(log.contains("--workers 2 needs --broker postgres or --broker redis"), "\(log)")
    }
}

/// What /proc says about processes and their TCP sockets.
enum Procfs {
    /// Pids whose parent is `parent`.
    static func children(of parent: pid_t) -> [pid_t] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { pid_t($0) }.filter { pid in
            // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces.
            let stat = read("/proc/\(pid)/stat")
            guard let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == parent && fields[0] != "Z"
        }.sorted()
    }

    /// The whole of a /proc file: they report size 0, and a single read
    /// (which String(contentsOfFile:) may stop at) gets only the first page.
    static func read(_ path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }

    static func exists(_ pid: pid_t) -> Bool { FileManager.default.fileExists(atPath: "/proc/\(pid)") }

    /// Established connections to `port` whose server side `pid` holds.
    static func connections(of pid: pid_t, port: Int) -> Int {
        let mine = socketInodes(of: pid)
        return tcpSockets(localPort: port).filter { $0.state == "01" && mine.contains($0.inode) }.count
    }

    /// Whether `pid` holds a socket listening on `port`.
    static func isListening(_ pid: pid_t, port: Int) -> Bool {
        let mine = socketInodes(of: pid)
        return tcpSockets(localPort: port).contains { $0.state == "0A" && mine.contains($0.inode) }
    }

    private static func socketInodes(of pid: pid_t) -> Set<String> {
        let dir = "/proc/\(pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return Set(
            names.compactMap { name -> String? in
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + name),
                    target.hasPrefix("socket:[")
                else { return nil }
                return String(target.dropFirst("socket:[".count).dropLast())
            })
    }

    /// IPv4 sockets bound locally to `port`: (state, inode) from /proc/net/tcp.
    private static func tcpSockets(localPort port: Int) -> [(state: String, inode: String)] {
        let table = read("/proc/net/tcp")
        return table.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 9, let local = fields[1].split(separator: ":").last, Int(local, radix: 16) == port else {
                return nil
            }
            return (String(fields[3]), String(fields[9]))
        }
    }
}
