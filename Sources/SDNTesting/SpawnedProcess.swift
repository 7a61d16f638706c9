import Glibc

/// A child started with `posix_spawn`, its output read through two pipes. `Shell.run` uses it instead of
/// Foundation's `Process`, whose `run()` crashed in its own memcpy (a bad pointer, SIGSEGV) twice in whole
/// test-suite runs that launch tools from many threads (swift-corelibs-foundation with Swift 6.3; never
/// alone, so the cause is not known).
struct SpawnedProcess {
    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    private static let spawnLock = SpawnLock()

    let pid: pid_t
    private let stdoutFD: Int32
    private let stderrFD: Int32

    /// Starts `arguments` (arguments[0] is the name the child sees) from `executable`, with standard input
    /// from /dev/null, in a process group of its own (so that a timeout kills what it forked too).
    init(executable: String, arguments: [String]) throws {
        // Pipes and spawn under one lock, and close-on-exec set before another of our spawns can run, so
        // that no other child inherits these pipes (it would hold them open past this child's exit).
        Self.spawnLock.lock()
        defer { Self.spawnLock.unlock() }
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        guard pipe(&out) == 0 else { throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))") }
        guard pipe(&err) == 0 else {
            close(out[0]); close(out[1])
            throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))")
        }
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        Self.startInOwnGroupWithDefaultSignals(&attributes)

        let cArguments = arguments.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var child: pid_t = 0
        let result = cArguments.withUnsafeBufferPointer { argv in
            posix_spawn(&child, executable, &actions, &attributes, UnsafeMutablePointer(mutating: argv.baseAddress!), environ)
        }
        close(out[1]); close(err[1])
        guard result == 0 else {
            close(out[0]); close(err[0])
            throw SpawnError(description: "posix_spawn \(executable): \(String(cString: strerror(result)))")
        }
        pid = child
        stdoutFD = out[0]
        stderrFD = err[0]
    }

    /// A process group of its own, no signal blocked and none ignored. The test runner's threads block
    /// nearly every signal and ignore SIGPIPE, and a spawned child inherits both: `nc -w`, `ping -W` and
    /// `timeout` (SIGALRM) then never time out, inside an LXC container too (lxc-init passes the mask on).
    static func startInOwnGroupWithDefaultSignals(_ attributes: inout posix_spawnattr_t) {
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
    }

    /// Reads both streams until the child has exited and both are closed (waiting at most `drainAfterExit`
    /// for helpers it forked that still hold them), or until `timeout`, when the whole group is killed and
    /// the status is nil.
    func collect(timeout: Duration, drainAfterExit: Duration) -> (status: Int32?, stdout: String, stderr: String) {
        var buffers: [[UInt8]] = [[], []]
        var open = [true, true]
        var status: Int32?
        let start = ContinuousClock.now
        var exitedAt: ContinuousClock.Instant?
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            var fds = [pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0), pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)]
            for index in 0..<2 where !open[index] { fds[index].fd = -1 }
            if open.contains(true) { _ = poll(&fds, 2, 50) } else { usleep(10_000) }
            for index in 0..<2 where open[index] && fds[index].revents != 0 {
                let count = chunk.withUnsafeMutableBytes { read(fds[index].fd, $0.baseAddress, $0.count) }
                if count > 0 { buffers[index] += chunk[0..<count] } else if count == 0 || (errno != EINTR && errno != EAGAIN) { open[index] = false }
            }
            if status == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid {
                    status = Self.exitStatus(raw)
                    exitedAt = .now
                }
            }
            if let exitedAt, !open.contains(true) || ContinuousClock.now - exitedAt > drainAfterExit { break }
            if status == nil && ContinuousClock.now - start > timeout {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                var raw: Int32 = 0
                _ = waitpid(pid, &raw, 0)
                close(stdoutFD); close(stderrFD)
                return (nil, String(decoding: buffers[0], as: UTF8.self), String(decoding: buffers[1], as: UTF8.self))
            }
        }
        close(stdoutFD); close(stderrFD)
        return (status, String(decoding: buffers[0], as: UTF8.self), String(decoding: buffers[1], as: UTF8.self))
    }

    /// The shell's view of a wait status: the exit code, or 128 + the signal that ended the child.
    static func exitStatus(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}

/// A plain mutex (`pthread_mutex_t`) for the few lines around a spawn.
final class SpawnLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    func lock() { pthread_mutex_lock(&mutex) }
    func unlock() { pthread_mutex_unlock(&mutex) }
}
