// The coordinator steers a worker through its stdin (GO, STOP). A thread of
// its own reads the lines, so the worker's loop only looks at the last one.
import Foundation
import Synchronization

/// The last line read from stdin; "STOP" once stdin is closed.
final class StdinCommands: Sendable {
    private let last = Mutex("")

    /// Starts reading stdin (until STOP or its end) on a thread of its own.
    static func start() -> StdinCommands {
        let commands = StdinCommands()
        Thread {
            while let line = readLine() {
                commands.last.withLock { $0 = line }
                if line == "STOP" { break }
            }
            commands.last.withLock { $0 = "STOP" }
        }.start()
        return commands
    }

    /// The last command.
    var latest: String { last.withLock { $0 } }
}
