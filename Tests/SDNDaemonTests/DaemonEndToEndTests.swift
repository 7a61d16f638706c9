import Crypto
import Foundation
import Glibc
import SDNEtcd
import SDNNetns
import SDNStore
import SDNTesting
import Testing

/// The real `sdnd` in a network namespace of its own, driven by the real `sdn` as its client over the
/// Unix socket, checked with `ip` and `nft`: what a user on a fresh machine does.
@Suite(.serialized, .systemTest(tools: ["ip", "nft"], linkKinds: ["bridge", "veth"], paths: ["/dev/net/tun"]))
final class DaemonEndToEndTests {
    static let productsDirectory: URL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    static func product(_ name: String) -> String? {
        for candidate in [productsDirectory, productsDirectory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// `sdntest-<pid>-…`: a killed run's namespaces are removed by the next test run.
    let namespaceName = "sdntest-\(getpid())-sdnd\(UInt32.random(in: 0..<1_000_000))"
    let namespace: NetworkNamespace
    let directory: String
    var daemon: BackgroundProcess?

    var socketPath: String { directory + "/sdnd.sock" }
    var server: String { "unix://" + socketPath }

    init() throws {
        namespace = try NetworkNamespace.create(named: namespaceName)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sdnd-e2e-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory + "/config/Topologies", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/config/Policies", withIntermediateDirectories: true)
        try Shell.output(["ip", "-n", namespaceName, "link", "set", "lo", "up"])
        try Shell.output(["ip", "-n", namespaceName, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer"])
        try Self.topology.write(toFile: directory + "/config/Topologies/node.yaml", atomically: true, encoding: .utf8)
        try Self.policy(port: 80).write(toFile: directory + "/config/Policies/fw.yaml", atomically: true, encoding: .utf8)
    }

    deinit {
        daemon?.signal(SIGKILL)
        _ = daemon?.wait(timeout: .seconds(5))
        _ = try? namespace.delete()
        try? FileManager.default.removeItem(atPath: directory)
    }

    static let topology = DaemonFixtures.topology()

    static func policy(port: Int) -> String {
        """
        cluster:
          options: { policy-in: drop }
          rules:
            - in accept SSH
        guests:
          101:
            options: { ipfilter: true }
            rules:
              - id web in accept tcp dport \(port)
        """
    }

    // MARK: helpers

    func startDaemon(drift: String = "repair", environment: [String: String] = [:], extraArguments: [String] = []) throws {
        let sdnd = try #require(Self.product("sdnd"), "sdnd was not built next to the tests (run `swift build --build-tests`)")
        daemon = try BackgroundProcess(executable: sdnd,
                                       arguments: ["--state-dir", directory + "/state", "--listen", server, "--netns", namespaceName,
                                                   "--drift", drift, "--resync", "30", "--log-level", "debug"] + extraArguments,
                                       logPath: directory + "/sdnd.log", environment: environment)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let daemon, !daemon.isRunning { Issue.record("sdnd exited: \(daemon.log)"); return }
            // `sdn status` answers 0 (in sync) or 3 (pending changes or drift) once the daemon serves.
            if FileManager.default.fileExists(atPath: socketPath), let status = (try? sdn("status"))?.status, status == 0 || status == 3 { return }
            usleep(50_000)
        }
        Issue.record("sdnd did not answer within 30 s: \(daemon?.log ?? "")")
    }

    func stopDaemon() throws -> Int32? {
        daemon?.signal(SIGTERM)
        let status = daemon?.wait(timeout: .seconds(30))
        daemon = nil
        return status
    }

    @discardableResult
    func sdn(_ arguments: String..., check: Bool = false) throws -> (status: Int32, stdout: String, stderr: String) {
        try sdn(arguments, check: check)
    }

    @discardableResult
    func sdn(_ arguments: [String], check: Bool = false) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(Self.product("sdn"), "sdn was not built next to the tests")
        // From the configuration's directory: push sends paths relative to where it runs.
        let result = try Shell.run(["env", "-C", directory + "/config", "SDN_SERVER=\(server)", binary] + arguments)
        if check { #expect(result.status == 0, "sdn \(arguments.joined(separator: " ")): \(result.stdout)\(result.stderr)") }
        return result
    }

    func nft(_ arguments: String...) throws -> String { try Shell.output(["nft"] + arguments, in: namespace) }

    func pushAndApply() throws {
        try sdn("push", "Topologies", "Policies", "-m", "e2e", check: true)
        try sdn("apply", "--yes", check: true)
    }

    /// Polls `condition` every 10 ms for at most `seconds`; the time it took, or nil.
    func waitUntil(seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .milliseconds(Int64(seconds * 1000)) {
            if try condition() { return ContinuousClock.now - start }
            usleep(10_000)
        }
        return nil
    }

    func guestChainRules() throws -> [String] {
        let listing = try nft("list", "ruleset")
        return listing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.contains("dport 80") }
    }

    // MARK: tests

    @Test func pushPlanApplyAndStatus() throws {
        try startDaemon()
        let push = try sdn("push", "Topologies", "Policies", "-m", "first")
        #expect(push.status == 0, "\(push)")
        let plan = try sdn("plan")
        #expect(plan.stdout.contains("#") || plan.stdout.contains("+"), "\(plan)")
        #expect((try? nft("list", "table", "inet", "sdn")) == nil, "plan must not write")
        // A node of its own (SQLite): --wait returns once it applied, and it is live from its first report.
        let applied = try sdn("apply", "--yes", "--wait", check: true)
        #expect(applied.stdout.contains("generation 1 (revision 1) applied on 1 live node"), "\(applied)")
        #expect(!applied.stderr.contains("dead"), "\(applied.stderr)")
        #expect(try nft("list", "table", "inet", "sdn").contains("dport 80"))
        let status = try sdn("status", "--output", "json")
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        let node = (json?["nodes"] as? [[String: Any]])?.first
        #expect(node?["appliedRevision"] as? Int == 1, "\(status.stdout)")
        #expect(node?["pendingChanges"] as? Bool == false)
        #expect((node?["portsMissing"] as? [String]) == ["tap101i0"])
        // Pull gives back exactly what was pushed.
        let pulled = directory + "/pulled"
        try sdn("pull", "--into", pulled, check: true)
        let original = try String(contentsOfFile: directory + "/config/Policies/fw.yaml", encoding: .utf8)
        let back = try FileManager.default.subpathsOfDirectory(atPath: pulled).filter { $0.hasSuffix("fw.yaml") }
        #expect(back.count == 1)
        if let path = back.first { #expect(try String(contentsOfFile: pulled + "/" + path, encoding: .utf8) == original) }
    }

    @Test(.etcd) func withEtcdEndpointsTheDesiredStateLivesInEtcd() async throws {
        let etcd = try EtcdTestServer()
        defer { etcd.stop() }
        let arguments = ["--etcd", etcd.clientURL, "--etcd-prefix", "/sdn-e2e/"]
        try startDaemon(extraArguments: arguments)
        try pushAndApply()
        #expect(try nft("list", "table", "inet", "sdn").contains("dport 80"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/state/sdn.sqlite"))

        // Another node's store on the same etcd sees what this sdnd wrote.
        let otherNode = try await EtcdStateStore.connect(endpoints: [etcd.clientURL], prefix: "/sdn-e2e/")
        #expect(try await otherNode.headNumber() == 1)
        #expect(try await otherNode.target() == 1)
        #expect(try await otherNode.head()?.documents.contains { $0.path.hasSuffix("fw.yaml") } == true)
        #expect(try await otherNode.nodeStatuses().map(\.appliedRevision) == [1])

        // A restarted sdnd finds its state in etcd.
        #expect(try stopDaemon() == 0)
        try startDaemon(extraArguments: arguments)
        let status = try sdn("status", "--output", "json")
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        #expect((json?["nodes"] as? [[String: Any]])?.first?["appliedRevision"] as? Int == 1, "\(status.stdout)")
    }

    @Test(.etcd) func aSingleNodeMovesIntoEtcdWithItsHistoryAndAdoptsItsKernel() async throws {
        try startDaemon()
        try pushAndApply()
        try Self.policy(port: 8080).write(toFile: directory + "/config/Policies/fw.yaml", atomically: true, encoding: .utf8)
        try sdn("push", "Topologies", "Policies", "-m", "pending port", check: true)
        let token = try sdn("token", "create", "--role", "Auditor", "--output", "json", check: true)
        let secret = try #require((try JSONSerialization.jsonObject(with: Data(token.stdout.utf8)) as? [String: Any])?["secret"] as? String)
        #expect(try stopDaemon() == 0)

        let etcd = try EtcdTestServer()
        defer { etcd.stop() }
        let etcdArguments = ["--etcd", etcd.clientURL, "--etcd-prefix", "/sdn-init/"]
        let imported = try sdn(["cluster", "init", "--from-sqlite", directory + "/state/sdn.sqlite"] + etcdArguments)
        #expect(imported.status == 0, "\(imported)")
        #expect(imported.stdout.contains("2 revisions, target 1, "), "\(imported.stdout)")
        #expect(imported.stdout.contains("1 token"), "\(imported.stdout)")
        // Twice would merge two histories: refused, naming the prefix.
        let again = try sdn(["cluster", "init", "--from-sqlite", directory + "/state/sdn.sqlite"] + etcdArguments)
        #expect(again.status != 0)
        #expect((again.stdout + again.stderr).contains("holds a state already (head revision 2)"), "\(again)")

        let rulesBefore = try guestChainRules()
        try startDaemon(extraArguments: etcdArguments)
        let history = try sdn("history", check: true).stdout
        #expect(history.contains("e2e") && history.contains("pending port"), "\(history)")
        #expect(try guestChainRules() == rulesBefore)
        #expect(daemon?.log.contains("adopted the kernel as it is") == true, "the first start on etcd wrote to the kernel")
        // The copied token still authenticates (checked through the store: the socket trusts its callers).
        let store = try await EtcdStateStore.connect(endpoints: [etcd.clientURL], prefix: "/sdn-init/")
        defer { store.close() }
        let hash = Array(SHA256.hash(data: Data(secret.utf8)))
        #expect(try await store.token(secretHash: hash)?.role == .auditor)

        // The pending revision applied with --wait: this node is the cluster's only live one.
        let waited = try sdn("apply", "--yes", "--wait", "--timeout", "30", check: true)
        #expect(waited.stdout.contains("generation 2 (revision 2) applied on 1 live node"), "\(waited.stdout)")
        #expect(try guestChainRules().contains { $0.contains("8080") })
        let nodes = try sdn("node", "list", "--output", "json", check: true)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(nodes.stdout.utf8)) as? [String: Any])
        let node = try #require((report["nodes"] as? [[String: Any]])?.first)
        #expect(node["name"] as? String == "n1" && node["live"] as? Bool == true && node["state"] as? String == "applied", "\(nodes.stdout)")
        #expect(node["appliedGeneration"] as? Int == 2)
        let metrics = try Shell.output(["curl", "-s", "--unix-socket", socketPath, "http://sdnd/metrics"]).split(separator: "\n")
        #expect(metrics.contains("sdn_applied_generation 2.0") && metrics.contains("sdn_store_unreachable 0.0"),
                "\(metrics.filter { $0.hasPrefix("sdn_") && !$0.hasPrefix("sdn_rule") })")
    }

    @Test(.etcd) func aVXLANZonesFloodListFollowsNodesJoiningAndLeaving() async throws {
        let etcd = try EtcdTestServer()
        defer { etcd.stop() }
        let overlay = """
            nodes:
              n1:
                address: 192.0.2.1
                uplinks:
                  eth0: { addresses: [192.0.2.1/24] }
            zones:
              overlay: { type: vxlan, peers: all }
            vnets:
              blue: { zone: overlay, tag: 5001 }
            """
        try overlay.write(toFile: directory + "/config/Topologies/node.yaml", atomically: true, encoding: .utf8)
        try "cluster:\n  rules:\n    - in accept SSH\n".write(toFile: directory + "/config/Policies/fw.yaml", atomically: true, encoding: .utf8)
        try startDaemon(extraArguments: ["--etcd", etcd.clientURL, "--etcd-prefix", "/sdn-join/", "--node", "n1"])
        try pushAndApply()
        func floodDestinations() throws -> [String] {
            let fdb = try Shell.output(["bridge", "-n", namespaceName, "fdb", "show", "dev", "vxlan_blue"])
            return fdb.split(separator: "\n").filter { $0.hasPrefix("00:00:00:00:00:00") }.compactMap { line in
                line.split(separator: " ").drop { $0 != "dst" }.dropFirst().first.map(String.init)
            }
        }
        #expect(try floodDestinations().isEmpty, "a zone of one node floods to nobody")

        let joined = try sdn("node", "join", "n2", "--address", "192.0.2.2", "--management", "192.0.2.0/24")
        #expect(joined.status == 0, "\(joined)")
        #expect(joined.stdout.contains("node n2: joined (revision 2)"), "\(joined.stdout)")
        // n2 has no sdnd yet: it is named, not waited for.
        #expect(joined.stderr.contains("node n2 is dead"), "\(joined.stderr)")
        #expect(try floodDestinations() == ["192.0.2.2"])
        let again = try sdn("node", "join", "n2", "--address", "192.0.2.2")
        #expect(again.stdout.contains("already joined"), "\(again)")

        let removed = try sdn("node", "remove", "n2")
        #expect(removed.status == 0, "\(removed)")
        #expect(removed.stdout.contains("forgotten"), "\(removed.stdout)")
        #expect(try floodDestinations().isEmpty)
        let list = try sdn("node", "list", "--output", "json", check: true)
        let names = ((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["nodes"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["n1"], "\(list.stdout)")
        // The running node itself cannot be removed.
        let refused = try sdn("node", "remove", "n1")
        #expect(refused.status == 1 && refused.stderr.contains("node n1 is live"), "\(refused)")
    }

    @Test func itTellsSystemdWhenItIsReadyAndWhenItStops() throws {
        // systemd's side of Type=notify: a datagram socket named by NOTIFY_SOCKET.
        let path = directory + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in for (index, byte) in path.utf8.enumerated() { buffer[index] = byte } }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        try #require(bound == 0)
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func receive() -> String {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
        }
        try startDaemon(environment: ["NOTIFY_SOCKET": path])
        let ready = receive()
        #expect(ready.contains("READY=1"), "got '\(ready)'")
        #expect(try stopDaemon() == 0)
        #expect(receive().contains("STOPPING=1"))
    }

    @Test func aTapCreatedByHandIsAttachedWithItsFirewall() throws {
        try startDaemon()
        try pushAndApply()
        try Shell.output(["ip", "-n", namespaceName, "tuntap", "add", "dev", "tap101i0", "mode", "tap"])
        let attached = try waitUntil {
            let link = try Shell.output(["ip", "-n", namespaceName, "-d", "link", "show", "tap101i0"])
            return link.contains("master ") && link.contains(",UP")
        }
        #expect(attached != nil, "tap101i0 was not attached: \(daemon?.log.suffix(3000) ?? "")")
        let status = try sdn("status", "--output", "json")
        #expect(status.stdout.contains("tap101i0"))
    }

    @Test func aRuleDeletedWithNftIsPutBack() throws {
        try startDaemon()
        try pushAndApply()
        let before = try guestChainRules()
        #expect(!before.isEmpty)
        // Delete the guest's port-80 rule by its handle, as an admin "fixing" things by hand would.
        let listing = try nft("-a", "list", "table", "inet", "sdn")
        var chain = ""
        var handle: String?
        for line in listing.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("chain ") { chain = String(trimmed.dropFirst(6).split(separator: " ")[0]) }
            if trimmed.contains("dport 80"), let range = trimmed.range(of: "# handle ") {
                handle = String(trimmed[range.upperBound...]).trimmingCharacters(in: .whitespaces)
                break
            }
        }
        let ruleHandle = try #require(handle, "no port-80 rule in \(listing)")
        try Shell.output(["nft", "delete", "rule", "inet", "sdn", chain, "handle", ruleHandle], in: namespace)
        // (It may be back before we look again: the daemon sees the commit at once.)
        let repaired = try waitUntil { try guestChainRules().count == before.count }
        #expect(repaired != nil, "the rule was not put back: \(daemon?.log.suffix(3000) ?? "")")
        if ExecutableLookup.find("curl") != nil {
            let metrics = try Shell.output(["curl", "-s", "--unix-socket", socketPath, "http://sdnd/metrics"])
            let repairs = metrics.split(separator: "\n").first { $0.hasPrefix("sdn_drift_repairs_total") }
            #expect(repairs.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0 >= 1, "no repair counted: \(repairs ?? "no series")")
        }
    }

    @Test func reportModeLeavesTheEditAndSaysSo() throws {
        try startDaemon(drift: "report")
        try pushAndApply()
        _ = try nft("delete", "table", "inet", "sdn")
        let reported = try waitUntil {
            (try? sdn("status", "--output", "json"))?.stdout.contains("\"drift\" : true") == true
                || (try? sdn("status", "--output", "json"))?.stdout.contains("\"drift\":true") == true
        }
        #expect(reported != nil, "drift not reported: \(daemon?.log.suffix(3000) ?? "")")
        #expect((try? nft("list", "table", "inet", "sdn")) == nil, "report mode must not repair")
    }

    @Test func aRestartAdoptsTheKernelWithoutWriting() throws {
        try startDaemon()
        try pushAndApply()
        // Stateless (no counters): rules and their handles.
        let before = try nft("-a", "-s", "list", "ruleset")
        #expect(try stopDaemon() == 0, "SIGTERM must stop sdnd cleanly")
        try startDaemon()
        let status = try sdn("status", "--output", "json")
        #expect(status.stdout.contains("\"appliedRevision\""), "\(status.stdout)")
        // Same rules with the same handles: nothing was deleted and added again.
        #expect(try nft("-a", "-s", "list", "ruleset") == before)
    }

    @Test(.systemTest(tools: ["ip", "nft", "ping"], linkKinds: ["bridge", "veth"]))
    func aRestartUnderAContinuousPingLosesNoPacket() throws {
        // Two LXC guests on vnet web; their firewall lets ping in.
        let topology = DaemonFixtures.topology(guests: [101, 102], kind: "lxc")
        try topology.write(toFile: directory + "/config/Topologies/node.yaml", atomically: true, encoding: .utf8)
        try """
            guests:
              101:
                options: { ipfilter: true, policy-in: drop }
                rules: [ in accept Ping ]
              102:
                options: { ipfilter: true, policy-in: drop }
                rules: [ in accept Ping ]
            """.write(toFile: directory + "/config/Policies/fw.yaml", atomically: true, encoding: .utf8)
        try startDaemon()
        try pushAndApply()
        var guests: [String] = []
        defer { for guest in guests { _ = try? Shell.run(["ip", "netns", "delete", guest]) } }
        for (id, address, mac) in [(101, "10.10.0.11", "52:54:00:00:01:01"), (102, "10.10.0.12", "52:54:00:00:01:02")] {
            let guest = namespaceName + "g\(id)"
            _ = try NetworkNamespace.create(named: guest)
            guests.append(guest)
            try Shell.output(["ip", "-n", namespaceName, "link", "add", "veth\(id)i0", "type", "veth", "peer", "name", "eth0", "netns", guest])
            try Shell.output(["ip", "-n", guest, "link", "set", "eth0", "address", mac])
            try Shell.output(["ip", "-n", guest, "addr", "add", address + "/24", "dev", "eth0"])
            try Shell.output(["ip", "-n", guest, "link", "set", "eth0", "up"])
            try Shell.output(["ip", "-n", guest, "link", "set", "lo", "up"])
        }
        let attached = try waitUntil {
            try ["veth101i0", "veth102i0"].allSatisfy { try Shell.output(["ip", "-n", namespaceName, "link", "show", $0]).contains("master ") }
        }
        try #require(attached != nil, "the guests' veths were not attached: \(daemon?.log.suffix(2000) ?? "")")
        // The path works before the restart (ARP settled, firewall lets ping in).
        let warmup = try Shell.run(["ip", "netns", "exec", guests[0], "ping", "-c", "3", "-i", "0.2", "-W", "1", "10.10.0.12"])
        try #require(warmup.status == 0, "no ping before the restart: \(warmup.stdout)")
        // 400 pings 10 ms apart (4 s); the daemon is stopped and started again in the middle.
        let ping = try BackgroundProcess(executable: try #require(ExecutableLookup.find("ip")),
                                         arguments: ["netns", "exec", guests[0], "ping", "-c", "400", "-i", "0.01", "-W", "1", "10.10.0.12"],
                                         logPath: directory + "/ping.log")
        usleep(800_000)
        #expect(try stopDaemon() == 0)
        try startDaemon()
        #expect(ping.wait(timeout: .seconds(30)) == 0, "ping: \(ping.log)")
        #expect(ping.log.contains("400 packets transmitted, 400 received"), "packets were lost across the restart: \(ping.log)")

        // /metrics: the daemon's figures, and the kernel's counter of guest 102's ping rule by its id (each
        // ping run is one conntrack flow: the rule sees its first packet, established takes the rest).
        if ExecutableLookup.find("curl") != nil {
            let metrics = try Shell.output(["curl", "-s", "--unix-socket", socketPath, "http://sdnd/metrics"])
            #expect(metrics.contains("sdn_reconciles_total"), "\(metrics.prefix(2000))")
            let pingRule = metrics.split(separator: "\n").first { $0.hasPrefix("sdn_rule_packets_total{") && $0.contains("chain=\"guest-102-net0-in\"") && !$0.contains("/policy") && !$0.contains("/ct-") && $0.contains("/r") }
            let packets = pingRule.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
            #expect(packets >= 1, "guest 102's ping rule counted \(packets) packets: \(pingRule ?? "no such series")")
        }
    }

    @Test func killedDuringAppliesItRestartsConvergedWithItsStoreIntact() async throws {
        try startDaemon()
        try pushAndApply()
        var pushed = 1
        // 12 rounds in the test suite; SDN_CRASH_ROUNDS=100 for the full run the issue asks for.
        let rounds = Int(ProcessInfo.processInfo.environment["SDN_CRASH_ROUNDS"] ?? "") ?? 12
        for round in 0..<rounds {
            try Self.policy(port: 8000 + round).write(toFile: directory + "/config/Policies/fw.yaml", atomically: true, encoding: .utf8)
            let binary = try #require(Self.product("sdn"))
            // Push and apply in the background, and kill -9 the daemon at a random moment of it.
            let client = try BackgroundProcess(executable: "/bin/sh",
                                               arguments: ["-c", "cd \(directory)/config && SDN_SERVER=\(server) \(binary) push Topologies Policies -m r\(round) && SDN_SERVER=\(server) \(binary) apply --yes"],
                                               logPath: directory + "/client.log")
            usleep(UInt32.random(in: 0..<150_000))
            daemon?.signal(SIGKILL)
            _ = daemon?.wait(timeout: .seconds(10))
            _ = client.wait(timeout: .seconds(30))
            daemon = nil
            let store = try SQLiteStateStore(path: directory + "/state/sdn.sqlite")
            #expect(try store.integrityCheck() == ["ok"])
            pushed += 1
            try startDaemon()
        }
        // Every revision a client was told about survived the kills.
        let acknowledged = (try? String(contentsOfFile: directory + "/client.log", encoding: .utf8))?
            .split(separator: "\n").compactMap { line -> Int64? in
                guard let range = line.range(of: "pushed revision ") else { return nil }
                return Int64(line[range.upperBound...].prefix { $0.isNumber })
            } ?? []
        let finalStore = try SQLiteStateStore(path: directory + "/state/sdn.sqlite")
        for number in acknowledged {
            #expect(try await finalStore.revision(number) != nil, "revision \(number) was acknowledged, then lost")
        }
        // Whatever was committed survived; applying the head converges.
        try sdn("apply", "--yes", check: true)
        let plan = try sdn("plan")
        #expect(plan.status == 0, "the node must be converged after the crashes: \(plan.stdout)")
        #expect(pushed == rounds + 1)
    }
}
