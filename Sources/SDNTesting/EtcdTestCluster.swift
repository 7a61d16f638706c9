import Foundation

/// A private etcd cluster of several members (three by default) on loopback ports, for tests of what a
/// cluster does when members fail: a write needs a quorum (two of three), so one member down changes
/// nothing and two down stop every write. Its own directory under the system's temporary directory;
/// everything is killed and removed when released (or with `stop()`). `kill(member:)` and
/// `start(member:)` stop and restart one member on the same ports and data.
public final class EtcdTestCluster: @unchecked Sendable {
    public typealias StartError = EtcdTestStartError

    /// The members' client URLs, in member order: what `sdnd --etcd` takes (each one).
    public var endpoints: [String] { members.map(\.clientURL) }
    public var memberCount: Int { members.count }
    private let directory: String
    private var members: [EtcdTestMember] = []
    private var initialCluster: String { members.map(\.clusterEntry).joined(separator: ",") }

    /// Starts every member and returns once each answers /health (which needs an elected leader).
    public init(members count: Int = 3, timeout: Duration = .seconds(60)) throws {
        precondition(count >= 1, "a cluster has at least one member")
        directory = try makeTemporaryDirectory(prefix: "sdn-etcd")
        for attempt in 1...3 {
            do {
                let ports = try EtcdTestMember.freeLoopbackPorts(count: 2 * count)
                members = try (0..<count).map { index in
                    try EtcdTestMember(name: "m\(index + 1)", clientPort: ports[2 * index], peerPort: ports[2 * index + 1],
                                       dataDirectory: "\(directory)/m\(index + 1)", logPath: "\(directory)/m\(index + 1).log")
                }
                // Together: no member becomes healthy before a quorum of them runs.
                try start(members: Array(0..<count), timeout: timeout)
                return
            } catch {
                let raced = members.contains(where: \.lostAPortRace)
                for member in members {
                    member.kill()
                    try? FileManager.default.removeItem(atPath: member.dataDirectory)
                }
                guard attempt < 3, raced else {
                    try? FileManager.default.removeItem(atPath: directory)
                    throw error
                }
                members = []
            }
        }
    }

    /// Starts the given members (0-based) that are not running, with their ports and data, and waits until
    /// each is healthy: a member joins only if, with it, a quorum runs.
    public func start(members indices: [Int], timeout: Duration = .seconds(60)) throws {
        for index in indices { try members[index].launch(initialCluster: initialCluster) }
        for index in indices { try members[index].waitUntilHealthy(timeout: timeout) }
    }

    public func start(member index: Int, timeout: Duration = .seconds(60)) throws {
        try start(members: [index], timeout: timeout)
    }

    /// SIGKILL to one member (0-based): an abrupt outage of that machine's etcd.
    public func kill(member index: Int) {
        members[index].kill()
    }

    public func isRunning(member index: Int) -> Bool { members[index].isRunning }

    /// The member (0-based) that leads the cluster now, if one does.
    public var leader: Int? { members.firstIndex { $0.isRunning && $0.isLeader } }

    /// Kills every member and removes the cluster's directory.
    public func stop() {
        for member in members { member.kill() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Each member's last log lines (for failure messages).
    public func logTails(lines: Int = 10) -> String {
        members.map { "--- etcd \($0.name) (\($0.clientURL)):\n\($0.logTail(lines: lines))" }.joined(separator: "\n")
    }

    deinit {
        stop()
    }
}
