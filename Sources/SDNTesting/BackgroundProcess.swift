import Foundation
import Glibc

/// A long-running program a test starts (the `sdnd` daemon), its output going to a log file so that
/// nothing has to drain pipes while the test talks to it. Stopped (SIGKILL) when released.
public final class BackgroundProcess: @unchecked Sendable {
    public let pid: Int32
    public let logPath: String
    private var exitStatus: Int32?
    private let lock = NSLock()

    public init(executable: String, arguments: [String], logPath: String, environment: [String: String] = [:]) throws {
        self.logPath = logPath
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so a test runner's Ctrl-C does not reach it before the test stops it.
        SpawnedProcess.startInOwnGroupWithDefaultSignals(&attributes)
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL)
        }
        self.pid = pid
    }

    /// The program's output so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    public func signal(_ signal: Int32) { _ = Glibc.kill(pid, signal) }

    /// Waits (bounded) for the program to exit; its exit status, or nil if it still runs.
    @discardableResult
    public func wait(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = lock.withLock({ exitStatus }) { return status }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid {
                let status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
                lock.withLock { exitStatus = status }
                return status
            }
            if result < 0 { return lock.withLock { exitStatus } ?? -1 }
            if ContinuousClock.now >= deadline { return nil }
            usleep(10_000)
        }
    }

    public var isRunning: Bool { wait(timeout: .zero) == nil }

    deinit {
        if lock.withLock({ exitStatus }) == nil {
            _ = Glibc.kill(pid, SIGKILL)
            var raw: Int32 = 0
            _ = waitpid(pid, &raw, 0)
        }
    }
}
