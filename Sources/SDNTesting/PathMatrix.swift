import Foundation
import Synchronization

/// The path matrix of issue 8: every way a packet reaches a guest NIC or leaves it — bridged on its vnet,
/// routed from another vnet, routed from outside, to and from the node itself — in IPv4 and IPv6, to
/// declared and undeclared addresses, against a policy that allows, drops and rejects; plus forged
/// sources. One flow list, one lab script and one oracle, shared by the two runners: real namespaces on
/// this machine's kernel (`minimal` layout) and namespaces inside the kernel lab's Debian kernel (`full`).
///
/// Each flow's kernel outcome is compared with two things: the *intent* — what the policy means, computed
/// here from a hand-written model of `Tests/SDNIntegrationTests/Fixtures/path-matrix` and the table of
/// layout guarantees, never from the compiler — and `sdn trace`'s prediction.
public enum PathMatrix {
    /// The fixture: topology and policy of the lab.
    public static var fixtureDirectory: String { repositoryRoot + "/Tests/SDNIntegrationTests/Fixtures/path-matrix" }

    /// The guest-firewall layouts the matrix runs in.
    public enum Layout: String, Sendable, CaseIterable {
        /// `table inet sdn` under br_netfilter: this sandbox's kernel.
        case minimal
        /// `table bridge sdn` with bridge conntrack: Debian/Proxmox kernels (the kernel lab).
        case full
    }

    /// How a packet reaches its receiver.
    public enum Path: String, Sendable, CaseIterable {
        case bridged = "bridged same vnet"
        case routedVnet = "routed other vnet"
        case routedOutside = "routed outside"
        case guestToNode = "guest → node"
        case nodeToGuest = "node → guest"
        case spoof = "anti-spoofing"
    }

    public enum Family: String, Sendable, CaseIterable {
        case ipv4 = "IPv4"
        case ipv6 = "IPv6"
    }

    /// What the receiving policy says about the flow's port.
    public enum Policy: String, Sendable {
        case allow, drop, reject
    }

    /// What happened to a flow (or should): the receiver answered, nothing came back, or a RST/ICMP
    /// error came back.
    public enum Outcome: String, Sendable {
        case delivered, dropped, rejected
    }

    /// One end of a flow.
    public enum Party: Hashable, Sendable, CustomStringConvertible {
        case guest(Int)
        case node
        case outside

        /// The network namespace's suffix in the lab script.
        public var namespace: String {
            switch self {
            case .guest(let id): "g\(id)"
            case .node: "node"
            case .outside: "outside"
            }
        }

        public var description: String {
            switch self {
            case .guest(let id): "\(id)"
            case .node: "node"
            case .outside: "outside"
            }
        }
    }

    // MARK: - The lab (mirrors the fixture's YAML; PathMatrixSpecTests checks that it does)

    /// A guest NIC of the lab: its node-side port, MAC and addresses.
    public struct Guest: Sendable {
        public var id: Int
        /// The node-side interface, named as sdn expects (`tap<vmid>i0` for kvm, `veth<vmid>i0` for lxc).
        public var port: String
        public var mac: String
        public var vnet: String
        /// The addresses its `ip:` list declares.
        public var declared: [Family: String]
        /// A second address of each family, configured inside the guest and declared nowhere.
        public var undeclared: [Family: String]
        public var gateway: [Family: String]
        public var prefixLength: [Family: Int] { [.ipv4: 24, .ipv6: 64] }

        func address(_ family: Family, declared isDeclared: Bool) -> String {
            (isDeclared ? declared : undeclared)[family]!
        }
    }

    static func guest(_ id: Int, kind: String, vnet: String, mac: String, v4: String, v6: String) -> Guest {
        let subnet = vnet == "vneta" ? (v4: "10.61.0", v6: "fd61::") : (v4: "10.62.0", v6: "fd62::")
        return Guest(
            id: id, port: "\(kind == "kvm" ? "tap" : "veth")\(id)i0", mac: mac, vnet: vnet,
            declared: [.ipv4: "\(subnet.v4).\(v4)", .ipv6: "\(subnet.v6)\(v6)"],
            undeclared: [.ipv4: "\(subnet.v4).1\(v4)", .ipv6: "\(subnet.v6)1\(v6)"],
            gateway: [.ipv4: "\(subnet.v4).1", .ipv6: "\(subnet.v6)1"]
        )
    }

    /// The guests: 101 is the target of every flow, 102 its neighbour on vneta (and the forger), 103 has
    /// `policy-out: drop`, 201 sits on vnetb.
    public static let guests: [Guest] = [
        guest(101, kind: "kvm", vnet: "vneta", mac: "52:54:00:61:01:01", v4: "11", v6: "11"),
        guest(102, kind: "lxc", vnet: "vneta", mac: "52:54:00:61:01:02", v4: "12", v6: "12"),
        guest(103, kind: "lxc", vnet: "vneta", mac: "52:54:00:61:01:03", v4: "13", v6: "13"),
        guest(201, kind: "lxc", vnet: "vnetb", mac: "52:54:00:62:02:01", v4: "21", v6: "21"),
    ]

    public static func guest(_ id: Int) -> Guest { guests.first { $0.id == id }! }

    /// The host beyond the uplink bridge `vmbr0` (whose port `eth0` is a veth into its namespace).
    public static let outsideAddress: [Family: String] = [.ipv4: "198.51.100.2", .ipv6: "2001:db8:100::2"]
    /// The node's addresses on `vmbr0`.
    public static let uplinkAddress: [Family: String] = [.ipv4: "198.51.100.1", .ipv6: "2001:db8:100::1"]
    public static let vnetSubnets: [Family: [String]] = [.ipv4: ["10.61.0.0/24", "10.62.0.0/24"], .ipv6: ["fd61::/64", "fd62::/64"]]

    /// Ports of the probes and what each receiver's policy says about them.
    public static let guestPorts: [(port: UInt16, policy: Policy)] = [(80, .allow), (22, .drop), (81, .reject)]
    public static let nodePorts: [(port: UInt16, policy: Policy)] = [(22, .allow), (80, .drop), (81, .reject)]
    /// udp/7777 on 101: the target of the forged frames (allowed, so only anti-spoofing can stop them).
    public static let spoofPort: UInt16 = 7777
    /// A source MAC nobody declares.
    public static let forgedMAC = "52:54:00:de:ad:01"
    public static let forgedAddress: [Family: String] = [.ipv4: "10.61.0.99", .ipv6: "fd61::99"]

    // MARK: - The intent (independent of the compiler)

    /// What the policy files say, written out by hand: every guest ALLOWs tcp/80, REJECTs tcp/81 and
    /// drops the rest (policy-in drop); 101 also allows udp/7777; the node allows tcp/22 from the vnets,
    /// REJECTs tcp/81 and drops the rest; 103 sends nothing (policy-out drop); 102 has ipfilter; every
    /// guest has macfilter.
    enum Intent {
        static let mutedGuests: Set<Int> = [103]
        static let ipfilterGuests: Set<Int> = [102]

        static func guestInbound(_ id: Int, proto: String, port: UInt16) -> Outcome {
            if proto == "udp" { return id == 101 && port == spoofPort ? .delivered : .dropped }
            return switch port {
            case 80: .delivered
            case 81: .rejected
            default: .dropped
            }
        }

        static func nodeInbound(port: UInt16) -> Outcome {
            switch port {
            case 22: .delivered
            case 81: .rejected
            default: .dropped
            }
        }
    }

    /// What should happen to `flow` in `layout`: the policy's intent under the guarantees of the layout
    /// (docs: path × layout → filtered by what).
    public static func intent(of flow: Flow, in layout: Layout) -> Outcome {
        if case .guest(let source) = flow.from {
            let sender = guest(source)
            // Egress first: the sender's own OUT chain and anti-spoofing, on every path.
            if Intent.mutedGuests.contains(source) { return .dropped }
            if let mac = flow.sourceMAC, mac != sender.mac { return .dropped }
            if let address = flow.sourceAddress, Intent.ipfilterGuests.contains(source), !sender.declared.values.contains(address) {
                return .dropped
            }
        }
        switch flow.to {
        case .node:
            return Intent.nodeInbound(port: flow.port)
        case .outside:
            return .delivered
        case .guest(let target):
            // `minimal` cannot tell which NIC an undeclared address belongs to: new connections routed
            // (or sent by the node) to it are dropped by a named, counted rule.
            if layout == .minimal, !flow.destinationDeclared, [.routedVnet, .routedOutside, .nodeToGuest].contains(flow.path) {
                return .dropped
            }
            let inbound = Intent.guestInbound(target, proto: flow.proto, port: flow.port)
            // `full` keeps guests' inbound chains on the bridge's forward and output hooks, where the
            // kernel cannot reject (nft_reject_bridge works on prerouting and input only): a reject there
            // drops, and `sdn compile` says so (reject-inbound-drops).
            if layout == .full, inbound == .rejected { return .dropped }
            return inbound
        }
    }

    // MARK: - Flows

    public struct Flow: Sendable, CustomStringConvertible {
        /// Short and unique: the prober reports by it.
        public var id: String
        public var path: Path
        public var family: Family
        /// Whether the address that characterises the flow is declared: the destination's, or for
        /// guest → node and forged flows the source's.
        public var declared: Bool
        /// What the receiving policy says about the port.
        public var policy: Policy
        public var proto: String = "tcp"
        public var port: UInt16
        public var from: Party
        public var to: Party
        /// An explicit source address (undeclared or forged); nil: the kernel's choice.
        public var sourceAddress: String?
        /// An explicit source MAC (forged); nil: the sender's own.
        public var sourceMAC: String?
        public var destinationAddress: String
        public var destinationDeclared: Bool
        /// For forged frames: the id of the anti-spoofing rule whose counter must grow.
        public var counterRule: String?
        /// A short note on what is special about the flow (shown in the table).
        public var note: String = ""

        public var description: String {
            "\(id) \(path.rawValue) \(family.rawValue) \(from) → \(to) \(destinationAddress) \(proto)/\(port)\(note.isEmpty ? "" : " (\(note))")"
        }
    }

    /// The whole matrix: 5 paths × 2 families × declared/undeclared × allow/drop/reject, a few flows
    /// from the muted guest, and the forged frames.
    public static let flows: [Flow] = {
        var flows: [Flow] = []
        func add(_ flow: Flow) {
            var flow = flow
            flow.id = String(format: "f%02d", flows.count + 1)
            flows.append(flow)
        }
        let target = guest(101)
        let senders: [(Path, Party)] = [(.bridged, .guest(102)), (.routedVnet, .guest(201)), (.routedOutside, .outside), (.nodeToGuest, .node)]
        for (path, sender) in senders {
            for family in Family.allCases {
                for declared in [true, false] {
                    for (port, policy) in guestPorts {
                        // A guest sends from its declared address (it holds an undeclared one too, which the
                        // kernel could otherwise pick, and 102's ipfilter would drop).
                        let source: String? = if case .guest(let id) = sender { guest(id).declared[family] } else { nil }
                        add(Flow(id: "", path: path, family: family, declared: declared, policy: policy, port: port, from: sender, to: .guest(101),
                                 sourceAddress: source, destinationAddress: target.address(family, declared: declared), destinationDeclared: declared))
                    }
                }
            }
        }
        // Guest → node: from 101's declared and undeclared source (101 has no ipfilter), to its gateway.
        for family in Family.allCases {
            for declared in [true, false] {
                for (port, policy) in nodePorts {
                    add(Flow(id: "", path: .guestToNode, family: family, declared: declared, policy: policy, port: port, from: .guest(101), to: .node,
                             sourceAddress: target.address(family, declared: declared), destinationAddress: target.gateway[family]!,
                             destinationDeclared: true))
                }
            }
        }
        // The muted guest (policy-out drop) sends nothing, to the node or to its neighbour.
        let muted = guest(103)
        for family in Family.allCases {
            add(Flow(id: "", path: .guestToNode, family: family, declared: true, policy: .allow, port: 22, from: .guest(103), to: .node,
                     sourceAddress: muted.declared[family]!, destinationAddress: muted.gateway[family]!, destinationDeclared: true, note: "103 policy-out drop"))
            add(Flow(id: "", path: .bridged, family: family, declared: true, policy: .allow, port: 80, from: .guest(103), to: .guest(101),
                     sourceAddress: muted.declared[family]!, destinationAddress: target.declared[family]!, destinationDeclared: true, note: "103 policy-out drop"))
        }
        // Forged frames from 102 (ipfilter, macfilter) to udp/7777 on 101, which 101 allows: the genuine
        // frame arrives, the forged ones are dropped and counted.
        let forger = guest(102)
        let spoofChain = "guest-102-net0-spoof"
        for family in Family.allCases {
            let suffix = family == .ipv4 ? "v4" : "v6"
            add(Flow(id: "", path: .spoof, family: family, declared: true, policy: .allow, proto: "udp", port: spoofPort, from: .guest(102), to: .guest(101),
                     sourceAddress: forger.declared[family]!, sourceMAC: forger.mac, destinationAddress: target.declared[family]!,
                     destinationDeclared: true, note: "genuine source"))
            add(Flow(id: "", path: .spoof, family: family, declared: false, policy: .allow, proto: "udp", port: spoofPort, from: .guest(102), to: .guest(101),
                     sourceAddress: forgedAddress[family]!, sourceMAC: forger.mac, destinationAddress: target.declared[family]!,
                     destinationDeclared: true, counterRule: "\(spoofChain)/ipfilter-\(suffix)", note: "forged source IP"))
            add(Flow(id: "", path: .spoof, family: family, declared: false, policy: .allow, proto: "udp", port: spoofPort, from: .guest(102), to: .guest(101),
                     sourceAddress: forger.declared[family]!, sourceMAC: forgedMAC, destinationAddress: target.declared[family]!,
                     destinationDeclared: true, counterRule: "\(spoofChain)/macfilter", note: "forged source MAC"))
        }
        return flows
    }()

    // MARK: - sdn trace

    /// The `sdn trace` arguments that ask about `flow` (after `--config …`, `--node`, `--kernel`).
    public static func traceArguments(_ flow: Flow) -> [String] {
        var arguments: [String] = []
        switch flow.from {
        case .guest(let id): arguments += ["--from", "\(id)/net0"]
        case .node: arguments += ["--from", "node"]
        case .outside: arguments += ["--from", outsideAddress[flow.family]!]
        }
        switch flow.to {
        case .guest(let id): arguments += ["--to", "\(id)/net0", "--dst-ip", flow.destinationAddress]
        case .node, .outside: arguments += ["--to", flow.destinationAddress]
        }
        if let source = flow.sourceAddress { arguments += ["--src-ip", source] }
        if let mac = flow.sourceMAC, case .guest(let id) = flow.from, mac != guest(id).mac { arguments += ["--src-mac", mac] }
        arguments.append("\(flow.proto)/\(flow.port)")
        return arguments
    }

    /// What `sdn trace --output json` predicts, or why there is no prediction.
    public static func prediction(fromTraceJSON text: String) -> Result<Outcome, PredictionError> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let verdict = object["verdict"] as? String
        else { return .failure(PredictionError(text: "no verdict in: \(text.prefix(200))")) }
        if verdict == "accept" { return .success(.delivered) }
        if verdict == "drop" { return .success(.dropped) }
        if verdict.hasPrefix("reject") { return .success(.rejected) }
        return .failure(PredictionError(text: "unknown verdict \(verdict)"))
    }

    public struct PredictionError: Error, CustomStringConvertible {
        public var text: String
        public var description: String { text }
    }

    /// Runs `sdn trace` for every flow (two at a time: each run compiles the ruleset) and returns its
    /// prediction by flow id.
    public static func predictions(sdn: String, layout: Layout, flows: [Flow] = flows) -> [String: Result<Outcome, PredictionError>] {
        let results = Mutex<[String: Result<Outcome, PredictionError>]>([:])
        let base = [sdn, "trace", "--config", fixtureDirectory + "/Topologies", "--config", fixtureDirectory + "/Policies",
                    "--node", "lab", "--kernel", layout.rawValue, "--output", "json"]
        DispatchQueue.concurrentPerform(iterations: flows.count) { index in
            let flow = flows[index]
            let result: Result<Outcome, PredictionError>
            do {
                let run = try Shell.run(base + traceArguments(flow), timeout: .seconds(60))
                if run.status == 0 || !run.stdout.isEmpty {
                    result = prediction(fromTraceJSON: run.stdout)
                } else {
                    let reason = run.stderr.split(separator: "\n").first.map(String.init) ?? "exit status \(run.status)"
                    result = .failure(PredictionError(text: "sdn trace failed: \(reason)"))
                }
            } catch {
                result = .failure(PredictionError(text: "\(error)"))
            }
            results.withLock { $0[flow.id] = result }
        }
        return results.withLock { $0 }
    }
}
