import Foundation
public import SDNNetns
import Synchronization

/// Runs command-line tools from tests, to check kernel state with the reference tools (`ip -j`,
/// `nft -j`, `ping`) rather than with the code under test.
///
/// Not for production code: adapters talk to the kernel over netlink, never through tools.
public enum Shell {
    /// How long a command may run before it is killed: long enough for a slow CI machine, short
    /// enough that a hung tool fails the test instead of hanging the suite.
    public static let defaultTimeout: Duration = .seconds(60)

    /// Runs `arguments` (the tool, looked up like a shell would, then its arguments) and returns its
    /// exit status and output. A non-zero status is returned, not thrown.
    ///
    /// With a `namespace`, the command runs inside it: `ip netns exec NAME …` for a named namespace,
    /// `nsenter --net=PATH -- …` otherwise.
    ///
    /// - Throws: ``ShellError`` if the tool is missing, cannot start, or outlives `timeout` (then its
    ///   whole process group is killed); also when this process's own `lo` is down, because
    ///   Foundation's `Process` would hang forever (it needs loopback for its wake-up sockets).
    public static func run(
        _ arguments: [String],
        in namespace: NetworkNamespace? = nil,
        timeout: Duration = defaultTimeout
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let command = wrapped(arguments, in: namespace)
        guard let toolName = command.first, let executable = ExecutableLookup.find(toolName) else {
            throw ShellError(code: .executableNotFound, command: command, message: "`\(command.first ?? "")` not found in PATH")
        }
        try requireLoopbackUp(command: command)

        let spawned: SpawnedProcess
        do {
            spawned = try SpawnedProcess(executable: executable, arguments: command)
        } catch {
            throw ShellError(code: .launchFailed, command: command, message: "could not start: \(error)")
        }
        let outcome = spawned.collect(timeout: timeout, drainAfterExit: .seconds(5))
        guard let status = outcome.status else {
            throw ShellError(code: .timedOut, command: command, message: "killed after \(timeout)", stdout: outcome.stdout, stderr: outcome.stderr)
        }
        return (status, outcome.stdout, outcome.stderr)
    }

    /// Runs `arguments` and returns its standard output, throwing ``ShellError`` (with the output and
    /// error text) if it exits with a non-zero status.
    @discardableResult
    public static func output(
        _ arguments: [String],
        in namespace: NetworkNamespace? = nil,
        timeout: Duration = defaultTimeout
    ) throws -> String {
        let result = try run(arguments, in: namespace, timeout: timeout)
        guard result.status == 0 else {
            throw ShellError(
                code: .failed, command: wrapped(arguments, in: namespace),
                message: "exited with status \(result.status)", status: result.status,
                stdout: result.stdout, stderr: result.stderr
            )
        }
        return result.stdout
    }

    static func wrapped(_ arguments: [String], in namespace: NetworkNamespace?) -> [String] {
        guard let namespace else { return arguments }
        if let name = namespace.name {
            return ["ip", "netns", "exec", name] + arguments
        }
        return ["nsenter", "--net=\(namespace.path)", "--"] + arguments
    }

    private static func requireLoopbackUp(command: [String]) throws {
        // The check uses a socket on this thread, so it needs no privileges; if it cannot tell, let
        // the command run rather than guess.
        guard let isUp = try? NetworkNamespace.current.isInterfaceUp("lo"), !isUp else { return }
        throw ShellError(
            code: .loopbackDown, command: command,
            message: "`lo` is down in this process's network namespace, and Foundation's Process would hang; "
                + "bring it up first (NetworkNamespace.current.bringLoopbackUp() or `ip link set lo up`)"
        )
    }
}

/// A command that failed to run, ran too long, or exited with a non-zero status.
public struct ShellError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Sendable, Hashable {
        /// The tool is neither in `PATH` nor in the sbin/bin directories.
        case executableNotFound
        /// The tool exists but could not be started.
        case launchFailed
        /// The tool ran longer than its timeout and was killed with its process group.
        case timedOut
        /// The tool exited with a non-zero status (only from ``Shell/output(_:in:timeout:)``).
        case failed
        /// This process's own `lo` is down, so `Process` would hang; nothing was started.
        case loopbackDown
    }

    public var code: Code
    /// The full command line, including any `ip netns exec` prefix.
    public var command: [String]
    /// A sentence about the failure, without the command line.
    public var message: String
    /// The exit status, for ``Code/failed``.
    public var status: Int32?
    /// What the tool wrote before it failed or was killed.
    public var stdout: String
    /// What the tool wrote to its error stream before it failed or was killed.
    public var stderr: String

    public init(code: Code, command: [String], message: String, status: Int32? = nil, stdout: String = "", stderr: String = "") {
        self.code = code
        self.command = command
        self.message = message
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    public var description: String {
        var text = "`\(command.joined(separator: " "))`: \(message)"
        if !stderr.isEmpty { text += "\nstderr: \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))" }
        if !stdout.isEmpty { text += "\nstdout: \(stdout.trimmingCharacters(in: .whitespacesAndNewlines))" }
        return text
    }
}

/// Reads a pipe to its end on a background thread, keeping what arrived so far available.
///
/// It reads a duplicate of the pipe's descriptor and closes it itself, so the reading thread can
/// outlive the `Pipe` object (after a timeout) without ever touching a reused descriptor number.
private final class PipeCollector: Sendable {
    private let data = Mutex([UInt8]())
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        let descriptor = dup(handle.fileDescriptor)
        Thread.detachNewThread { [self] in
            defer {
                if descriptor >= 0 { close(descriptor) }
                done.signal()
            }
            guard descriptor >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                data.withLock { $0 += buffer[0..<count] }
            }
        }
    }

    /// The text read so far, after waiting up to `seconds` for end of file. A grandchild that
    /// escaped the process group can hold the pipe open; its output is then cut off, not awaited.
    func finish(waitingAtMost seconds: Double) -> String {
        _ = done.wait(timeout: .now() + seconds)
        return String(decoding: data.withLock { $0 }, as: UTF8.self)
    }
}

extension Duration {
    var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
