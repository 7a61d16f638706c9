public import SDNModel
import SDNNFTables

/// Refuses a ruleset that would cut the operator off: from every management network, a new SSH and
/// API connection to the node must be accepted. With the failsafe on this always holds (its accept
/// comes first); with `failsafe: false` the user's own rules must provide it.
public enum LockoutCheck {
    static func findings(ruleset: Ruleset, state: DesiredState, node nodeName: String) -> [Diagnostic] {
        guard let node = state.node(named: nodeName), !node.management.isEmpty else { return [] }
        let interpreter = PacketInterpreter(ruleset: ruleset)
        let uplink = node.uplinks.first?.name.rawValue ?? "eth0"
        var findings: [Diagnostic] = []
        for network in node.management {
            let source = network.isHost ? network.address : IPAddress(family: network.family, integerValue: network.network.integerValue + 1)
            let destination = (node.address?.family == network.family ? node.address : nil)
                ?? node.uplinks.flatMap(\.addresses).first { $0.family == network.family }?.address
                ?? source
            for port in [UInt16(22), node.apiPort] {
                let packet = Packet(iifname: uplink, saddr: source, daddr: destination, l4proto: .tcp, sport: 40000, dport: port, tcpFlags: [.syn], ctState: .new)
                let verdict = (try? interpreter.trace(packet, at: .init(.inet, .input)))?.verdict
                guard verdict != .accept else { continue }
                let service = port == 22 ? "SSH (22)" : "the API (\(port))"
                findings.append(.error(.lockout, "the firewall of node '\(nodeName)' would block \(service) from management network \(network.compactDescription) (\(verdict.map(\.description) ?? "cannot evaluate"))",
                                       at: state.sources.location(of: ConfigPath.policy / "nodes" / nodeName / "options" / "failsafe")
                                           ?? state.sources.location(of: ConfigPath.policy / "cluster" / "options" / "failsafe"),
                                       path: "failsafe",
                                       hint: "turn the failsafe back on, add a rule accepting it, or remove the network from nodes.\(nodeName).management"))
            }
        }
        return findings
    }
}

extension LockoutCheck {
    /// The lockout errors `compile` would report, for every node: `sdn validate` runs this so that a
    /// configuration it accepts never fails to compile. Only a node with the failsafe off and
    /// management networks can lock anyone out (the failsafe's accept comes before every rule), so
    /// only such nodes are compiled, in both kernel layouts.
    public static func findings(in validated: Validated<DesiredState>) -> [Diagnostic] {
        let state = validated.value
        var findings: [Diagnostic] = []
        for node in state.nodes where !node.management.isEmpty && !state.firewall.resolvedOptions(for: .node(node.name)).failsafe {
            for features in [KernelFeatures.minimal, .full] {
                var builder = Builder(state: state, nodeName: node.name, features: features)
                builder.build()
                for finding in Self.findings(ruleset: Ruleset(tables: [builder.inet, builder.bridge]), state: state, node: node.name) where !findings.contains(finding) {
                    findings.append(finding)
                }
            }
        }
        return findings
    }
}
