// `--writers` and `--max-write-delay-ms` (and their environment twins) are
// range-checked before anything starts.
import Foundation
import Testing

@Suite struct WriterFlagTests {
    /// Runs `switchboard serve` with `arguments`; its exit status and output (bounded wait).
    func serve(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: HubProcess.binary)
        process.arguments = ["serve", "--port", "0", "--database-url", TestDatabase.conninfo] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return (-1, "still running") }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, output)
    }

    @Test func outOfRangeValuesAreRefusedAtStart() throws {
        for (arguments, message) in [
            (["--writers", "0"], "--writers must be 1...16"), (["--writers", "17"], "--writers must be 1...16"),
            (["--max-write-delay-ms", "0"], "--max-write-delay-ms must be 1...60000"),
            (["--max-write-delay-ms", "9223372036854775807"], "--max-write-delay-ms must be 1...60000"),
        ] {
            let (status, output) = try serve(arguments)
            #expect(status != 0)
            #expect(output.contains(message), "\(arguments): \(output)")
        }
        let (status, output) = try serve([], environment: ["SWITCHBOARD_WRITERS": "-3"])
        #expect(status != 0)
        #expect(output.contains("--writers must be 1...16"))
    }
}
