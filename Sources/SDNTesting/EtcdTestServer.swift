import Foundation
import Glibc
import Synchronization
public import Testing

extension Trait where Self == ConditionTrait {
    /// Runs the test only where Debian's `etcd-server` is installed (`etcd` in PATH), and otherwise skips
    /// it saying so. No root needed: the tests' etcd listens on loopback ports in a temporary directory.
    public static var etcd: Self { .systemTest(requiresRoot: false, tools: ["etcd"]) }
}

/// A private, single-member etcd for one test: its own data directory under the system's temporary
/// directory and two free loopback ports (clients, peers). Killed and its directory removed when released
/// (or with `stop()`); `kill()` and `start()` stop and restart it on the same ports and data, for outages.
public final class EtcdTestServer: @unchecked Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// `http://127.0.0.1:PORT`: what clients connect to.
    public var clientURL: String { "http://127.0.0.1:\(clientPort)" }
    public private(set) var clientPort: Int
    public private(set) var peerPort: Int
    public let dataDirectory: String
    public let logPath: String
    private let directory: String
    private let lock = NSLock()
    private var process: BackgroundProcess?

    /// Starts etcd and returns once it answers /health (or throws with the end of its log).
    public init(name: String = "sdn-test") throws {
        guard let executable = ExecutableLookup.find("etcd") else {
            throw StartError(description: "`etcd` not found in PATH (Debian: apt-get install etcd-server)")
        }
        self.executable = executable
        self.name = name
        let template = (NSTemporaryDirectory() as NSString).appendingPathComponent("sdn-etcd-XXXXXX")
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { throw StartError(description: "mkdtemp \(template): \(String(cString: strerror(errno)))") }
        directory = String(cString: made)
        dataDirectory = directory + "/data"
        logPath = directory + "/etcd.log"
        // Free now, taken by etcd a moment later: another process could take one in between, so a start
        // that finds its address in use tries other ports.
        var ports = try Self.freeLoopbackPorts(count: 2)
        clientPort = ports[0]
        peerPort = ports[1]
        for attempt in 1...3 {
            do {
                try start()
                return
            } catch {
                let log = logTail(lines: 50)
                guard attempt < 3, log.contains("address already in use") else {
                    try? FileManager.default.removeItem(atPath: directory)
                    throw error
                }
                try? FileManager.default.removeItem(atPath: dataDirectory)
                ports = try Self.freeLoopbackPorts(count: 2)
                clientPort = ports[0]
                peerPort = ports[1]
            }
        }
    }

    private let executable: String
    private let name: String

    /// Starts etcd (again, on the same ports and data after `kill()`), waiting until it is healthy.
    public func start(timeout: Duration = .seconds(30)) throws {
        lock.lock()
        defer { lock.unlock() }
        guard process?.isRunning != true else { return }
        let peerURL = "http://127.0.0.1:\(peerPort)"
        let started = try BackgroundProcess(
            executable: executable,
            arguments: [
                "--name", name, "--data-dir", dataDirectory,
                "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
                "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
                "--initial-cluster", "\(name)=\(peerURL)", "--initial-cluster-state", "new",
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
            ],
            logPath: logPath
        )
        process = started
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if Self.isHealthy(port: clientPort) { return }
            if let status = started.wait(timeout: .zero) {
                throw StartError(description: "etcd exited with status \(status) while starting; its log ends:\n\(logTail())")
            }
            usleep(20_000)
        }
        started.signal(SIGKILL)
        started.wait(timeout: .seconds(5))
        throw StartError(description: "etcd did not become healthy within \(timeout); its log ends:\n\(logTail())")
    }

    /// SIGKILL: an abrupt outage. `start()` brings it back with its data.
    public func kill() {
        lock.lock()
        defer { lock.unlock() }
        process?.signal(SIGKILL)
        process?.wait(timeout: .seconds(10))
        process = nil
    }

    /// Kills etcd and removes its directory.
    public func stop() {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return process?.isRunning == true
    }

    /// The last lines etcd wrote (for failure messages).
    public func logTail(lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    deinit {
        stop()
    }

    // MARK: - One etcd for a whole test process

    private static let sharedServer = Mutex<EtcdTestServer?>(nil)

    /// One etcd shared by every test of the process that needs only a store of its own (give each a key
    /// prefix of its own); started by the first caller, killed when the process exits.
    public static func shared() throws -> EtcdTestServer {
        try sharedServer.withLock { shared in
            if let shared { return shared }
            let server = try EtcdTestServer(name: "sdn-shared")
            shared = server
            sharedCleanup.withLock { $0 = (server.currentPID(), server.directory) }
            atexit {
                // A C function pointer: no captures, so the state comes from a global.
                if let (cleanup) = EtcdTestServer.sharedCleanup.withLock({ $0 }) {
                    Glibc.kill(cleanup.0, SIGKILL)
                    var status: Int32 = 0
                    waitpid(cleanup.0, &status, 0)
                    try? FileManager.default.removeItem(atPath: cleanup.1)
                }
            }
            return server
        }
    }

    private static let sharedCleanup = Mutex<(pid_t, String)?>(nil)

    private func currentPID() -> pid_t {
        lock.lock()
        defer { lock.unlock() }
        return process?.pid ?? 0
    }

    // MARK: - Sockets

    /// Ports the kernel hands out for 127.0.0.1 now (bound to port 0, then released).
    static func freeLoopbackPorts(count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for socket in sockets { close(socket) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { throw StartError(description: "socket: \(String(cString: strerror(errno)))") }
            sockets.append(descriptor)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                    bind(descriptor, sockaddrPointer, length) == 0 && getsockname(descriptor, sockaddrPointer, &length) == 0
                }
            }
            guard bound else { throw StartError(description: "bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    /// GET /health answers `"health":"true"`.
    static func isHealthy(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return false }
        let request = Array("GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard write(descriptor, request, request.count) == request.count else { return false }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count <= 0 { break }
            response += chunk[0..<count]
        }
        return String(decoding: response, as: UTF8.self).contains("\"health\":\"true\"")
    }
}
