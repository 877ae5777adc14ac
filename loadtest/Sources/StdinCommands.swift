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

/// Writes a worker's report line to its coordinator (stdout). With the
/// coordinator gone (its pipe closed) the line is lost and the worker goes
/// on to exit: `FileHandle.write` would trap on EPIPE (SIGPIPE is ignored).
func writeReportLine(_ bytes: Data) {
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = write(1, buffer.baseAddress! + offset, buffer.count - offset)
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
