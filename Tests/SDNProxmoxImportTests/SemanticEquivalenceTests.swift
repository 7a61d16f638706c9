import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNProxmoxImport
import SDNTesting
import Testing

/// Packets through the imported sample cluster, each with the verdict Proxmox's documented semantics
/// give for the original `.fw` files (datacenter, host, guest levels, macros, groups, IP sets with
/// exclusions, aliases, the blacklist, REJECT, default policies, disabled rules, the management
/// failsafe), checked with the packet tracer on the compiled ruleset for both kernel layouts.
@Suite("Proxmox import: verdicts match Proxmox's semantics")
struct SemanticEquivalenceTests {
    enum Expected: String, CustomStringConvertible, Sendable {
        case accept, drop, reject
        /// Proxmox rejects, and so does the minimal layout; the full layout drops (below).
        case rejectInbound
        var description: String { self == .rejectInbound ? "reject (drop in the full layout)" : rawValue }

        /// Whether sdn's verdict in a layout is the expected one. A guest's inbound chains run on the
        /// bridge forward and output hooks in the full layout, where the kernel refuses reject: an
        /// inbound REJECT drops there (`reject-inbound-drops`; docs/firewall-paths.md, and the
        /// importer's report says so for each guest).
        func matches(_ verdict: PacketVerdict, in features: KernelFeatures) -> Bool {
            switch (self, verdict) {
            case (.accept, .accept), (.drop, .drop), (.reject, .reject): true
            case (.rejectInbound, .reject): features.guestMode == .brNetfilter
            case (.rejectInbound, .drop): features.guestMode != .brNetfilter
            default: false
            }
        }
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var node: String
        var from: String
        var to: String
        var service: String
        var expected: Expected
        /// Which Proxmox rule or default decides, for the reader.
        var why: String
        var testDescription: String { "\(from) → \(to) \(service) on \(node): \(expected) (\(why))" }
    }

    static let cases: [Case] = [
        // Guest 100 (web1, pve1): blacklist, GROUP webserver -i net0, SSH from +dc/admins, policy_in DROP.
        Case(node: "pve1", from: "192.0.2.5", to: "100", service: "tcp/22", expected: .accept, why: "IN SSH(ACCEPT) -source +dc/admins"),
        Case(node: "pve1", from: "192.0.2.13", to: "100", service: "tcp/22", expected: .drop, why: "!192.0.2.13 is carved out of admins; policy_in DROP"),
        Case(node: "pve1", from: "10.0.0.50", to: "100", service: "tcp/22", expected: .accept, why: "alias monitoring is in admins"),
        Case(node: "pve1", from: "203.0.113.9", to: "100", service: "tcp/80", expected: .accept, why: "group webserver: HTTP(ACCEPT)"),
        Case(node: "pve1", from: "203.0.113.9", to: "100", service: "tcp/8443", expected: .accept, why: "group webserver: -dport 443,8443"),
        Case(node: "pve1", from: "203.0.113.9", to: "100", service: "tcp/3306", expected: .drop, why: "policy_in DROP"),
        Case(node: "pve1", from: "203.0.113.9", to: "100", service: "icmp/echo-request", expected: .accept, why: "group webserver: -icmp-type echo-request"),
        Case(node: "pve1", from: "198.51.100.7", to: "100", service: "tcp/80", expected: .drop, why: "blacklist before any rule"),
        Case(node: "pve1", from: "100", to: "203.0.113.9", service: "tcp/25", expected: .drop, why: "group webserver: OUT DROP -dport smtp"),
        Case(node: "pve1", from: "100", to: "10.0.0.1", service: "udp/53", expected: .accept, why: "OUT ACCEPT -dest gateway"),
        // web1 to its own node: out through the VLAN's router and back in, where the host firewall decides.
        Case(node: "pve1", from: "100", to: "10.0.0.11", service: "icmp/echo-request", expected: .accept, why: "cluster.fw IN Ping(ACCEPT)"),
        Case(node: "pve1", from: "100", to: "10.0.0.11", service: "tcp/22", expected: .drop, why: "SSH only from +admins; policy_in DROP"),
        // Guest 200 (db1, pve1): policy_in REJECT, guest IP set and alias, GROUP dbserver.
        Case(node: "pve1", from: "10.1.0.21", to: "200", service: "tcp/5432", expected: .accept, why: "-source +clients (the guest's own IP set)"),
        Case(node: "pve1", from: "10.0.100.7", to: "200", service: "tcp/5432", expected: .accept, why: "group dbserver"),
        Case(node: "pve1", from: "203.0.113.9", to: "200", service: "tcp/5432", expected: .rejectInbound, why: "policy_in REJECT"),
        // The node's own traffic to db1 (bridged in from the VLAN's port after the router): no rule accepts it.
        Case(node: "pve1", from: "node", to: "200", service: "tcp/5432", expected: .rejectInbound, why: "policy_in REJECT"),
        Case(node: "pve1", from: "10.0.200.99", to: "200", service: "tcp/22", expected: .accept, why: "-source backup (the guest's own alias)"),
        Case(node: "pve1", from: "10.0.200.98", to: "200", service: "tcp/22", expected: .rejectInbound, why: "policy_in REJECT"),
        // Guest 202 (pve2) has no .fw file: Proxmox filters nothing.
        Case(node: "pve2", from: "203.0.113.9", to: "202", service: "tcp/9999", expected: .accept, why: "no firewall/202.fw"),
        // Guest 203 (pve3): enable 1, default policy_in DROP, GROUP dbserver.
        Case(node: "pve3", from: "10.0.100.7", to: "203", service: "tcp/5432", expected: .accept, why: "group dbserver"),
        Case(node: "pve3", from: "10.1.0.21", to: "203", service: "tcp/5432", expected: .drop, why: "guest default policy_in DROP"),
        // Host pve1: host.fw rules first, then the datacenter's; policy_in DROP from cluster.fw.
        Case(node: "pve1", from: "10.0.0.20", to: "10.0.0.11", service: "tcp/3260", expected: .accept, why: "host.fw IN ACCEPT -i vmbr0 -source 10.0.0.0/24 (iSCSI)"),
        Case(node: "pve1", from: "203.0.113.9", to: "10.0.0.11", service: "tcp/3260", expected: .drop, why: "policy_in DROP"),
        Case(node: "pve1", from: "192.0.2.5", to: "10.0.0.11", service: "tcp/22", expected: .accept, why: "cluster.fw IN SSH(ACCEPT) -source +admins"),
        Case(node: "pve1", from: "198.51.100.7", to: "10.0.0.11", service: "tcp/22", expected: .drop, why: "blacklist"),
        Case(node: "pve1", from: "10.0.0.50", to: "10.0.0.11", service: "tcp/9100", expected: .accept, why: "-source monitoring -dport 9100"),
        Case(node: "pve1", from: "203.0.113.9", to: "10.0.0.11", service: "tcp/8080", expected: .drop, why: "|IN ACCEPT -dport 8080 is disabled"),
        Case(node: "pve1", from: "10.0.0.5", to: "10.0.0.11", service: "tcp/8006", expected: .accept, why: "the management IP set reaches the API"),
        Case(node: "pve3", from: "203.0.113.9", to: "10.0.0.13", service: "icmp/echo-request", expected: .accept, why: "cluster.fw IN Ping(ACCEPT), no host.fw"),
        Case(node: "pve3", from: "203.0.113.9", to: "10.0.0.13", service: "tcp/5404", expected: .drop, why: "corosync only from 10.0.0.0/24"),
        Case(node: "pve3", from: "10.0.0.12", to: "10.0.0.13", service: "udp/5405", expected: .accept, why: "corosync from 10.0.0.0/24"),
        // The node's own REJECT answers in both layouts (the datacenter's OUT rule, copied to each node).
        Case(node: "pve1", from: "node", to: "198.51.100.7", service: "tcp/25", expected: .reject, why: "cluster.fw OUT REJECT -dest +dc/blacklist -dport 25"),
    ]

    static let validated: Validated<DesiredState>? = {
        guard let tree = try? readTree(fixturesDirectory("sample-cluster", "input")) else { return nil }
        return ConfigLoader.loadAndValidate(ProxmoxImporter.run(tree).documents).validated
    }()

    @Test("the tracer gives Proxmox's verdict", arguments: cases, [KernelFeatures.full, .minimal])
    func verdict(_ packet: Case, features: KernelFeatures) throws {
        let validated = try #require(Self.validated)
        let state = validated.value
        let legs = try TraceScenario.legs(from: .parse(packet.from, in: state), to: .parse(packet.to, in: state), service: .parse(packet.service),
                                          state: .new, in: state, node: packet.node, features: features)
        let ruleset = FirewallCompiler.compile(validated, node: packet.node, features: features).ruleset
        let interpreter = PacketInterpreter(ruleset: ruleset)
        var final: PacketVerdict = .accept
        for leg in legs {
            let trace = try interpreter.trace(leg.packet, at: leg.hook)
            if trace.verdict != .accept {
                final = trace.verdict
                break
            }
        }
        #expect(packet.expected.matches(final, in: features), "got \(final)")
    }
}
