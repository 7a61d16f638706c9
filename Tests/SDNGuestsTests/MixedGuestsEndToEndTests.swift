import Foundation
import Glibc
import SDNGuests
import SDNNetns
import SDNTesting
import Testing

/// A real KVM guest and real LXC containers on one node, the node's network and firewall held by the
/// real `sdnd`, all in one network namespace: QEMU under TCG started by a private libvirtd whose qemu
/// hook is `sdn hook qemu`, busybox containers started by `lxc-execute` with what `sdn guest
/// lxc-config` prints. Every flow between them, both ways, within a vnet and routed through the node's
/// gateways, passes or is dropped exactly as the policy says and as `sdn trace` says, and each dropped
/// one is counted by the kernel at the rule the trace names.
///
/// The node: vnet `web` (10.10.0.0/24) with guest 101 (the VM, `vm101`, on `sdn guest xml 101`) and
/// container guest 102; vnet `db` (10.20.0.0/24) with container guest 202. The VM lets in TCP 7000 from
/// `web` only and ping; it sends ping and TCP 80 only. Each container lets in ping; 102 also TCP 80.
/// Both containers listen on TCP 80 and 25, so a flow that fails was stopped by a firewall, not refused.
@Suite(.serialized, .libvirtLab,
       .systemTest(tools: ["ip", "nft", "virsh", "lxc-execute", "lxc-stop", "lxc-info"], linkKinds: ["bridge", "veth"],
                   paths: ["/dev/net/tun", "/bin/busybox"]))
final class MixedGuestsEndToEndTests {
    static let productsDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    static func product(_ name: String) -> String? {
        for candidate in [productsDirectory, productsDirectory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    struct Container {
        var id: Int
        var address: String
        var gateway: String
        var name: String { "ct\(id)" }
    }

    static let vmAddress = "10.10.0.11"
    static let servedPort = 7000
    static let web = Container(id: 102, address: "10.10.0.12", gateway: "10.10.0.1")
    static let db = Container(id: 202, address: "10.20.0.22", gateway: "10.20.0.1")
    static let busybox = "/bin/busybox"

    /// `sdntest-<pid>-…`: a killed run's namespaces are removed by the next run's temporary namespaces.
    let namespaceName = "sdntest-\(getpid())-mix\(UInt32.random(in: 0..<1_000_000))"
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-mixed-\(UUID().uuidString.prefix(8))").path
    var namespace: NetworkNamespace?
    var daemon: BackgroundProcess?
    var lab: LibvirtLab?
    var containers: [String: BackgroundProcess] = [:]

    var socketPath: String { directory + "/sdnd.sock" }
    var server: String { "unix://" + socketPath }
    var configDirectory: String { directory + "/config" }
    /// LXC's lxcpath: the containers' directories (each with its config) live here, not in /var/lib/lxc.
    var lxcPath: String { directory + "/lxc" }
    /// What the containers wait for before their flows (the VM is serving).
    var goFile: String { directory + "/go" }
    /// What the containers' inits wait for before they exit.
    var stopFile: String { directory + "/stop" }

    /// The node with sdnd running and the configuration applied, and libvirtd with the hook.
    init() throws {
        // Every stored property has its value: a throw from here on runs deinit, which cleans up.
        let namespace = try NetworkNamespace.create(named: namespaceName)
        self.namespace = namespace
        for sub in ["/config/Topologies", "/config/Policies", "/lxc", "/out"] {
            try FileManager.default.createDirectory(atPath: directory + sub, withIntermediateDirectories: true)
        }
        try node("ip", "link", "set", "lo", "up")
        try node("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer")
        try writeConfiguration()
        try startDaemon()
        try pushAndApply("mixed guests")
        let sdn = try sdnBinary()
        // libvirt runs its hooks with an empty environment, in its own mount namespace: name the socket.
        lab = try LibvirtLab(namespace: namespace, hooks: ["qemu": "#!/bin/sh\nexec \(sdn) hook qemu --server \(server) \"$@\"\n"])
    }

    deinit {
        // Domains first, while sdnd still answers their release hooks; then the containers, whose inits
        // end on their own once the stop file is there (lxc-stop -k for any that does not).
        lab?.stop()
        _ = FileManager.default.createFile(atPath: stopFile, contents: nil)
        for (name, process) in containers where process.wait(timeout: .seconds(3)) == nil {
            _ = try? Shell.run(["ip", "netns", "exec", namespaceName, "lxc-stop", "-P", lxcPath, "-n", name, "-k"], timeout: .seconds(15))
            if process.wait(timeout: .seconds(5)) == nil {
                process.signal(SIGKILL)
                _ = process.wait(timeout: .seconds(5))
            }
        }
        daemon?.signal(SIGKILL)
        _ = daemon?.wait(timeout: .seconds(5))
        _ = try? namespace?.delete()
        try? FileManager.default.removeItem(atPath: directory)
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: - Configuration

    func writeConfiguration() throws {
        try """
            nodes:
              n1:
                uplinks: { eth0: {} }
            zones:
              local: { type: simple }
            vnets:
              web:
                zone: local
                subnets:
                  10.10.0.0/24: { gateway: \(Self.web.gateway) }
              db:
                zone: local
                subnets:
                  10.20.0.0/24: { gateway: \(Self.db.gateway) }
            guests:
              101:
                node: n1
                nics:
                  net0: { vnet: web, mac: "52:54:00:00:01:01", ip: [\(Self.vmAddress)] }
              102:
                node: n1
                kind: lxc
                nics:
                  net0: { vnet: web, mac: "52:54:00:00:01:02", ip: [\(Self.web.address)] }
              202:
                node: n1
                kind: lxc
                nics:
                  net0: { vnet: db, mac: "52:54:00:00:02:02", ip: [\(Self.db.address)] }

            """.write(toFile: configDirectory + "/Topologies/node.yaml", atomically: true, encoding: .utf8)
        try """
            guests:
              101:
                options: { ipfilter: true, policy-in: drop, policy-out: drop }
                rules:
                  - in accept tcp dport \(Self.servedPort) from 10.10.0.0/24
                  - in accept Ping
                  - out accept Ping
                  - out accept tcp dport 80
              102:
                options: { ipfilter: true, policy-in: drop, policy-out: accept }
                rules:
                  - in accept Ping
                  - in accept tcp dport 80
              202:
                options: { ipfilter: true, policy-in: drop, policy-out: accept }
                rules:
                  - in accept Ping

            """.write(toFile: configDirectory + "/Policies/fw.yaml", atomically: true, encoding: .utf8)
    }

    // MARK: - The daemon and the client

    func startDaemon() throws {
        guard let sdnd = Self.product("sdnd") else { throw FixtureError("sdnd was not built next to the tests (run `swift build --build-tests`)") }
        let process = try BackgroundProcess(executable: sdnd,
                                            arguments: ["--state-dir", directory + "/state", "--listen", server, "--netns", namespaceName,
                                                        "--resync", "30", "--log-level", "debug"],
                                            logPath: directory + "/sdnd.log")
        daemon = process
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if !process.isRunning { throw FixtureError("sdnd exited: \(process.log.suffix(3000))") }
            // `sdn status` answers 0 (in sync) or 3 (pending changes or drift) once the daemon serves.
            if FileManager.default.fileExists(atPath: socketPath), let status = (try? sdn("status"))?.status, status == 0 || status == 3 { return }
            usleep(20_000)
        }
        throw FixtureError("sdnd did not answer within 30 s: \(process.log.suffix(3000))")
    }

    var daemonLog: String { String((try? String(contentsOfFile: directory + "/sdnd.log", encoding: .utf8))?.suffix(3000) ?? "") }

    func sdnBinary() throws -> String {
        guard let binary = Self.product("sdn") else { throw FixtureError("sdn was not built next to the tests (run `swift build --build-tests`)") }
        return binary
    }

    /// The real client, from the configuration's directory (push sends paths relative to it).
    @discardableResult
    func sdn(_ arguments: String...) throws -> (status: Int32, stdout: String, stderr: String) {
        try Shell.run(["env", "-C", configDirectory, "SDN_SERVER=\(server)", try sdnBinary()] + arguments)
    }

    func pushAndApply(_ message: String) throws {
        let push = try sdn("push", "Topologies", "Policies", "-m", message)
        guard push.status == 0 else { throw FixtureError("sdn push: \(push.stdout)\(push.stderr)") }
        let apply = try sdn("apply", "--yes")
        guard apply.status == 0 else { throw FixtureError("sdn apply: \(apply.stdout)\(apply.stderr)\n\(daemonLog)") }
    }

    /// `sdn trace --output json` in the node's namespace (the kernel probed there, as sdnd did): its
    /// verdict, the last rule that matched, and its output for messages.
    func trace(_ arguments: [String]) throws -> (verdict: String, rule: String?, text: String) {
        let result = try Shell.run(["ip", "netns", "exec", namespaceName, try sdnBinary(), "trace", "--config", configDirectory + "/Topologies",
                                    "--config", configDirectory + "/Policies", "--output", "json"] + arguments)
        guard let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let verdict = object["verdict"] as? String else { return ("none", nil, result.stdout + result.stderr) }
        var matched: [String] = []
        for leg in object["legs"] as? [[String: Any]] ?? [] {
            for step in leg["steps"] as? [[String: Any]] ?? [] where step["matched"] as? Bool == true {
                if let id = step["id"] as? String { matched.append(id) }
            }
        }
        return (verdict, matched.last, result.stdout)
    }

    // MARK: - The node's kernel

    @discardableResult
    func node(_ arguments: String...) throws -> String { try Shell.output(arguments, in: namespace) }

    /// The packets the kernel counted for the rule with this id (its comment), summed over the ruleset.
    func counter(_ id: String) throws -> Int {
        var packets = 0
        for line in try node("nft", "list", "ruleset").split(separator: "\n") where line.contains("comment \"\(id)\"") {
            guard let range = line.range(of: "counter packets ") else { continue }
            packets += Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
        }
        return packets
    }

    /// Polls `condition` every 20 ms for at most `seconds`.
    func waitUntil(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    // MARK: - Flows

    /// One flow: who starts it, the probe (a container's shell command, or the VM's `sdn.first` probe),
    /// `sdn trace`'s arguments for it, and what the policy says of it.
    struct Flow {
        var id: String
        var from: Int
        var probe: String
        var trace: [String]
        var passes: Bool
    }

    static func tcp(_ to: String, _ port: Int) -> String { "\(busybox) nc -w 2 \(to) \(port) </dev/null >/dev/null 2>&1" }
    static func ping(_ to: String) -> String { "\(busybox) ping -c 1 -W 2 \(to) >/dev/null 2>&1" }

    static let flows: [Flow] = {
        let vm = vmAddress, w = web.address, d = db.address
        return [
            // The containers to the VM, once it serves.
            Flow(id: "web-served-vm", from: 102, probe: tcp(vm, servedPort), trace: ["--from", "102", "--to", "101", "tcp/\(servedPort)"], passes: true),
            Flow(id: "web-ssh-vm", from: 102, probe: tcp(vm, 22), trace: ["--from", "102", "--to", "101", "tcp/22"], passes: false),
            Flow(id: "web-ping-vm", from: 102, probe: ping(vm), trace: ["--from", "102", "--to", "101", "ping"], passes: true),
            Flow(id: "db-ping-vm", from: 202, probe: ping(vm), trace: ["--from", "202", "--to", "101", "ping"], passes: true),
            Flow(id: "db-served-vm", from: 202, probe: tcp(vm, servedPort), trace: ["--from", "202", "--to", "101", "tcp/\(servedPort)"], passes: false),
            // The VM's first packets, to the containers (already running): the forbidden ones first.
            Flow(id: "vm-smtp-web", from: 101, probe: "tcp:\(w):25", trace: ["--from", "101/net0", "--to", "102", "tcp/25"], passes: false),
            Flow(id: "vm-http-db", from: 101, probe: "tcp:\(d):80", trace: ["--from", "101/net0", "--to", "202", "tcp/80"], passes: false),
            Flow(id: "vm-http-web", from: 101, probe: "tcp:\(w):80", trace: ["--from", "101/net0", "--to", "102", "tcp/80"], passes: true),
            Flow(id: "vm-ping-web", from: 101, probe: "ping:\(w)", trace: ["--from", "101/net0", "--to", "102", "ping"], passes: true),
            Flow(id: "vm-ping-db", from: 101, probe: "ping:\(d)", trace: ["--from", "101/net0", "--to", "202", "ping"], passes: true),
        ]
    }()

    // MARK: - Containers

    /// The container's config: what `sdn guest lxc-config` prints (its hook pointed at this test's
    /// daemon), and what running without a rootfs (the host's root) in this sandbox needs: no console
    /// (lxc-execute has no terminal to give it), /proc and /sys mounted, no AppArmor profile, no ttys.
    func lxcConfig(_ container: Container) throws -> String {
        let hook = "\(try sdnBinary()) hook lxc --server \(server)"
        let printed = try sdn("guest", "lxc-config", String(container.id), "--hook", hook, "Topologies")
        guard printed.status == 0 else { throw FixtureError("sdn guest lxc-config \(container.id): \(printed.stdout)\(printed.stderr)") }
        return printed.stdout + """

            lxc.uts.name = \(container.name)
            lxc.apparmor.profile = unconfined
            lxc.console.path = none
            lxc.tty.max = 0
            lxc.mount.auto = proc:mixed sys:ro

            """
    }

    func lxcLog(_ name: String) -> String { directory + "/out/\(name).lxc.log" }

    /// A container's init: address and route, listeners on TCP 80 and 25 answering "ok", ready; then,
    /// once the VM serves, its flows, each printed as `flow ID STATUS`; then it waits for the stop file
    /// and ends its listeners (lxc-execute's init waits for every process of the container).
    func script(_ container: Container) -> String {
        let b = Self.busybox
        var lines = [
            "\(b) ip addr add \(container.address)/24 dev eth0",
            "\(b) ip route add default via \(container.gateway)",
            "\(b) nc -ll -p 80 -e \(b) echo ok & web=$!",
            "\(b) nc -ll -p 25 -e \(b) echo ok & smtp=$!",
            "\(b) touch \(directory)/out/ready-\(container.id)",
            "i=0; while [ ! -e \(goFile) ] && [ $i -lt 1200 ]; do \(b) sleep 0.1; i=$((i+1)); done",
        ]
        for flow in Self.flows where flow.from == container.id { lines.append(flow.probe + "; echo \"flow \(flow.id) $?\"") }
        lines += [
            "\(b) touch \(directory)/out/done-\(container.id)",
            "i=0; while [ ! -e \(stopFile) ] && [ $i -lt 1200 ]; do \(b) sleep 0.1; i=$((i+1)); done",
            "kill $web $smtp",
        ]
        return lines.joined(separator: "\n")
    }

    /// lxc-execute in the node's namespace (the container's abstract command socket lives there too).
    func start(_ container: Container) throws {
        try FileManager.default.createDirectory(atPath: "\(lxcPath)/\(container.name)", withIntermediateDirectories: true)
        try lxcConfig(container).write(toFile: "\(lxcPath)/\(container.name)/config", atomically: true, encoding: .utf8)
        guard let ip = ExecutableLookup.find("ip") else { throw FixtureError("`ip` not found") }
        containers[container.name] = try BackgroundProcess(
            executable: ip,
            arguments: ["netns", "exec", namespaceName, "lxc-execute", "-P", lxcPath, "-n", container.name, "-l", "DEBUG", "-o", lxcLog(container.name),
                        "--", Self.busybox, "sh", "-c", script(container)],
            logPath: directory + "/out/\(container.name).out")
    }

    func containerFailure(_ container: Container) -> String {
        "\(containers[container.name]?.log ?? "")\n\((try? String(contentsOfFile: lxcLog(container.name), encoding: .utf8))?.suffix(3000) ?? "")"
    }

    // MARK: - The test

    /// Containers first (plugged by their hooks before their inits), then the VM (its tap prepared by the
    /// qemu hook), whose first packets go to the containers; once it serves, the containers' flows to it.
    @Test func flowsBetweenAVMAndContainersAreAsTheTraceSays() throws {
        let began = ContinuousClock.now
        let lab = try #require(lab)
        for container in [Self.web, Self.db] { try start(container) }
        for container in [Self.web, Self.db] {
            let ready = waitUntil(seconds: 30) { exists(directory + "/out/ready-\(container.id)") }
            try #require(ready, "container \(container.name) did not start: \(containerFailure(container))")
        }

        let interfaces = try sdn("guest", "xml", "101")
        try #require(interfaces.status == 0, "sdn guest xml 101: \(interfaces.stderr)")
        let vmFlows = Self.flows.filter { $0.from == 101 }
        try lab.define(lab.domainXML(name: "vm101", image: try lab.makeGuestImage(), interfaces: [],
                                     settings: ["ip": Self.vmAddress + "/24", "gw": Self.web.gateway, "first": vmFlows.map(\.probe).joined(separator: ","),
                                                "ipv6": "off"],
                                     vmid: 101, devices: interfaces.stdout))
        try lab.connection.start("vm101")
        try lab.waitForSerial("vm101", containing: "=== GUEST SERVING")
        var statuses: [String: Int] = [:]
        for flow in vmFlows {
            let line = try lab.waitForSerial("vm101", containing: "=== GUEST FIRST \(flow.probe) rc=")
            statuses[flow.id] = line.range(of: " rc=").flatMap { Int(line[$0.upperBound...].prefix { $0.isNumber }) }
        }

        _ = FileManager.default.createFile(atPath: goFile, contents: nil)
        for container in [Self.web, Self.db] {
            let done = waitUntil(seconds: 30) { exists(directory + "/out/done-\(container.id)") }
            try #require(done, "container \(container.name) did not run its flows: \(containerFailure(container))")
            for line in containers[container.name]?.log.split(separator: "\n") ?? [] {
                let words = line.split(separator: " ")
                if words.count == 3, words[0] == "flow", let status = Int(words[2]) { statuses[String(words[1])] = status }
            }
        }

        // Each flow: the kernel, the policy and sdn trace agree; a dropped one is counted at the traced rule.
        for flow in Self.flows {
            let status = try #require(statuses[flow.id], "no result for \(flow.id)")
            let traced = try trace(flow.trace)
            #expect(["accept", "drop", "reject"].contains(traced.verdict), "\(flow.id): no verdict from sdn trace: \(traced.text.prefix(600))")
            print("Mixed e2e: flow \(flow.id): kernel \(status == 0 ? "passed" : "dropped"), sdn trace \(traced.verdict) (\(traced.rule ?? "no rule"))")
            #expect((status == 0) == flow.passes, "\(flow.id): exit status \(status), the policy says it \(flow.passes ? "passes" : "is dropped")")
            #expect((traced.verdict == "accept") == (status == 0), "\(flow.id): exit status \(status), sdn trace says \(traced.verdict): \(traced.text.prefix(600))")
            if traced.verdict != "accept" {
                let rule = try #require(traced.rule, "\(flow.id): sdn trace names no rule for its \(traced.verdict): \(traced.text.prefix(600))")
                #expect(try counter(rule) > 0, "\(flow.id): the kernel counted nothing at \(rule), the rule sdn trace names")
            }
        }
        print("Mixed e2e: \(Self.flows.count) flows in \(ContinuousClock.now - began) (containers, VM boot under TCG, flows)")
    }
}
