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
    public typealias StartError = EtcdTestStartError

    /// `http://127.0.0.1:PORT`: what clients connect to.
    public var clientURL: String { member.clientURL }
    public var clientPort: Int { member.clientPort }
    public var peerPort: Int { member.peerPort }
    public var dataDirectory: String { member.dataDirectory }
    public var logPath: String { member.logPath }
    private let directory: String
    private var member: EtcdTestMember

    /// Starts etcd and returns once it answers /health (or throws with the end of its log).
    public init(name: String = "sdn-test") throws {
        let directory = try makeTemporaryDirectory(prefix: "sdn-etcd")
        self.directory = directory
        func makeMember() throws -> EtcdTestMember {
            let ports = try EtcdTestMember.freeLoopbackPorts(count: 2)
            return try EtcdTestMember(name: name, clientPort: ports[0], peerPort: ports[1], dataDirectory: directory + "/data",
                                      logPath: directory + "/etcd.log")
        }
        do { member = try makeMember() } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        for attempt in 1...3 {
            do {
                try start()
                return
            } catch {
                guard attempt < 3, member.lostAPortRace else {
                    try? FileManager.default.removeItem(atPath: directory)
                    throw error
                }
                try? FileManager.default.removeItem(atPath: member.dataDirectory)
                member = try makeMember()
            }
        }
    }

    /// Starts etcd (again, on the same ports and data after `kill()`), waiting until it is healthy.
    public func start(timeout: Duration = .seconds(30)) throws {
        try member.launch(initialCluster: member.clusterEntry)
        do { try member.waitUntilHealthy(timeout: timeout) } catch {
            member.kill()
            throw error
        }
    }

    /// SIGKILL: an abrupt outage. `start()` brings it back with its data.
    public func kill() {
        member.kill()
    }

    /// Kills etcd and removes its directory.
    public func stop() {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    public var isRunning: Bool { member.isRunning }

    /// The last lines etcd wrote (for failure messages).
    public func logTail(lines: Int = 20) -> String { member.logTail(lines: lines) }

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
            sharedCleanup.withLock { $0 = (server.member.pid, server.directory) }
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
}
