import Foundation

/// A child process whose standard output is read line by line and which the test kills (SIGKILL).
final class ChildProcess {
    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    let pid: pid_t
    private let output: FileHandle
    private let errorPath: String
    private var buffer: [UInt8] = []
    private var reaped = false

    init(executable: String, arguments: [String]) throws {
        errorPath = NSTemporaryDirectory() + "/sdn-store-child-\(UUID().uuidString).stderr"
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(pipeEnds[0], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let cArguments = arguments.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var child: pid_t = 0
        let result = cArguments.withUnsafeBufferPointer { argv in
            posix_spawn(&child, executable, &actions, nil, UnsafeMutablePointer(mutating: argv.baseAddress!), environ)
        }
        close(pipeEnds[1])
        guard result == 0 else {
            close(pipeEnds[0])
            throw SpawnError(description: "posix_spawn \(executable): \(String(cString: strerror(result)))")
        }
        pid = child
        output = FileHandle(fileDescriptor: pipeEnds[0], closeOnDealloc: true)
    }

    /// The next line of standard output without its newline, or nil at its end.
    func readLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let chunk = output.availableData
            if chunk.isEmpty { return nil }
            buffer += chunk
        }
    }

    func kill() {
        guard !reaped else { return }
        _ = Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        reaped = true
    }

    func standardError() -> String {
        (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: errorPath)
    }
}
