import Foundation
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNProxmoxImport
import SDNTesting
import Testing

/// The full sample: three nodes, a vlan and a vxlan zone, ten guests (VMs and containers), datacenter,
/// host, guest and vnet firewalls.
@Suite("Proxmox import: sample cluster")
struct SampleClusterTests {
    let tree: ProxmoxTree
    let result: ImportResult

    init() throws {
        tree = try readTree(fixturesDirectory("sample-cluster", "input"))
        result = ProxmoxImporter.run(tree)
    }

    func validated() throws -> Validated<DesiredState> {
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(result.documents)
        return try #require(validated, "\(diagnostics.map(\.description).joined(separator: "\n"))")
    }

    @Test("has what the sample promises")
    func shape() throws {
        let state = try validated().value
        #expect(state.nodes.map(\.name) == ["pve1", "pve2", "pve3"])
        #expect(Set(state.zones.map(\.kindName)) == ["vlan", "vxlan"])
        #expect(state.guests.count == 10)
        #expect(Set(state.guests.map(\.kind)) == [.kvm, .lxc])
        #expect(state.firewall.nodes.count == 3)
        #expect(state.firewall.vnets.count == 1)
        // The underlay address comes from the VXLAN peers found on each node's interfaces.
        #expect(state.nodes.map { $0.address?.description } == ["10.0.0.11", "10.0.0.12", "10.0.0.13"])
        #expect(state.nodes.allSatisfy { $0.management.map(\.description) == ["10.0.0.0/24"] })
    }

    @Test("compiles for every node, full and minimal kernels, without errors")
    func compiles() throws {
        let validated = try validated()
        for node in validated.value.nodes.map(\.name) {
            for features in [KernelFeatures.full, .minimal] {
                let compiled = FirewallCompiler.compile(validated, node: node, features: features)
                #expect(!compiled.diagnostics.hasErrors, "\(node): \(compiled.diagnostics.map(\.description).joined(separator: "\n"))")
                let text = NFTTextRenderer.render(compiled.ruleset, replacing: true)
                #expect(text.contains("table inet sdn"))
            }
        }
    }

    @Test("the datacenter's rules follow each node's own, as in Proxmox")
    func hostRulesFirst() throws {
        let state = try validated().value
        #expect(state.firewall.cluster.rules.isEmpty)
        let pve1 = try #require(state.firewall.policy(for: .node("pve1")))
        let pve3 = try #require(state.firewall.policy(for: .node("pve3")))
        // pve1: its iSCSI rule, then the datacenter's (blacklist first); pve3 has no host.fw of its own.
        #expect(pve1.rules.first?.match?.source == [.reference("blacklist")])
        #expect(pve1.rules.dropFirst().first?.match?.dport == [PortRange(3260)])
        #expect(pve1.rules.count == pve3.rules.count + 1)
        #expect(pve3.rules.first?.match?.source == [.reference("blacklist")])
    }

    @Test("guests without a .fw file, or without enable: 1, are not filtered")
    func guestDefaults() throws {
        let state = try validated().value
        for id in [103, 104, 202, 204, 201] {
            #expect(state.firewall.policy(for: .guest(id))?.options.enable == false, "guest \(id)")
        }
        let db1 = try #require(state.firewall.policy(for: .guest(200)))
        #expect(db1.options.enable == true)
        #expect(db1.options.policyIn == .reject)
        // Proxmox guests do not inherit the datacenter policies: ours are written out.
        #expect(db1.options.policyOut == .accept)
        let web1 = try #require(state.guest(id: 100))
        #expect(web1.nics.first?.ips.map(\.description) == ["10.0.100.10/32"])
        #expect(state.firewall.policy(for: .guest(100))?.options.ipfilter == true)
    }

    @Test("guest rule ids stay the same when rules are reordered or other guests change")
    func stableRuleIDs() throws {
        func ids(_ tree: ProxmoxTree) throws -> [Int: Set<String>] {
            let (validated, diagnostics) = ConfigLoader.loadAndValidate(ProxmoxImporter.run(tree).documents)
            let state = try #require(validated, "\(diagnostics)").value
            var result: [Int: Set<String>] = [:]
            for policy in state.firewall.guests {
                if case .guest(let id) = policy.scope { result[id] = Set(policy.rules.map(\.id)) }
            }
            return result
        }
        let before = try ids(tree)
        var changed = tree
        // Reverse guest 102's rules and add one to guest 101.
        let file = changed.files["firewall/102.fw"]!
        let lines = file.split(separator: "\n", omittingEmptySubsequences: false)
        let rulesAt = try #require(lines.firstIndex(of: "[RULES]"))
        let rules = lines[(rulesAt + 2)...].filter { !$0.isEmpty }
        changed.files["firewall/102.fw"] = (lines[...(rulesAt + 1)] + rules.reversed()).joined(separator: "\n") + "\n"
        changed.files["firewall/101.fw"]! += "IN ACCEPT -p tcp -dport 8443\n"
        let after = try ids(changed)
        #expect(before[102] == after[102])
        #expect(before[102]?.count == 5)  // its four, and the datacenter's blacklist
        #expect(try #require(after[101]).isSuperset(of: try #require(before[101])))
        #expect(after[101]!.count == before[101]!.count + 1)
        #expect(before[200] == after[200])
    }

    @Test("--check fails: the sample drops conntrack sysctls, IPS queues and link_down")
    func checkFails() {
        #expect(result.report.losesSomething)
        let dropped = result.report.dropped.map { "\($0.location.file):\($0.location.line)" }
        #expect(dropped.contains("nodes/pve1/host.fw:7"))  // nf_conntrack_max
        #expect(dropped.contains("firewall/101.fw:4"))  // ips
        #expect(dropped.contains("nodes/pve1/qemu-server/101.conf:5"))  // link_down=1
    }

    @Test("a guest's inbound REJECT is reported: it drops on kernels with bridge conntrack")
    func inboundRejectIsReported() throws {
        func rejectEntries(_ tree: ProxmoxTree) -> [String] {
            ProxmoxImporter.run(tree).report.entries
                .filter { $0.kind == .changed && $0.reason.contains("reject-inbound-drops") }
                .map { "\($0.location.file):\($0.location.line)" }
        }
        // 200.fw has policy_in: REJECT, 101.fw an IN REJECT rule; the datacenter's OUT REJECT is no guest's inbound.
        #expect(rejectEntries(tree) == ["firewall/101.fw:11", "firewall/200.fw:4"])
        var changed = tree
        // A group with an inbound REJECT makes every guest using it reject inbound (203 uses dbserver).
        changed.files["firewall/cluster.fw"] = tree.files["firewall/cluster.fw"]!
            .replacingOccurrences(of: "[group dbserver]\n", with: "[group dbserver]\n\nIN REJECT -p tcp -dport 3306\n")
        // A guest whose firewall is off rejects nothing; an OUT REJECT answers in every layout.
        changed.files["firewall/200.fw"] = tree.files["firewall/200.fw"]!.replacingOccurrences(of: "enable: 1", with: "enable: 0")
        changed.files["firewall/201.fw"]! += "OUT REJECT -p tcp -dport 25\n"
        #expect(rejectEntries(changed) == ["firewall/101.fw:11", "firewall/203.fw:7"])
    }

    @Test("--node imports one node with the cluster-wide parts")
    func singleNode() throws {
        let one = ProxmoxImporter.run(tree, node: "pve2")
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(one.documents)
        let state = try #require(validated, "\(diagnostics.map(\.description).joined(separator: "\n"))").value
        #expect(state.nodes.map(\.name) == ["pve2"])
        #expect(state.guests.map(\.id).sorted() == [102, 201, 202])
        #expect(one.report.skippedFiles.contains("firewall/100.fw"))
        #expect(one.ledger.unaccounted(in: tree).allSatisfy { !$0.file.contains("pve2") })
    }
}
