// Runs a program and waits for it with posix_spawn + waitpid. Foundation's
// Process waits on a run loop that can hang when the child leaves a daemon
// behind (pg_ctl start does), so the cluster tools use this instead.
import Foundation

enum Subprocess {
    /// Runs argv[0] with output discarded (or appended to `log`); returns the exit status.
    static func run(_ argv: [String], log: String? = nil) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log ?? "/dev/null", O_WRONLY | O_APPEND | O_CREAT, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        markEveryDescriptorCloseOnExec()
        // Children must not inherit the caller's blocked signals (serve
        // blocks SIGTERM/SIGINT for its sigwait thread).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, environ)
        guard rc == 0 else { throw EmbeddedPostgres.Failure(description: "cannot run \(argv[0]) (errno \(rc))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS by hand: Glibc's macros do not import.
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Nothing but stdin/out/err is inherited: pg_ctl leaves a daemon behind,
    /// and a descriptor it kept (the one the hub's own parent watches to see
    /// the hub exit, say) would outlive the hub. Glibc's
    /// posix_spawn_file_actions_addclosefrom_np does not import into Swift.
    private static func markEveryDescriptorCloseOnExec() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for name in names {
            guard let fd = Int32(name), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }
}
