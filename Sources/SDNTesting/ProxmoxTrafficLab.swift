import Foundation
import Synchronization

/// Real traffic through an imported Proxmox node (issue 13): the fixture `proxmox-simple-zone` of
/// SDNIntegrationTests is node pve1 of the importer's sample cluster with a simple zone instead of the
/// vlan one (so a kernel without 8021q and bonds can bridge and route it) and the same datacenter, host
/// and guest firewalls. The packets are a sample of the semantic-equivalence table
/// (SDNProxmoxImportTests' SemanticEquivalenceTests), sent for real with `sdn-probe`, `nc` and `ping`;
/// each outcome is compared with Proxmox's verdict and with `sdn trace`. The host runs it in the
/// `minimal` layout (ProxmoxImportApplyTests), the kernel lab in the `full` one.
public enum ProxmoxTrafficLab {
    /// Node pve1 of the sample cluster with a simple zone (Proxmox files, imported by the tests).
    public static let fixture = repositoryRoot + "/Tests/SDNIntegrationTests/Fixtures/proxmox-simple-zone"

    public enum Verdict: String, Sendable {
        case accept, drop, reject
    }

    /// Who sends or receives: the host beyond the uplink (the router 10.0.0.1 and the outside world),
    /// a guest, or the node itself.
    public enum Party: Sendable, Equatable, CustomStringConvertible {
        case outside
        case guest(Int)
        case node

        public var namespace: String {
            switch self {
            case .outside: "outside"
            case .guest(let id): "g\(id)"
            case .node: "node"
            }
        }

        public var description: String { self == .node ? "node" : namespace }
    }

    public struct Packet: Sendable {
        public var id: String
        public var from: Party
        public var source: String
        public var to: Party
        public var destination: String
        /// `tcp/N`, `udp/N` or `ping`.
        public var service: String
        /// What Proxmox's documented semantics give for the original `.fw` files.
        public var proxmox: Verdict
        public var why: String

        public var proto: String { String(service.split(separator: "/")[0]) }
        public var port: UInt16 { service.split(separator: "/").count > 1 ? UInt16(service.split(separator: "/")[1])! : 0 }
    }

    /// Addresses of the lab (they match the fixture's interfaces, subnets and guest configs).
    public static let nodeAddress = "10.0.0.11"
    public static let web1 = "10.0.100.10", client = "10.0.100.7", db1 = "10.0.200.10", backup = "10.0.200.99", unknownNeighbour = "10.0.200.98"
    /// The outside host's addresses: the router and datacenter hosts on the node's LAN, and /32s the
    /// semantic table sends from (an admin, the printer carved out of admins, the internet, a
    /// blacklisted host, a client network of guest 200).
    public static let outsideLAN = ["10.0.0.1", "10.0.0.5", "10.0.0.12", "10.0.0.20", "10.0.0.50"]
    public static let outsideHosts = ["192.0.2.5", "192.0.2.13", "203.0.113.9", "198.51.100.7", "10.1.0.21"]

    public static let packets: [Packet] = [
        // Guest 100 (web1, kvm, tap100i0): blacklist, GROUP webserver -i net0, SSH from +dc/admins, policy_in DROP.
        Packet(id: "p01", from: .outside, source: "192.0.2.5", to: .guest(100), destination: web1, service: "tcp/22", proxmox: .accept, why: "IN SSH(ACCEPT) -source +dc/admins"),
        Packet(id: "p02", from: .outside, source: "192.0.2.13", to: .guest(100), destination: web1, service: "tcp/22", proxmox: .drop, why: "!192.0.2.13 carved out of admins; policy_in DROP"),
        Packet(id: "p03", from: .outside, source: "10.0.0.50", to: .guest(100), destination: web1, service: "tcp/22", proxmox: .accept, why: "alias monitoring is in admins"),
        Packet(id: "p04", from: .outside, source: "203.0.113.9", to: .guest(100), destination: web1, service: "tcp/80", proxmox: .accept, why: "group webserver: HTTP(ACCEPT)"),
        Packet(id: "p05", from: .outside, source: "203.0.113.9", to: .guest(100), destination: web1, service: "tcp/8443", proxmox: .accept, why: "group webserver: -dport 443,8443"),
        Packet(id: "p06", from: .outside, source: "203.0.113.9", to: .guest(100), destination: web1, service: "tcp/3306", proxmox: .drop, why: "policy_in DROP"),
        Packet(id: "p07", from: .outside, source: "203.0.113.9", to: .guest(100), destination: web1, service: "ping", proxmox: .accept, why: "group webserver: -icmp-type echo-request"),
        Packet(id: "p08", from: .outside, source: "198.51.100.7", to: .guest(100), destination: web1, service: "tcp/80", proxmox: .drop, why: "blacklist before any rule"),
        Packet(id: "p09", from: .outside, source: "198.51.100.7", to: .guest(100), destination: web1, service: "ping", proxmox: .drop, why: "blacklist before any rule"),
        Packet(id: "p10", from: .outside, source: "203.0.113.9", to: .guest(100), destination: web1, service: "udp/161", proxmox: .drop, why: "policy_in DROP"),
        Packet(id: "p11", from: .guest(100), source: web1, to: .outside, destination: "203.0.113.9", service: "tcp/25", proxmox: .drop, why: "group webserver: OUT DROP -dport smtp"),
        Packet(id: "p12", from: .guest(100), source: web1, to: .outside, destination: "10.0.0.1", service: "udp/53", proxmox: .accept, why: "OUT ACCEPT -dest gateway"),
        Packet(id: "p13", from: .guest(100), source: web1, to: .outside, destination: "203.0.113.9", service: "tcp/443", proxmox: .accept, why: "policy_out ACCEPT"),
        // Guest 200 (db1, lxc, veth200i0): policy_in REJECT, its own IP set and alias, GROUP dbserver.
        Packet(id: "p14", from: .outside, source: "10.1.0.21", to: .guest(200), destination: db1, service: "tcp/5432", proxmox: .accept, why: "-source +clients (the guest's own IP set)"),
        Packet(id: "p15", from: .guest(101), source: client, to: .guest(200), destination: db1, service: "tcp/5432", proxmox: .accept, why: "group dbserver (routed from vnet web)"),
        Packet(id: "p16", from: .outside, source: "203.0.113.9", to: .guest(200), destination: db1, service: "tcp/5432", proxmox: .reject, why: "policy_in REJECT"),
        Packet(id: "p17", from: .guest(201), source: backup, to: .guest(200), destination: db1, service: "tcp/22", proxmox: .accept, why: "-source backup (the guest's own alias), bridged"),
        Packet(id: "p18", from: .guest(201), source: unknownNeighbour, to: .guest(200), destination: db1, service: "tcp/22", proxmox: .reject, why: "policy_in REJECT, bridged"),
        // Guest 101 has no .fw file: Proxmox filters nothing.
        Packet(id: "p19", from: .outside, source: "203.0.113.9", to: .guest(101), destination: client, service: "tcp/9999", proxmox: .accept, why: "no firewall/101.fw"),
        // Host pve1: host.fw rules first, then the datacenter's; policy_in DROP from cluster.fw.
        Packet(id: "p20", from: .outside, source: "10.0.0.20", to: .node, destination: nodeAddress, service: "tcp/3260", proxmox: .accept, why: "host.fw IN ACCEPT -i vmbr0 -source 10.0.0.0/24 (iSCSI)"),
        Packet(id: "p21", from: .outside, source: "203.0.113.9", to: .node, destination: nodeAddress, service: "tcp/3260", proxmox: .drop, why: "policy_in DROP"),
        Packet(id: "p22", from: .outside, source: "192.0.2.5", to: .node, destination: nodeAddress, service: "tcp/22", proxmox: .accept, why: "cluster.fw IN SSH(ACCEPT) -source +admins"),
        Packet(id: "p23", from: .outside, source: "198.51.100.7", to: .node, destination: nodeAddress, service: "tcp/22", proxmox: .drop, why: "blacklist"),
        Packet(id: "p24", from: .outside, source: "10.0.0.50", to: .node, destination: nodeAddress, service: "tcp/9100", proxmox: .accept, why: "-source monitoring -dport 9100"),
        Packet(id: "p25", from: .outside, source: "203.0.113.9", to: .node, destination: nodeAddress, service: "tcp/8080", proxmox: .drop, why: "|IN ACCEPT -dport 8080 is disabled"),
        Packet(id: "p26", from: .outside, source: "10.0.0.5", to: .node, destination: nodeAddress, service: "tcp/8006", proxmox: .accept, why: "the management IP set reaches the API"),
        Packet(id: "p27", from: .outside, source: "203.0.113.9", to: .node, destination: nodeAddress, service: "ping", proxmox: .accept, why: "cluster.fw IN Ping(ACCEPT)"),
        Packet(id: "p28", from: .outside, source: "10.0.0.12", to: .node, destination: nodeAddress, service: "udp/5405", proxmox: .accept, why: "corosync from 10.0.0.0/24"),
        Packet(id: "p29", from: .outside, source: "203.0.113.9", to: .node, destination: nodeAddress, service: "udp/5405", proxmox: .drop, why: "corosync only from 10.0.0.0/24"),
    ]

    /// What the kernel should do with `packet` in `layout`: Proxmox's verdict, except that the `full`
    /// layout cannot reject on a guest's inbound path and drops instead (docs/firewall-paths.md).
    public static func kernelVerdict(_ packet: Packet, layout: String) -> Verdict {
        if layout == "full", packet.proxmox == .reject, case .guest = packet.to { return .drop }
        return packet.proxmox
    }

    /// The guests of the fixture: id → (node-side port, MAC, addresses, gateway).
    public static let guests: [(id: Int, port: String, mac: String, addresses: [String], gateway: String)] = [
        (100, "tap100i0", "bc:24:11:00:01:00", [web1], "10.0.100.1"),
        (101, "veth101i0", "bc:24:11:00:01:07", [client], "10.0.100.1"),
        (200, "veth200i0", "bc:24:11:00:02:00", [db1], "10.0.200.1"),
        (201, "veth201i0", "bc:24:11:00:02:01", [backup, unknownNeighbour], "10.0.200.1"),
    ]

    /// Where the lab script finds its tools and puts its files.
    public struct ScriptSettings: Sendable {
        /// Namespace names are `<prefix>-node`, `<prefix>-outside`, `<prefix>-g100`, …
        public var prefix: String
        public var sdn: String
        public var probe: String
        /// OpenBSD `nc` (it sends UDP from a chosen source with `-s`) and iputils `ping` (`-I ADDRESS`).
        public var nc: String
        public var ping: String
        /// The output directory of `sdn import proxmox`, as the script sees it.
        public var imported: String
        /// A scratch directory for the apply output and the listeners' logs.
        public var work: String
        /// `minimal` or `full`, passed to `sdn apply --kernel` and `sdn trace --kernel`.
        public var layout: String
        /// How long a connection attempt may take before it counts as dropped.
        public var connectTimeoutMilliseconds: Int

        public init(prefix: String, sdn: String, probe: String, nc: String = "nc", ping: String = "ping", imported: String, work: String,
                    layout: String, connectTimeoutMilliseconds: Int = 2000) {
            self.prefix = prefix
            self.sdn = sdn
            self.probe = probe
            self.nc = nc
            self.ping = ping
            self.imported = imported
            self.work = work
            self.layout = layout
            self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        }
    }

    /// The lab as a POSIX `sh` script: namespaces for the node, the outside host and each guest (veths
    /// named as sdn expects), `sdn apply` and `sdn plan` of the imported files, listeners, then every
    /// packet. It reports through `section NAME COMMAND…`, which the runner defines (the kernel lab does;
    /// the host runner prepends one): `apply`, `plan`, `probes` (`ID OUTCOME` per TCP packet), `others`
    /// (ping), `received-<namespace>` (the UDP listeners' logs). Namespaces are removed when it exits.
    public static func script(_ settings: ScriptSettings) -> String {
        let layout = settings.layout
        var lines = LabScript.preamble(variables: [
            [("P", settings.prefix), ("SDN", settings.sdn), ("PROBE", settings.probe), ("NC", settings.nc), ("PING", settings.ping)],
            [("IMPORTED", settings.imported), ("WORK", settings.work)],
        ], namespaces: ["node", "outside"] + guests.map { "g\($0.id)" }) + [
            "for name in node outside; do run ip netns add \"$P-$name\"; run ip -n \"$P-$name\" link set lo up; done",
            "# The uplink: the node's eth0 (the port of vmbr0, which sdn makes) to the outside host's eth0.",
            "run ip -n \"$P-node\" link add eth0 type veth peer name eth0 netns \"$P-outside\"",
        ]
        for address in outsideLAN { lines.append("run ip -n \"$P-outside\" addr add \(address)/24 dev eth0") }
        for address in outsideHosts { lines.append("run ip -n \"$P-outside\" addr add \(address)/32 dev eth0") }
        lines += [
            "run ip -n \"$P-outside\" link set eth0 up",
            "run ip -n \"$P-outside\" route add 10.0.100.0/24 via \(nodeAddress)",
            "run ip -n \"$P-outside\" route add 10.0.200.0/24 via \(nodeAddress)",
            "# Guests as Proxmox starts them: tap<vmid>i0 / veth<vmid>i0 on the node, eth0 inside.",
        ]
        for guest in guests {
            let ns = "\"$P-g\(guest.id)\""
            lines += LabScript.guest(id: guest.id, port: guest.port, mac: "\(guest.mac)")
            for address in guest.addresses { lines.append("run ip -n \(ns) addr add \(address)/24 dev eth0") }
            lines += ["run ip -n \(ns) link set eth0 up", "run ip -n \(ns) route add default via \(guest.gateway)"]
        }
        lines += [
            "# The product: the imported node pve1, links and firewall, one plan.",
            "\"$SDN\" apply --config \"$IMPORTED/Topologies\" --config \"$IMPORTED/Policies\" --node pve1 --netns \"$P-node\" --kernel \(layout) --yes >\"$WORK/apply.txt\" 2>&1",
            "echo \"apply status $?\" >>\"$WORK/apply.txt\"",
            "section apply cat \"$WORK/apply.txt\"",
            "grep -q '^apply status 0$' \"$WORK/apply.txt\" || exit 4",
            "\"$SDN\" plan --config \"$IMPORTED/Topologies\" --config \"$IMPORTED/Policies\" --node pve1 --netns \"$P-node\" --kernel \(layout) >\"$WORK/plan.txt\" 2>&1",
            "echo \"plan status $?\" >>\"$WORK/plan.txt\"",
            "section plan cat \"$WORK/plan.txt\"",
            "# The node's default route, as the host's own network configuration has it (sdn leaves it to the host).",
            "run ip -n \"$P-node\" route add default via 10.0.0.1",
            "",
            "# Listeners: every port a packet is sent to, on its receiver.",
        ]
        var listeners: [String: (tcp: Set<UInt16>, udp: Set<UInt16>)] = [:]
        for packet in packets where packet.proto != "ping" {
            var ports = listeners[packet.to.namespace] ?? ([], [])
            if packet.proto == "tcp" { ports.tcp.insert(packet.port) } else { ports.udp.insert(packet.port) }
            listeners[packet.to.namespace] = ports
        }
        for (namespace, ports) in listeners.sorted(by: { $0.key < $1.key }) {
            var options = ""
            if !ports.tcp.isEmpty { options += " --tcp \(ports.tcp.sorted().map(String.init).joined(separator: ","))" }
            if !ports.udp.isEmpty { options += " --udp \(ports.udp.sorted().map(String.init).joined(separator: ","))" }
            lines.append("ip netns exec \"$P-\(namespace)\" \"$PROBE\" serve\(options) >\"$WORK/serve-\(namespace).txt\" 2>&1 &")
        }
        lines += [
            "tries=0",
            "for name in \(listeners.keys.sorted().joined(separator: " ")); do",
            "  until grep -q ready \"$WORK/serve-$name.txt\" 2>/dev/null; do",
            "    tries=$((tries + 1)); [ $tries -gt 100 ] && { echo \"listener in $name did not start\" >&2; cat \"$WORK/serve-$name.txt\" >&2; exit 5; }",
            "    sleep 0.1",
            "  done",
            "done",
            "",
            "# TCP: each sender's connections at once, each from its own source address.",
            "probes() {",
        ]
        let tcp = packets.filter { $0.proto == "tcp" }
        var senders: [String] = []
        for packet in tcp where !senders.contains(packet.from.namespace) { senders.append(packet.from.namespace) }
        for sender in senders {
            let specs = tcp.filter { $0.from.namespace == sender }.map { "\($0.id),\($0.destination),\($0.port),\($0.source)" }
            lines.append("  ip netns exec \"$P-\(sender)\" \"$PROBE\" connect --timeout-ms \(settings.connectTimeoutMilliseconds) \(specs.joined(separator: " "))")
        }
        lines += ["}", "section probes probes", "", "# Ping and UDP, one at a time.", "others() {"]
        for packet in packets where packet.proto == "ping" {
            lines.append("  if ip netns exec \"$P-\(packet.from.namespace)\" \"$PING\" -c 1 -W 3 -I \(packet.source) \(packet.destination) >/dev/null 2>&1; then echo '\(packet.id) replied'; else echo '\(packet.id) no-reply'; fi")
        }
        for packet in packets where packet.proto == "udp" {
            lines.append("  echo \(packet.id) | ip netns exec \"$P-\(packet.from.namespace)\" \"$NC\" -u -w 1 -s \(packet.source) \(packet.destination) \(packet.port)")
        }
        lines += [
            "}",
            "section others others",
            "sleep 0.5",
        ]
        for namespace in listeners.keys.sorted() { lines.append("section received-\(namespace) cat \"$WORK/serve-\(namespace).txt\"") }
        lines.append("exit 0")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Why an outcome or a prediction is unknown.
    public struct Unknown: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// What the kernel did with each packet, from the lab's sections, or why that cannot be told.
    public static func observed(_ sections: [String: String]) -> [String: Result<Verdict, Unknown>] {
        var outcomes: [String: Result<Verdict, Unknown>] = [:]
        for line in (sections["probes"] ?? "").split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: " ")
            guard parts.count >= 2 else { continue }
            let outcome: Result<Verdict, Unknown> = switch parts[1] {
            case "connected": .success(.accept)
            case "refused", "unreachable": .success(.reject)
            case "timeout": .success(.drop)
            default: .failure(Unknown(String(line)))
            }
            outcomes[String(parts[0])] = outcome
        }
        for line in (sections["others"] ?? "").split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: " ")
            // A lost echo is all ping can tell: a reject (ICMP error) and a drop both count as no reply.
            if parts.count == 2 { outcomes[String(parts[0])] = .success(parts[1] == "replied" ? .accept : .drop) }
        }
        let received = sections.filter { $0.key.hasPrefix("received-") }.values.joined(separator: "\n")
        for packet in packets where packet.proto == "udp" {
            let arrived = received.split(whereSeparator: \.isNewline).contains { $0.hasPrefix("udp ") && $0.hasSuffix(" \(packet.id)") }
            outcomes[packet.id] = .success(arrived ? .accept : .drop)
        }
        return outcomes
    }

    /// `sdn trace` of each packet on the imported configuration, two runs at a time.
    public static func traced(sdn: String, imported: String, layout: String) -> [String: Result<Verdict, Unknown>] {
        let base = [sdn, "trace", "--config", imported + "/Topologies", "--config", imported + "/Policies", "--node", "pve1", "--kernel", layout, "--output", "json"]
        let results = Mutex<[String: Result<Verdict, Unknown>]>([:])
        DispatchQueue.concurrentPerform(iterations: packets.count) { index in
            let packet = packets[index]
            var arguments: [String] = switch packet.from {
            case .outside: ["--from", packet.source]
            case .guest(let id): ["--from", "\(id)", "--src-ip", packet.source]
            case .node: ["--from", "node"]
            }
            switch packet.to {
            case .guest(let id): arguments += ["--to", "\(id)", "--dst-ip", packet.destination]
            case .node, .outside: arguments += ["--to", packet.destination]
            }
            arguments.append(packet.service)
            let result: Result<Verdict, Unknown>
            do {
                let run = try Shell.run(base + arguments, timeout: .seconds(60))
                switch PathMatrix.prediction(fromTraceJSON: run.stdout) {
                case .success(.delivered): result = .success(.accept)
                case .success(.rejected): result = .success(.reject)
                case .success(.dropped): result = .success(.drop)
                case .failure(let error): result = .failure(Unknown("sdn trace \(arguments.joined(separator: " ")): \(error.text) \(run.stderr.prefix(300))"))
                }
            } catch {
                result = .failure(Unknown("\(error)"))
            }
            results.withLock { $0[packet.id] = result }
        }
        return results.withLock { $0 }
    }

    /// One packet's outcome on the kernel and in `sdn trace`, beside what Proxmox does.
    public struct Row: Sendable {
        public var packet: Packet
        /// What the kernel should do in this layout (``kernelVerdict(_:layout:)``).
        public var expected: Verdict
        public var kernel: Result<Verdict, Unknown>?
        public var trace: Result<Verdict, Unknown>?

        public var kernelAgrees: Bool { (try? kernel?.get()) == expected }
        public var traceAgrees: Bool { (try? trace?.get()) == expected }
        public var flow: String { "\(packet.from) \(packet.source) → \(packet.to) \(packet.destination) \(packet.service)" }

        static func text(_ result: Result<Verdict, Unknown>?) -> String {
            switch result {
            case .success(let verdict): verdict.rawValue
            case .failure: "error"
            case nil: "missing"
            }
        }

        /// Why the kernel's or the trace's outcome differs from the expected one, if it does.
        public var problems: [String] {
            var problems: [String] = []
            if !kernelAgrees { problems.append("kernel ≠ Proxmox: \(packet.id) \(flow): kernel \(Self.text(kernel)), expected \(expected) (\(packet.why)) \(kernel.map { "\($0)" } ?? "")") }
            if !traceAgrees { problems.append("sdn trace ≠ Proxmox: \(packet.id) \(flow): trace \(Self.text(trace)), expected \(expected) (\(packet.why)) \(trace.map { "\($0)" } ?? "")") }
            return problems
        }

        public var line: String {
            [packet.id, flow.padding(toLength: 50, withPad: " ", startingAt: 0), packet.proxmox.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0),
             Self.text(kernel).padding(toLength: 7, withPad: " ", startingAt: 0), Self.text(trace).padding(toLength: 7, withPad: " ", startingAt: 0),
             (kernelAgrees && traceAgrees ? "ok  " : "MISMATCH  ") + packet.why].joined(separator: " ")
        }
    }

    /// Every packet's row, from the lab's sections and the traces.
    public static func rows(sections: [String: String], traces: [String: Result<Verdict, Unknown>], layout: String) -> [Row] {
        let kernel = observed(sections)
        return packets.map { Row(packet: $0, expected: kernelVerdict($0, layout: layout), kernel: kernel[$0.id], trace: traces[$0.id]) }
    }

    /// The readable table of all rows.
    public static func table(_ rows: [Row], layout: String) -> String {
        (["Proxmox import, real traffic (\(layout)): \(rows.count) packets, kernel ≠ Proxmox: \(rows.filter { !$0.kernelAgrees }.count), "
            + "trace ≠ Proxmox: \(rows.filter { !$0.traceAgrees }.count)",
          "id  flow                                               proxmox kernel  trace   why"] + rows.map(\.line)).joined(separator: "\n")
    }
}
