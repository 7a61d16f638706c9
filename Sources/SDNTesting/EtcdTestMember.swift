import Foundation
import Glibc

/// etcd did not start, or did not become healthy; says why, with the end of its log.
public struct EtcdTestStartError: Error, CustomStringConvertible {
    public var description: String
}

/// One etcd process of a test: the single member of an `EtcdTestServer`, or one member of an
/// `EtcdTestCluster`. Its ports and data directory stay the same across `kill()` and `launch(…)`, so a
/// restarted member comes back as the same member with its data.
final class EtcdTestMember: @unchecked Sendable {
    typealias StartError = EtcdTestStartError

    let name: String
    let clientPort: Int
    let peerPort: Int
    let dataDirectory: String
    let logPath: String
    var clientURL: String { "http://127.0.0.1:\(clientPort)" }
    var peerURL: String { "http://127.0.0.1:\(peerPort)" }
    /// `NAME=PEER-URL`, one entry of etcd's `--initial-cluster`.
    var clusterEntry: String { "\(name)=\(peerURL)" }

    private let executable: String
    private let lock = NSLock()
    private var process: BackgroundProcess?

    init(name: String, clientPort: Int, peerPort: Int, dataDirectory: String, logPath: String) throws {
        guard let executable = ExecutableLookup.find("etcd") else {
            throw StartError(description: "`etcd` not found in PATH (Debian: apt-get install etcd-server)")
        }
        self.executable = executable
        self.name = name
        self.clientPort = clientPort
        self.peerPort = peerPort
        self.dataDirectory = dataDirectory
        self.logPath = logPath
    }

    deinit {
        kill()
    }

    /// Starts etcd unless it runs; `initialCluster` lists every member (`--initial-cluster`), and only
    /// matters on the first start (afterwards the membership is in the data directory).
    func launch(initialCluster: String) throws {
        lock.lock()
        defer { lock.unlock() }
        guard process?.isRunning != true else { return }
        process = try BackgroundProcess(
            executable: executable,
            arguments: [
                "--name", name, "--data-dir", dataDirectory,
                "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
                "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
                "--initial-cluster", initialCluster, "--initial-cluster-state", "new",
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
            ],
            logPath: logPath
        )
    }

    /// Returns once /health says true (which needs a leader: in a cluster, a quorum of members up), or
    /// throws with the end of the log if etcd exits or `timeout` passes.
    func waitUntilHealthy(timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if Self.isHealthy(port: clientPort) { return }
            if let status = lock.withLock({ process })?.wait(timeout: .zero) {
                throw StartError(description: "etcd \(name) exited with status \(status) while starting; its log ends:\n\(logTail())")
            }
            usleep(20_000)
        }
        throw StartError(description: "etcd \(name) did not become healthy within \(timeout); its log ends:\n\(logTail())")
    }

    /// SIGKILL: an abrupt outage.
    func kill() {
        lock.lock()
        defer { lock.unlock() }
        process?.signal(SIGKILL)
        process?.wait(timeout: .seconds(10))
        process = nil
    }

    var isRunning: Bool { lock.withLock { process?.isRunning == true } }

    var pid: pid_t { lock.withLock { process?.pid ?? 0 } }

    /// Whether its log says a port was taken between choosing it and etcd binding it.
    var lostAPortRace: Bool { logTail(lines: 50).contains("address already in use") }

    /// The last lines etcd wrote (for failure messages).
    func logTail(lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    // MARK: - Helpers

    /// Ports the kernel hands out for 127.0.0.1 now (bound to port 0, then released). Free now, taken by
    /// etcd a moment later: another process could take one in between (see `lostAPortRace`).
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
        exchange(port: port, request: "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?.contains("\"health\":\"true\"") == true
    }

    /// Whether this member is the cluster's leader now (its maintenance status names itself as leader).
    var isLeader: Bool {
        let body = "{}"
        let request = "POST /v3/maintenance/status HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        guard let response = Self.exchange(port: clientPort, request: request), let start = response.range(of: "\r\n\r\n"),
              let json = try? JSONSerialization.jsonObject(with: Data(response[start.upperBound...].utf8)) as? [String: Any],
              let header = json["header"] as? [String: Any], let member = header["member_id"] as? String, let leader = json["leader"] as? String
        else { return false }
        return member == leader
    }

    /// One HTTP/1.0 request to 127.0.0.1:`port` and the whole response (nil if the connection fails).
    private static func exchange(port: Int, request: String) -> String? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
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
        guard connected else { return nil }
        let bytes = Array(request.utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count else { return nil }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count <= 0 { break }
            response += chunk[0..<count]
        }
        return String(decoding: response, as: UTF8.self)
    }
}
