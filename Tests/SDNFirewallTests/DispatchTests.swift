import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// The shape the design promises: per-packet work independent of the number of guests (verdict-map
/// dispatch, no per-guest jump lists in base chains), and shared rules (security groups) compiled once.
@Suite struct DispatchTests {
    /// A node with `count` guests on one vnet, each with ipfilter, a security group and a rule of its own.
    static func generatedState(guests count: Int) throws -> Validated<DesiredState> {
        var topology = """
            nodes:
              n1:
                address: 192.0.2.1
                management: [192.0.2.0/24]
                uplinks:
                  eth0: {}
                  vmbr0: { bridge: { ports: [eth0] }, addresses: [192.0.2.1/24] }
            zones:
              local: { type: simple }
            vnets:
              lan:
                zone: local
                subnets:
                  10.0.0.0/16: { gateway: 10.0.0.1, snat: true }
              db:
                zone: local
                subnets:
                  10.1.0.0/24: { gateway: 10.1.0.1 }
            guests:

            """
        var policy = """
            groups:
              web: [in accept HTTP, in accept HTTPS, out accept DNS]
            cluster:
              options: { ipfilter: true }
              rules: [in accept SSH from 192.0.2.0/24]
            vnets:
              db: { options: { policy-forward: drop }, rules: [forward accept PostgreSQL from 10.0.0.0/16] }
            guests:

            """
        for index in 0..<count {
            let id = 1000 + index
            let mac = "52:54:00:00:\(hex(index >> 8)):\(hex(index & 0xff))"
            let ip = "10.0.\(2 + index / 250).\(1 + index % 250)"
            topology += "  \(id): { node: n1, nics: { net0: { vnet: lan, mac: \"\(mac)\", ip: [\(ip)] } } }\n"
            policy += "  \(id): { rules: [group web, in accept tcp dport \(8000 + index % 1000)] }\n"
        }
        return try validate([
            ConfigDocument(path: "Topologies/generated.yaml", text: topology, kind: .topology),
            ConfigDocument(path: "Policies/generated.yaml", text: policy, kind: .policy),
        ])
    }

    static func hex(_ value: Int) -> String {
        let digits = String(value, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }

    /// Base chain → rule count, per table.
    static func baseChainRuleCounts(_ ruleset: Ruleset) -> [String: Int] {
        var counts: [String: Int] = [:]
        for table in ruleset.tables {
            for chain in table.chains where chain.base != nil {
                counts["\(table.family.rawValue) \(table.name) \(chain.name)"] = chain.rules.count
            }
        }
        return counts
    }

    static func jumpTargets(of rule: Rule) -> [String] {
        rule.statements.compactMap { statement in
            switch statement {
            case .verdict(.jump(let target)), .verdict(.goto(let target)): target
            default: nil
            }
        }
    }

    @Test(arguments: kernelProfiles.map(\.name))
    func baseChainsDoNotGrowWithGuests(_ kernel: String) throws {
        let features = kernelProfiles.first { $0.name == kernel }!.features
        let one = FirewallCompiler.compile(try Self.generatedState(guests: 1), node: "n1", features: features)
        let many = FirewallCompiler.compile(try Self.generatedState(guests: 500), node: "n1", features: features)
        let oneCounts = Self.baseChainRuleCounts(one.ruleset)
        let manyCounts = Self.baseChainRuleCounts(many.ruleset)
        #expect(!oneCounts.isEmpty)
        #expect(oneCounts == manyCounts, "base chains must have the same rules for 1 and for 500 guests")
        for (chain, count) in manyCounts {
            #expect(count <= 20, "base chain \(chain) has \(count) rules")
        }
        // No base chain names a guest chain: guests are reached through verdict maps only.
        for table in many.ruleset.tables {
            for chain in table.chains where chain.base != nil {
                for rule in chain.rules {
                    #expect(!Self.jumpTargets(of: rule).contains { $0.hasPrefix("guest-") }, "\(chain.name): \(NFTTextRenderer.render(rule))")
                }
            }
        }
    }

    @Test(arguments: kernelProfiles.map(\.name))
    func guestsAreReachedThroughVerdictMaps(_ kernel: String) throws {
        let features = kernelProfiles.first { $0.name == kernel }!.features
        let compiled = FirewallCompiler.compile(try Self.generatedState(guests: 500), node: "n1", features: features)
        let policyTable = try #require(compiled.ruleset.table(kernel == "full" ? .bridge : .inet, FirewallNaming.tableName))
        for (mapName, dispatch) in [(FirewallNaming.guestOutMap, FirewallNaming.guestOutDispatch), (FirewallNaming.guestInMap, FirewallNaming.guestInDispatch)] {
            let map = try #require(policyTable.set(mapName), "no map \(mapName)")
            #expect(map.data == .verdict)
            #expect(map.elements.count == 500, "\(mapName) has \(map.elements.count) elements")
            // Every rule of the dispatch chain is a map lookup (br_netfilter adds lookups by address
            // for routed traffic), and one of them is this map.
            let base = try #require(policyTable.chain(dispatch))
            // In `minimal` the inbound dispatch ends with the fixed rules for addresses no guest declares
            // (their number does not depend on the guests).
            let lookups = base.rules.filter { !$0.id.contains("/undeclared") }
            #expect(!lookups.isEmpty && lookups.count <= 4)
            #expect(base.rules.count - lookups.count <= 4)
            #expect(lookups.allSatisfy { rule in rule.statements.contains { if case .vmap = $0 { true } else { false } } })
            #expect(base.rules.contains { rule in rule.statements.contains { if case .vmap(_, let name) = $0 { name == mapName } else { false } } })
        }
        let bridge = try #require(compiled.ruleset.table(.bridge, FirewallNaming.tableName))
        #expect(bridge.set(FirewallNaming.guestSpoofMap)?.elements.count == 500)
        #expect(bridge.set(FirewallNaming.guestIPv4Set)?.elements.count == 500)
    }

    @Test(arguments: kernelProfiles.map(\.name))
    func securityGroupIsOneChainWhateverTheNumberOfUsers(_ kernel: String) throws {
        let features = kernelProfiles.first { $0.name == kernel }!.features
        let compiled = FirewallCompiler.compile(try Self.generatedState(guests: 50), node: "n1", features: features)
        let policyTable = try #require(compiled.ruleset.table(kernel == "full" ? .bridge : .inet, FirewallNaming.tableName))
        for direction in [Direction.in, .out] {
            let name = FirewallNaming.groupChain("web", direction)
            // Once per table that jumps to it: in `minimal` the bridge table has it too, for the stateless
            // copies of the inbound chains that judge broadcast and multicast frames.
            for table in compiled.ruleset.tables {
                let chains = table.chains.filter { $0.name == name }
                let jumpers = table.chains.flatMap(\.rules).contains { Self.jumpTargets(of: $0).contains(name) }
                #expect(chains.count <= 1 && (!jumpers || chains.count == 1), "\(table.family) \(name) exists \(chains.count) times")
            }
            let jumps = policyTable.chains.flatMap(\.rules).filter { Self.jumpTargets(of: $0).contains(name) }
            #expect(jumps.count == 50, "\(jumps.count) jumps to \(name)")
        }
        let groupChain = try #require(policyTable.chain(FirewallNaming.groupChain("web", .in)))
        #expect(groupChain.rules.count == 2, "the group's rules are compiled once, not per guest")
    }

    /// In the shared-groups fixture each used group has one chain per table and direction, and the
    /// unused group none.
    @Test(arguments: kernelProfiles.map(\.name))
    func sharedGroupFixtureHasOneChainPerTableAndDirection(_ kernel: String) throws {
        let features = kernelProfiles.first { $0.name == kernel }!.features
        let fixture = try #require(compileFixtures.first { $0.name == "security-groups-shared" })
        let compiled = FirewallCompiler.compile(try validate(loadDocuments(under: fixture.directory)), node: "n1", features: features)
        for table in compiled.ruleset.tables {
            let names = table.chains.map(\.name)
            #expect(names.count == Set(names).count, "duplicate chain names in \(table.family) \(table.name)")
            #expect(!names.contains { $0.hasPrefix("group-unused-") })
        }
        let all = compiled.ruleset.tables.flatMap(\.chains).map(\.name)
        #expect(all.contains(FirewallNaming.groupChain("ssh", .in)))
        #expect(all.contains(FirewallNaming.groupChain("web", .in)))
    }
}
