import Foundation
import Glibc
import SDNNetns

/// Three nodes of one sdn cluster on one machine: each node a network namespace running its own `sdnd`
/// (`--node nK --netns …`), all three on one etcd prefix of a private three-member `EtcdTestCluster`.
/// The nodes' `eth0` are joined by an underlay: a bridge in a fourth ("switch") namespace with one veth
/// per node, so taking that veth down partitions the node. Containers are namespaces of their own, their
/// host end `veth<vmid>i0` in their node (as LXC makes them). The test drives the real `sdn` CLI against
/// each node's socket and checks traffic with ping and nc from the guests.
///
/// Everything (namespaces `sdntest-<pid>-c…`, daemons, etcd, the temporary directory) is removed by
/// `stop()` or when the lab is released.
public final class ClusterLab: @unchecked Sendable {
    public struct Guest: Sendable {
        public var id: Int
        public var node: Int
        public var mac: String
        public var address: String
    }

    public struct LabError: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// One status of a node, read with `sdn status --output json` through its socket.
    public struct NodeStatus: Sendable {
        public var target: Int64?
        public var applied: Int64?
        public var lastError: String?
    }

    public static let nodes = [1, 2, 3]
    /// Two containers on n3, so that its firewall can be checked between them while n3 is cut off.
    public static let guests = [
        Guest(id: 101, node: 1, mac: "52:54:00:63:01:01", address: "10.63.0.11"),
        Guest(id: 102, node: 2, mac: "52:54:00:63:01:02", address: "10.63.0.12"),
        Guest(id: 103, node: 3, mac: "52:54:00:63:01:03", address: "10.63.0.13"),
        Guest(id: 104, node: 3, mac: "52:54:00:63:01:04", address: "10.63.0.14"),
    ]

    public static func guest(_ id: Int) -> Guest { guests.first { $0.id == id }! }

    public let etcd: EtcdTestCluster
    /// Where in etcd the cluster's state lives: `/sdntest-<uuid>/`.
    public let etcdPrefix = "/sdntest-\(UUID().uuidString.lowercased())/"
    /// Holds `config/` (what `sdn push` sends), the daemons' sockets, state directories and logs.
    public let directory: String
    public var configDirectory: String { directory + "/config" }
    private let namePrefix = "sdntest-\(getpid())-c"
    private let sdndPath: String
    private let sdnPath: String
    private let lock = NSLock()
    private var daemons: [Int: BackgroundProcess] = [:]
    private var stopped = false

    /// The topology: three nodes with `eth0` on 10.99.0.0/24, a VXLAN zone across them, one vnet.
    public static let topology: String = {
        var text = """
            # The cluster lab (ClusterLab): three nodes on one underlay, a VXLAN zone across them.
            nodes:

            """
        for node in nodes {
            text += "  n\(node):\n    address: 10.99.0.\(node)\n    uplinks:\n      eth0: { mtu: 1500, addresses: [10.99.0.\(node)/24], comment: underlay }\n"
        }
        text += """
            zones:
              overlay: { type: vxlan, peers: all }
            vnets:
              lab:
                zone: overlay
                tag: 6300
                subnets:
                  10.63.0.0/24: {}
            guests:

            """
        for guest in guests {
            text += "  \(guest.id):\n    kind: lxc\n    node: n\(guest.node)\n    nics:\n"
            text += "      net0: { vnet: lab, mac: \"\(guest.mac)\", ip: [\(guest.address)] }\n"
        }
        return text
    }()

    /// Ping between every guest; TCP 80 to 101 from 102 only; everything else in is dropped.
    /// `extraRules` are added to every guest (one-line rules such as `in accept tcp dport 8080`).
    public static func policy(extraRules: [String] = []) -> String {
        var text = """
            aliases:
              client: \(guest(102).address)
            guests:

            """
        for guest in guests {
            var rules = ["in accept Ping"]
            if guest.id == 101 { rules.append("in accept tcp dport 80 from @client") }
            rules += extraRules
            text += "  \(guest.id):\n    options: { policy-in: drop, ipfilter: true }\n    rules:\n"
            text += rules.map { "      - \($0)\n" }.joined()
        }
        return text
    }

    /// Builds the namespaces and the underlay, starts the etcd cluster and one sdnd per node, and writes
    /// the topology and `policy()` to `configDirectory`.
    public init() throws {
        sdndPath = try Self.product("sdnd")
        sdnPath = try Self.product("sdn")
        directory = try makeTemporaryDirectory(prefix: "sdn-cluster")
        do {
            etcd = try EtcdTestCluster()
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        do {
            try buildNetwork()
            try FileManager.default.createDirectory(atPath: configDirectory + "/Topologies", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: configDirectory + "/Policies", withIntermediateDirectories: true)
            try Self.topology.write(toFile: configDirectory + "/Topologies/cluster.yaml", atomically: true, encoding: .utf8)
            try writePolicy(Self.policy())
            for node in Self.nodes { try startDaemon(node) }
        } catch {
            stop()
            throw error
        }
    }

    deinit {
        stop()
    }

    // MARK: - Names

    public func nodeNamespace(_ node: Int) -> String { "\(namePrefix)\(node)" }
    public func guestNamespace(_ id: Int) -> String { "\(namePrefix)g\(id)" }
    public var switchNamespace: String { "\(namePrefix)sw" }
    /// The switch's port for `node`: its end of the node's underlay veth.
    public func underlayPort(_ node: Int) -> String { "n\(node)" }
    public func socketPath(_ node: Int) -> String { "\(directory)/n\(node).sock" }
    public func logPath(_ node: Int) -> String { "\(directory)/n\(node).log" }

    private var allNamespaces: [String] {
        Self.guests.map { guestNamespace($0.id) } + Self.nodes.map(nodeNamespace) + [switchNamespace]
    }

    // MARK: - The network

    private func ip(_ arguments: String...) throws { try Shell.output(["ip"] + arguments) }

    private func buildNetwork() throws {
        for name in allNamespaces {
            _ = try NetworkNamespace.create(named: name)
            try ip("-n", name, "link", "set", "lo", "up")
        }
        try ip("-n", switchNamespace, "link", "add", "br0", "type", "bridge")
        try ip("-n", switchNamespace, "link", "set", "br0", "up")
        for node in Self.nodes {
            // The node's eth0 stays down and without an address: sdnd configures its uplink.
            try ip("-n", switchNamespace, "link", "add", underlayPort(node), "type", "veth", "peer", "name", "eth0", "netns", nodeNamespace(node))
            try ip("-n", switchNamespace, "link", "set", underlayPort(node), "master", "br0", "up")
        }
        for guest in Self.guests { try plug(guest, into: guest.node) }
    }

    /// The container's veth as LXC makes it: host end `veth<id>i0` in the node, `eth0` in the container.
    private func plug(_ guest: Guest, into node: Int) throws {
        let namespace = guestNamespace(guest.id)
        try ip("-n", nodeNamespace(node), "link", "add", "veth\(guest.id)i0", "type", "veth", "peer", "name", "eth0", "netns", namespace)
        // 1450: the VXLAN zone's MTU on a 1500-byte underlay.
        try ip("-n", namespace, "link", "set", "eth0", "address", guest.mac, "mtu", "1450")
        try ip("-n", namespace, "addr", "add", "\(guest.address)/24", "dev", "eth0")
        try ip("-n", namespace, "link", "set", "eth0", "up")
    }

    /// The container stops on `from` (its veth goes) and starts on `to` (a new veth there), as a move
    /// of an LXC guest between nodes does.
    public func moveContainer(_ id: Int, from: Int, to: Int) throws {
        try ip("-n", nodeNamespace(from), "link", "delete", "veth\(id)i0")
        try plug(Self.guest(id), into: to)
    }

    /// `topology` with guest `id` declared on node `node`.
    public static func topology(moving id: Int, to node: Int) -> String {
        let guest = guest(id)
        return topology.replacingOccurrences(of: "  \(id):\n    kind: lxc\n    node: n\(guest.node)\n", with: "  \(id):\n    kind: lxc\n    node: n\(node)\n")
    }

    public func writeTopology(_ text: String) throws {
        try text.write(toFile: configDirectory + "/Topologies/cluster.yaml", atomically: true, encoding: .utf8)
    }

    /// Takes the node's switch port down (`up: false`, a partition of its underlay) or up again.
    public func setUnderlay(_ node: Int, up: Bool) throws {
        try ip("-n", switchNamespace, "link", "set", underlayPort(node), up ? "up" : "down")
    }

    // MARK: - Daemons

    /// Starts the node's sdnd (again) and waits until it answers `sdn status`.
    public func startDaemon(_ node: Int, timeout: Duration = .seconds(60)) throws {
        let process = try BackgroundProcess(
            executable: sdndPath,
            arguments: ["--netns", nodeNamespace(node), "--node", "n\(node)"] + etcd.endpoints.flatMap { ["--etcd", $0] } + [
                "--etcd-prefix", etcdPrefix, "--listen", "unix://" + socketPath(node), "--libvirt", "none",
                "--state-dir", "\(directory)/n\(node)", "--resync", "5", "--log-level", "debug",
                // Short, so that a killed node is dead (and `sdn apply --wait` stops waiting for it) within seconds.
                "--liveness-ttl", "\(Self.livenessTTLSeconds)",
            ],
            logPath: logPath(node))
        lock.withLock { daemons[node] = process }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw LabError("sdnd n\(node) exited; its log ends:\n\(logTail(node))") }
            // 0 in sync, 3 changes pending, 1 a node error: each means the daemon serves.
            if FileManager.default.fileExists(atPath: socketPath(node)), let status = try? sdn(node, ["status"], timeout: .seconds(10)).status,
               [0, 1, 3].contains(status) {
                return
            }
            usleep(50_000)
        }
        throw LabError("sdnd n\(node) did not answer within \(timeout); its log ends:\n\(logTail(node))")
    }

    /// SIGKILL to the node's sdnd: what it holds in the kernel stays, nothing follows the store.
    public func killDaemon(_ node: Int) {
        guard let process = lock.withLock({ daemons.removeValue(forKey: node) }) else { return }
        process.signal(SIGKILL)
        process.wait(timeout: .seconds(10))
    }

    public func isDaemonRunning(_ node: Int) -> Bool { lock.withLock { daemons[node] }?.isRunning == true }

    public func logTail(_ node: Int, lines: Int = 30) -> String {
        let text = (try? String(contentsOfFile: logPath(node), encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Kills the daemons and etcd, removes the namespaces and the directory.
    public func stop() {
        guard lock.withLock({ !stopped }) else { return }
        lock.withLock { stopped = true }
        for node in Self.nodes { killDaemon(node) }
        for name in allNamespaces {
            // Whatever a test left running there (a listener), then the namespace.
            let pids = (try? Shell.run(["ip", "netns", "pids", name]).stdout) ?? ""
            for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) { Glibc.kill(pid, SIGKILL) }
            _ = try? Shell.run(["ip", "netns", "delete", name])
        }
        etcd.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: - The CLI

    /// Runs the real `sdn` against the node's socket, from `configDirectory` (push sends relative paths).
    @discardableResult
    public func sdn(_ node: Int, _ arguments: [String], timeout: Duration = .seconds(120)) throws -> (status: Int32, stdout: String, stderr: String) {
        try Shell.run(["env", "-C", configDirectory, "SDN_SERVER=unix://" + socketPath(node), sdnPath] + arguments, timeout: timeout)
    }

    public func writePolicy(_ text: String) throws {
        try text.write(toFile: configDirectory + "/Policies/firewall.yaml", atomically: true, encoding: .utf8)
    }

    /// The nodes' `--liveness-ttl`.
    public static let livenessTTLSeconds = 3

    /// `sdn push Topologies Policies` and `sdn apply --yes --wait` through `node`: returns once every live
    /// node applied it; the revision pushed.
    @discardableResult
    public func pushAndApply(through node: Int, message: String) throws -> Int64 {
        let revision = try push(through: node, message: message)
        try applyWaiting(through: node)
        return revision
    }

    /// `sdn apply --yes --wait` through `node`, which must succeed; what it printed.
    @discardableResult
    public func applyWaiting(through node: Int, timeout seconds: Int = 60) throws -> (status: Int32, stdout: String, stderr: String) {
        let apply = try sdn(node, ["apply", "--yes", "--wait", "--timeout", String(seconds)], timeout: .seconds(seconds + 60))
        guard apply.status == 0 else { throw LabError("sdn apply --wait through n\(node) failed (\(apply.status)): \(apply.stdout)\(apply.stderr)") }
        return apply
    }

    /// `GET` on the node's socket with curl (ten times faster than the debug `sdn`, for timings); the JSON.
    public func get(_ node: Int, _ path: String) throws -> [String: Any] {
        let result = try Shell.run(["curl", "-s", "--max-time", "30", "--unix-socket", socketPath(node), "http://sdnd" + path], timeout: .seconds(40))
        guard let json = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw LabError("GET \(path) on n\(node) (\(result.status)): \(result.stdout)\(result.stderr)")
        }
        return json
    }

    /// A request with a JSON body on the node's socket with curl; the status code and the JSON answered.
    public func send(_ node: Int, _ method: String, _ path: String, json body: String, headers: [String] = []) throws -> (status: Int, json: [String: Any]) {
        let result = try Shell.run(["curl", "-s", "--max-time", "30", "-w", "\n%{http_code}", "-X", method, "-H", "Content-Type: application/json"]
                                   + headers.flatMap { ["-H", $0] } + ["--data-binary", body, "--unix-socket", socketPath(node), "http://sdnd" + path],
                                   timeout: .seconds(40))
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        let json = (try? JSONSerialization.jsonObject(with: Data(lines.dropLast().joined(separator: "\n").utf8)) as? [String: Any]) ?? [:]
        return (status, json)
    }

    /// `sdn push Topologies Policies` through `node`; the revision it made.
    public func push(through node: Int, message: String) throws -> Int64 {
        let push = try sdn(node, ["push", "Topologies", "Policies", "-m", message])
        guard push.status == 0 else { throw LabError("sdn push through n\(node) failed (\(push.status)): \(push.stdout)\(push.stderr)") }
        // "pushed revision N: …"
        let words = push.stdout.split(separator: " ")
        guard words.count > 2, words[1] == "revision", let number = Int64(words[2].trimmingCharacters(in: CharacterSet(charactersIn: ":"))) else {
            throw LabError("sdn push said no revision: \(push.stdout)")
        }
        return number
    }

    /// How the lab reads a node's status.
    public enum StatusReader: Sendable {
        /// `sdn status --output json`: what a user sees (about 0.1 s a call, most of it the debug CLI starting).
        case cli
        /// `curl --unix-socket … /v1/status`: the same document, read about ten times faster, for timings.
        case curl
    }

    /// The node's own status, as sdnd reports it on its socket (`GET /v1/status`).
    public func status(_ node: Int, reader: StatusReader = .cli) throws -> NodeStatus {
        let result = switch reader {
        case .cli: try sdn(node, ["status", "--output", "json"], timeout: .seconds(30))
        case .curl: try Shell.run(["curl", "-s", "--max-time", "30", "--unix-socket", socketPath(node), "http://sdnd/v1/status"], timeout: .seconds(40))
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw LabError("sdn status through n\(node) (\(result.status)): \(result.stdout)\(result.stderr)")
        }
        let entry = (json["nodes"] as? [[String: Any]])?.first { $0["node"] as? String == "n\(node)" }
        return NodeStatus(target: (json["target"] as? NSNumber)?.int64Value, applied: (entry?["appliedRevision"] as? NSNumber)?.int64Value,
                          lastError: entry?["lastError"] as? String)
    }

    /// Polls every node's status until each has applied `revision` (or a later one); how long that took.
    /// Throws with every node's status and log tail if `timeout` passes first.
    // One place to switch to `sdn apply --wait` once it exists.
    @discardableResult
    public func waitUntilAllApplied(_ revision: Int64, nodes: [Int] = ClusterLab.nodes, timeout: Duration = .seconds(60),
                                    reader: StatusReader = .cli) throws -> Duration {
        let start = ContinuousClock.now
        var waiting = Set(nodes)
        var last: [Int: String] = [:]
        while ContinuousClock.now - start < timeout {
            for node in waiting.sorted() {
                do {
                    let status = try status(node, reader: reader)
                    if let applied = status.applied, applied >= revision { waiting.remove(node) }
                    last[node] = "applied \(status.applied.map(String.init) ?? "none"), target \(status.target.map(String.init) ?? "none")"
                        + (status.lastError.map { ", last error: \($0)" } ?? "")
                } catch {
                    last[node] = "\(error)"
                }
            }
            if waiting.isEmpty { return ContinuousClock.now - start }
            usleep(reader == .curl ? 5_000 : 20_000)
        }
        let report = waiting.sorted().map { "n\($0): \(last[$0] ?? "no answer")\n\(logTail($0, lines: 15))" }.joined(separator: "\n")
        throw LabError("revision \(revision) not applied within \(timeout) on:\n\(report)")
    }

    // MARK: - Traffic

    /// Whether `from` gets an echo reply from `to` (two tries: the first may wait for ARP across the overlay).
    public func pings(_ from: Int, _ to: Int) throws -> Bool {
        try Shell.run(["ping", "-c", "2", "-i", "0.2", "-W", "1", Self.guest(to).address],
                      in: NetworkNamespace.named(guestNamespace(from)), timeout: .seconds(15)).status == 0
    }

    /// Whether a TCP connection from guest `from` reaches a listener on guest `to`'s `port`.
    public func connects(_ from: Int, _ to: Int, port: Int) throws -> Bool {
        guard let ip = ExecutableLookup.find("ip") else { throw LabError("`ip` not found") }
        let listener = try BackgroundProcess(executable: ip, arguments: ["netns", "exec", guestNamespace(to), "nc", "-l", "-p", "\(port)"],
                                             logPath: "/dev/null")
        defer {
            listener.signal(SIGKILL)
            listener.wait(timeout: .seconds(5))
        }
        try waitForListener(in: guestNamespace(to), port: port)
        return try Shell.run(["nc", "-z", "-w", "2", Self.guest(to).address, "\(port)"],
                             in: NetworkNamespace.named(guestNamespace(from)), timeout: .seconds(15)).status == 0
    }

    private func waitForListener(in namespace: String, port: Int) throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let listening = try Shell.run(["ss", "-Hltn", "sport", "= :\(port)"], in: NetworkNamespace.named(namespace)).stdout
            if !listening.isEmpty { return }
            usleep(20_000)
        }
        throw LabError("nc did not listen on port \(port) in \(namespace)")
    }

    /// `nft list ruleset` in the node's namespace (what its kernel enforces).
    public func ruleset(_ node: Int) throws -> String {
        try Shell.output(["nft", "list", "ruleset"], in: NetworkNamespace.named(nodeNamespace(node)))
    }

    // MARK: - Helpers

    /// The product `name` built with the tests: beside the test bundle, else in .build/debug.
    public static func product(_ name: String) throws -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundle, bundle.deletingLastPathComponent(), URL(fileURLWithPath: repositoryRoot + "/.build/debug")]
        for candidate in candidates {
            let path = candidate.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw LabError("\(name) was not built (run `swift build --build-tests`)")
    }
}
