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
    /// only such nodes are compiled, in both kernel layouts. Blocks the calling thread while the
    /// compiles run on `parallelism` threads: for the CLI; a caller on the cooperative pool uses the
    /// `async` variant.
    public static func findings(in validated: Validated<DesiredState>, parallelism: Parallelism = .automatic) -> [Diagnostic] {
        let jobs = Self.jobs(validated.value)
        return merged(parallelism.map(jobs.count) { findings(for: jobs[$0], in: validated.value) })
    }

    /// The same findings, the compiles as child tasks, so no thread of the pool blocks waiting for them
    /// (the API checks every write with it).
    public static func findings(in validated: Validated<DesiredState>, parallelism: Parallelism = .automatic) async -> [Diagnostic] {
        let jobs = Self.jobs(validated.value)
        let state = validated.value
        return merged(await parallelism.map(jobs.count) { findings(for: jobs[$0], in: state) })
    }

    /// One compile to check: a node that can lock anyone out, in one kernel layout.
    private struct Job: Sendable {
        let node: String
        let features: KernelFeatures
    }

    private static func jobs(_ state: DesiredState) -> [Job] {
        state.nodes.filter { !$0.management.isEmpty && !state.firewall.resolvedOptions(for: .node($0.name)).failsafe }
            .flatMap { node in [KernelFeatures.minimal, .full].map { Job(node: node.name, features: $0) } }
    }

    /// The job's findings; its guests are compiled serially, as the jobs themselves run side by side.
    private static func findings(for job: Job, in state: DesiredState) -> [Diagnostic] {
        var builder = Builder(state: state, nodeName: job.node, features: job.features)
        builder.build(parallelism: .serial)
        return findings(ruleset: Ruleset(tables: [builder.inet, builder.bridge]), state: state, node: job.node)
    }

    /// The jobs' findings in job order, each once (both layouts usually find the same).
    private static func merged(_ perJob: [[Diagnostic]]) -> [Diagnostic] {
        var findings: [Diagnostic] = []
        for finding in perJob.joined() where !findings.contains(finding) {
            findings.append(finding)
        }
        return findings
    }
}
