// The machine's floor for fan-out, without a hub: one thread writes one
// small message to each of N loopback TCP sockets (what a single-threaded
// hub must do per publication, and nothing else), a reader process on the
// same cores reads them (poll(), as the fanout workers do). Whatever p99 this reports, no
// single-loop server can beat here; the fanout scenario's figure is
// compared against it.
import ArgumentParser
import Foundation
import Histogram
#if canImport(Glibc)
import Glibc
#endif

struct FloorReport: Codable {
    var connected = 0
    var deliveries = 0
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000)
}

struct FloorScenario: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send-floor",
        abstract: "No hub: one thread sends a message to each of N loopback sockets; reader processes report delivery latency.")
    @Option(help: "Sockets (one message each per round).") var connections = 10_000
    @Option(help: "Rounds (one burst of N messages each).") var rounds = 20
    @Option(help: "Message size in bytes (a fan-out frame is about 150).") var size = 150
    @Option(help: "Reader processes (the fanout scenario's --processes).") var processes = 4
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        guard connections > 0, connections <= 19_000, size >= 8 else {
            throw ValidationError("1 ≤ connections ≤ 19000, size ≥ 8")
        }
        let listener = try FloorSocket.listen()
        guard processes > 0, processes <= connections else { throw ValidationError("1 ≤ processes ≤ connections") }
        let readers = try (0..<processes).map { k in
            try GenericWorkerProcess<FloorReport>(
                subcommand: "floor-reader",
                arguments: [
                    "--port", String(listener.port), "--connections", String(Coordinator.share(connections, processes, k)),
                    "--rounds", String(rounds), "--size", String(size),
                ])
        }
        var peers: [Int32] = []
        peers.reserveCapacity(connections)
        while peers.count < connections {
            let fd = accept(listener.fd, nil, nil)
            guard fd >= 0 else { throw ValidationError("accept failed: errno \(errno)") }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            peers.append(fd)
        }
        let readyBy = Date().addingTimeInterval(60)
        while readers.contains(where: { $0.ready == nil }), Date() < readyBy { readers.forEach { $0.poll() }; usleep(10_000) }
        guard readers.allSatisfy({ $0.ready != nil }) else { throw ValidationError("the readers did not connect") }

        var sendLoop = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        var message = [UInt8](repeating: 0x61, count: size)
        for _ in 0..<rounds {
            usleep(300_000)
            let start = nowMicros()
            withUnsafeBytes(of: start.littleEndian) { for (i, b) in $0.enumerated() { message[i] = b } }
            for fd in peers {
                let n = message.withUnsafeBytes { send(fd, $0.baseAddress, size, Int32(MSG_NOSIGNAL)) }
                if n != size { throw ValidationError("short send: \(n)") }
            }
            sendLoop.record(UInt64(max(0, nowMicros() - start)))
        }
        let doneBy = Date().addingTimeInterval(30)
        while readers.contains(where: { $0.done == nil }), Date() < doneBy { readers.forEach { $0.poll() }; usleep(10_000) }
        for fd in peers { close(fd) }
        guard readers.allSatisfy({ $0.done != nil }) else { throw ValidationError("the readers did not report") }
        var done = FloorReport()
        for r in readers.compactMap({ $0.done }) {
            done.connected += r.connected
            done.deliveries += r.deliveries
            done.latency.add(r.latency)
        }
        func ms(_ h: Histogram<UInt64>, _ p: Double) -> String { String(format: "%.2f", Double(h.valueAtPercentile(p)) / 1000) }
        Report.print(
            title: "send-floor",
            rows: [
                ("sockets", String(done.connected)),
                ("deliveries", "\(done.deliveries)/\(connections * rounds)"),
                (
                    "send loop per burst p50 / max (ms)",
                    "\(ms(sendLoop, 50)) / \(String(format: "%.2f", Double(sendLoop.max) / 1000))"
                ),
                ("send() per message, mean (µs)", String(format: "%.2f", sendLoop.mean / Double(connections))),
                ("delivery latency p50 (ms)", ms(done.latency, 50)), ("delivery latency p99 (ms)", ms(done.latency, 99)),
                ("delivery latency max (ms)", String(format: "%.2f", Double(done.latency.max) / 1000)),
            ],
            result: FloorResult(
                sockets: done.connected, deliveries: done.deliveries, expectedDeliveries: connections * rounds,
                sendLoopMs: Percentiles(sendLoop), sendPerMessageMicros: rounded(sendLoop.mean / Double(connections)),
                deliveryMs: Percentiles(done.latency)),
            json: json)
        if done.deliveries < connections * rounds { throw ExitCode(1) }
    }
}

/// `send-floor --json`.
struct FloorResult: Encodable {
    var scenario = "send-floor"
    var sockets, deliveries, expectedDeliveries: Int
    /// One burst of N send() calls.
    var sendLoopMs: Percentiles
    var sendPerMessageMicros: Double
    var deliveryMs: Percentiles

    enum CodingKeys: String, CodingKey {
        case scenario, sockets, deliveries, expectedDeliveries = "expected_deliveries", sendLoopMs = "send_loop_ms"
        case sendPerMessageMicros = "send_per_message_us", deliveryMs = "delivery_ms"
    }
}

/// The reader side of send-floor: connects, says READY, reads with poll().
struct FloorReaderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor-reader", abstract: "Internal: send-floor's reader.",
        shouldDisplay: false)
    @Option var port: Int
    @Option var connections: Int
    @Option var rounds: Int
    @Option var size: Int

    func run() throws {
        var report = FloorReport()
        var fds: [Int32] = []
        for _ in 0..<connections {
            let fd = try FloorSocket.connect(port: port)
            fds.append(fd)
        }
        report.connected = fds.count
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        // poll(), like the fanout scenario's lws workers use.
        var pollfds = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        print("READY " + String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
        fflush(nil)
        var partial = [[UInt8]](repeating: [], count: connections)
        var chunk = [UInt8](repeating: 0, count: 65536)
        let expected = connections * rounds
        let deadline = Date().addingTimeInterval(Double(rounds) * 0.3 + 60)
        while report.deliveries < expected, Date() < deadline {
            let n = Glibc.poll(&pollfds, nfds_t(pollfds.count), 1000)
            if n <= 0 { continue }
            let now = nowMicros()
            for i in pollfds.indices where pollfds[i].revents & Int16(POLLIN) != 0 {
                let got = read(pollfds[i].fd, &chunk, chunk.count)
                guard got > 0 else { continue }
                partial[i] += chunk[0..<got]
                while partial[i].count >= size {
                    let sent = partial[i].withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) }
                    report.latency.record(UInt64(max(0, now - sent)))
                    report.deliveries += 1
                    partial[i].removeFirst(size)
                }
            }
        }
        let data = try JSONEncoder().encode(report)
        print("DONE " + String(decoding: data, as: UTF8.self))
        fflush(nil)
        for fd in fds { close(fd) }
    }
}

/// Plain blocking loopback TCP sockets for send-floor.
enum FloorSocket {
    static func listen() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 4096) == 0 else { throw ValidationError("listen failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        // Each reader process binds its own 127.x.y.z source, so runs back to
        // back do not run out of ephemeral ports on one address.
        var source = loopback(port: 0, address: FloorSocket.source)
        _ = withUnsafePointer(to: &source) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var address = loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard fd >= 0, result == 0 else { throw ValidationError("connect failed: errno \(errno)") }
        return fd
    }

    private static let source = "127.\(UInt8.random(in: 1...254)).\(UInt8.random(in: 1...254)).\(UInt8.random(in: 2...254))"

    private static func loopback(port: Int, address text: String = "127.0.0.1") -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(text)
        return address
    }
}
