import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// One guest's policy change recompiles that guest only, and its delta patched into the old ruleset
/// gives exactly the ruleset a full compile of the new policy gives.
@Suite struct GuestUpdateTests {
    func demo() throws -> Validated<DesiredState> {
        let documents = loadExampleDocuments(repositoryRoot)
        return try #require(ConfigLoader.loadAndValidate(documents).validated)
    }

    @Test(arguments: [KernelFeatures.full, .minimal])
    func patchedRulesetEqualsFullCompile(features: KernelFeatures) throws {
        let before = try demo()
        var changed = before.value
        let index = try #require(changed.firewall.guests.firstIndex { $0.scope == .guest(102) })
        changed.firewall.guests[index].rules.append(FirewallRule(id: "extra", hasExplicitID: true,
            body: .match(RuleMatch(direction: .in, action: .accept, proto: .tcp, dport: [PortRange(8080)]))))
        changed.guests[1].nics[0].ips.append(try IPPrefix("10.10.0.42"))
        let after = try #require(changed.validate().validated)

        var ruleset = FirewallCompiler.compile(before, node: "demo1", features: features).ruleset
        let oldFragment = FirewallCompiler.compileGuests([102], of: before, node: "demo1", features: features)
        let newFragment = FirewallCompiler.compileGuests([102], of: after, node: "demo1", features: features)
        let changes = FirewallCompiler.changes(from: oldFragment, to: newFragment)
        newFragment.patch(&ruleset, replacing: oldFragment)
        let full = FirewallCompiler.compile(after, node: "demo1", features: features).ruleset

        #expect(ruleset.normalizedForComparison() == full.normalizedForComparison())
        // Only guest 102's chains and elements move; nothing of the other guests.
        #expect(!changes.isEmpty)
        for change in changes {
            switch change {
            case .addElements(_, _, _, let elements), .deleteElements(_, _, _, let elements):
                for element in elements {
                    let text = NFTTextRenderer.render(element: element)
                    #expect(text.contains("102") || text.contains("52:54:00:00:01:02") || text.contains("10.10.0.12") || text.contains("10.10.0.42"), "\(text)")
                }
            default:
                #expect(change.description.contains("102"), "\(change)")
            }
        }
        // The same chains change as a full diff finds, no more and no fewer.
        let fullChanges = RulesetDiff.changes(from: FirewallCompiler.compile(before, node: "demo1", features: features).ruleset, to: full)
        #expect(Self.touchedChains(changes) == Self.touchedChains(fullChanges))
    }

    static func touchedChains(_ changes: [FirewallChange]) -> Set<String> {
        Set(changes.compactMap { change in
            switch change {
            case .addRule(_, _, let chain, _), .flushChain(_, _, let chain), .deleteChain(_, _, let chain): chain
            case .addChain(_, _, let chain): chain.name
            default: nil
            }
        })
    }
}

/// A guest fragment can be applied alone only when what its rules name outside it exists.
@Suite struct GuestFragmentDependencyTests {
    func demo() throws -> Validated<DesiredState> {
        let documents = loadDocuments(under: repositoryRoot).filter { $0.path.hasPrefix("Topologies/") || $0.path.hasPrefix("Policies/") }
        return try #require(ConfigLoader.loadAndValidate(documents).validated)
    }

    @Test(arguments: [KernelFeatures.full, .minimal])
    func aNewRuleNeedsNothingNew(features: KernelFeatures) throws {
        let before = try demo()
        var policy = try #require(before.value.firewall.guests.first { $0.scope == .guest(102) })
        policy.rules.append(FirewallRule(id: "extra", hasExplicitID: true, body: .match(RuleMatch(direction: .in, action: .accept, proto: .tcp, dport: [PortRange(8080)]))))
        let after = try #require(before.replacingGuestPolicy(policy).validated)
        let ruleset = FirewallCompiler.compile(before, node: "demo1", features: features).ruleset
        let old = FirewallCompiler.compileGuests([102], of: before, node: "demo1", features: features)
        let new = FirewallCompiler.compileGuests([102], of: after, node: "demo1", features: features)
        #expect(old.dependenciesSatisfied(by: ruleset))
        #expect(new.dependenciesSatisfied(by: ruleset))
        #expect(new.dependenciesSatisfied(by: ruleset, replacing: old))
        // Shared sets are named, never anonymous, so no chain of the fragment creates a set.
        for chain in new.chains.values.flatMap({ $0 }) {
            for rule in chain.rules {
                for case .match(_, _, let right) in rule.statements {
                    if case .set = right { Issue.record("anonymous set in \(rule.id)") }
                }
            }
        }
    }

    @Test(arguments: [KernelFeatures.full, .minimal])
    func aGroupNothingUsedYetIsMissing(features: KernelFeatures) throws {
        let before = try demo()
        var state = before.value
        state.firewall.groups.append(SecurityGroup(name: "brandnew", rules: [
            FirewallRule(id: "a", hasExplicitID: true, body: .match(RuleMatch(direction: .in, action: .accept, proto: .tcp, dport: [PortRange(9999)]))),
        ]))
        let index = try #require(state.firewall.guests.firstIndex { $0.scope == .guest(102) })
        state.firewall.guests[index].rules.append(FirewallRule(id: "g", hasExplicitID: true, body: .group(name: "brandnew", iface: nil)))
        let after = try #require(state.validate().validated)
        let ruleset = FirewallCompiler.compile(before, node: "demo1", features: features).ruleset
        let old = FirewallCompiler.compileGuests([102], of: before, node: "demo1", features: features)
        let new = FirewallCompiler.compileGuests([102], of: after, node: "demo1", features: features)
        #expect(!new.dependenciesSatisfied(by: ruleset))
        #expect(!new.dependenciesSatisfied(by: ruleset, replacing: old))
        #expect(new.dependenciesSatisfied(by: FirewallCompiler.compile(after, node: "demo1", features: features).ruleset))
    }
}
