import SDNDataplane
import SDNModel
import SDNNetns
import SDNNFTables
import SDNNFTablesNetlink
import SDNTesting
import Testing

/// Applying and observing through netlink, each test in its own fresh namespace.
@Suite("NetlinkFirewall apply and observe", .systemTest(tools: ["nft", "ip"]))
struct NetlinkFirewallTests {
    static func names(_ ruleset: Ruleset) -> [(TableFamily, String)] {
        ruleset.tables.map { ($0.family, $0.name) }
    }

    static func coldLoad(_ ruleset: Ruleset, into firewall: NetlinkFirewall) async throws -> FirewallApplyReport {
        try await firewall.apply(RulesetDiff.changes(from: Ruleset(), to: ruleset), expectedGeneration: nil)
    }

    // MARK: - Round trip

    @Test(arguments: NetlinkFixtures.all)
    func observeReturnsWhatWasApplied(_ fixture: NetlinkFixtures.Fixture) async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let firewall = try NetlinkFirewall(namespace: namespace)
            let report = try await Self.coldLoad(fixture.ruleset, into: firewall)
            let observed = try await firewall.observe(tables: Self.names(fixture.ruleset))
            #expect(observed.generation == report.generation)
            for (table, expected) in zip(observed.ruleset.tables, fixture.ruleset.tables) {
                #expect(table.sets == expected.sets, "sets of \(table.family.rawValue) \(table.name)")
                for (chain, expectedChain) in zip(table.chains, expected.chains) {
                    #expect(chain.base == expectedChain.base, "chain \(chain.name)")
                    for (rule, expectedRule) in zip(chain.rules, expectedChain.rules) {
                        #expect(rule == expectedRule, "observed: \(NFTTextRenderer.render(rule))\napplied:  \(NFTTextRenderer.render(expectedRule))")
                    }
                    #expect(chain.rules.count == expectedChain.rules.count, "chain \(chain.name)")
                }
            }
            #expect(observed.ruleset == fixture.ruleset)
        }
    }

    @Test(arguments: NetlinkFixtures.rewrites)
    func observeReturnsTheCanonicalForm(_ rewrite: NetlinkFixtures.Rewrite) async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let firewall = try NetlinkFirewall(namespace: namespace)
            let ruleset = Ruleset(tables: [Table(family: rewrite.family, name: "t", chains: [Chain(name: "c", rules: [Rule(id: "r", statements: rewrite.written)])])])
            _ = try await Self.coldLoad(ruleset, into: firewall)
            let observed = try await firewall.observe(tables: Self.names(ruleset))
            #expect(observed.ruleset.tables.first?.chains.first?.rules.first?.statements == rewrite.canonical)
        }
    }

    @Test func observeSkipsMissingTablesAndMarksForeignExpressions() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            try KernelListing.load("""
                table inet sdn {
                    chain c {
                        meta mark 0x2a accept comment "foreign"
                        tcp dport 22 accept comment "ours"
                    }
                }
                """, in: namespace)
            let firewall = try NetlinkFirewall(namespace: namespace)
            let observed = try await firewall.observe(tables: [(.inet, "sdn"), (.bridge, "sdn")])
            #expect(observed.ruleset.tables.count == 1)
            let rules = try #require(observed.ruleset.tables.first?.chains.first?.rules)
            #expect(rules.map(\.id) == ["foreign", "ours"])
            guard case .match(.unrecognised(let text), _, _)? = rules[0].statements.first else {
                Issue.record("expected an unrecognised match, got \(rules[0].statements)")
                return
            }
            #expect(text.contains("meta"))
            #expect(rules[1].statements == [.match(.payload(.tcpDport), .equal, .value(.integer(22))), .verdict(.accept)])
        }
    }

    // MARK: - Incremental changes

    @Test func incrementalChangesSendOnlyTheDelta() async throws {
        let before = NetlinkFixtures.inetSets
        var after = before
        // One chain's rules change…
        after.chains[1].rules = [
            Rule(id: "g100/ssh", statements: [.match(.payload(.tcpDport), .equal, .value(.integer(22))), .verdict(.accept)]),
            Rule(id: "g100/drop", statements: [.counter, .verdict(.drop)]),
        ]
        // …and one element of one set.
        after.sets[0].elements.removeAll { $0.key == [NetlinkFixtures.address("192.168.1.1")] }
        after.sets[0].elements.append(SetElement(key: [NetlinkFixtures.prefix("192.168.2.0/24")]))
        after.sets[0].elements.sort { $0.key.lexicographicallyPrecedes($1.key) }

        let changes = RulesetDiff.changes(from: Ruleset(tables: [before]), to: Ruleset(tables: [after]))
        try await withTemporaryNetworkNamespace { incremental in
            try await withTemporaryNetworkNamespace { cold in
                let firewall = try NetlinkFirewall(namespace: incremental)
                _ = try await Self.coldLoad(Ruleset(tables: [before]), into: firewall)
                let observed = try await firewall.observe(tables: [(.inet, "sdn")])
                let report = try await firewall.apply(changes, expectedGeneration: observed.generation)
                // flush + 2 rules, one element deletion, one element addition.
                #expect(report.messageCount == 5, "changes: \(changes)")
                #expect(report.generation == (try await firewall.generation()))

                let coldFirewall = try NetlinkFirewall(namespace: cold)
                _ = try await Self.coldLoad(Ruleset(tables: [after]), into: coldFirewall)
                let expected = try KernelListing.json(in: cold)
                let actual = try KernelListing.json(in: incremental)
                #expect(KernelListing.difference(expected, actual) == nil, "\(KernelListing.difference(expected, actual) ?? "")")
                #expect(try await firewall.observe(tables: [(.inet, "sdn")]).ruleset == Ruleset(tables: [after]))
            }
        }
    }

    /// Five digits with leading zeros, so names sort like their numbers.
    static func digits(_ number: Int) -> String {
        let text = String(number)
        return String(repeating: "0", count: max(0, 5 - text.count)) + text
    }

    @Test func largeSetsAreSplitAcrossMessages() async throws {
        // 20,000 single addresses and ranges in an interval set, 20,000 concatenations, 5,000 map entries:
        // each list takes many NEWSETELEM messages (an element nest must stay under 64 KiB).
        var intervals: [SetElement] = []
        for index in 0..<20_000 {
            let base = UInt32(0x0A00_0000) + UInt32(index) * 4
            intervals.append(SetElement(key: [index % 2 == 0 ? .address(.v4(base)) : .range(.address(.v4(base)), .address(.v4(base + 2)))]))
        }
        var concatenations: [SetElement] = []
        for index in 0..<20_000 {
            concatenations.append(SetElement(key: [.string("tap" + Self.digits(index)), .ether(MACAddress(octets: [0x52, 0x54, 0, 0, UInt8(index >> 8), UInt8(index & 0xff)])), .address(.v4(0xC0A8_0000 | UInt32(index)))]))
        }
        var verdicts: [SetElement] = []
        for index in 0..<5_000 {
            verdicts.append(SetElement(key: [.string("veth" + Self.digits(index))], data: .verdict(index % 2 == 0 ? .accept : .jump("target"))))
        }
        let table = Table(family: .inet, name: "big", sets: [
            NamedSet(name: "intervals", keyType: [.ipv4Address], flags: [.interval], elements: intervals),
            NamedSet(name: "spoof", keyType: [.interfaceName, .etherAddress, .ipv4Address], elements: concatenations),
            NamedSet(name: "dispatch", keyType: [.interfaceName], data: .verdict, elements: verdicts),
        ], chains: [Chain(name: "target", rules: [Rule(id: "t", statements: [.counter])])])
        let ruleset = Ruleset(tables: [table])
        try await withTemporaryNetworkNamespace { ours in
            try await withTemporaryNetworkNamespace { reference in
                let firewall = try NetlinkFirewall(namespace: ours)
                let report = try await Self.coldLoad(ruleset, into: firewall)
                #expect(report.messageCount > 10)
                #expect(try await firewall.observe(tables: [(.inet, "big")]).ruleset == ruleset)
                try KernelListing.load(NFTTextRenderer.render(ruleset), in: reference)
                #expect(KernelListing.difference(try KernelListing.json(in: reference), try KernelListing.json(in: ours)) == nil)
            }
        }
    }

    // MARK: - Failures

    @Test func aBadChangeAbortsTheWholeBatchAndIsNamed() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let firewall = try NetlinkFirewall(namespace: namespace)
            _ = try await Self.coldLoad(Ruleset(tables: [NetlinkFixtures.inetSets]), into: firewall)
            let before = try KernelListing.json(in: namespace)

            let origin = SourceLocation(file: "Policies/web.yaml", line: 12, column: 7)
            let bad = FirewallChange.addRule(.inet, table: "sdn", chain: "forward",
                                             Rule(id: "web/r3", statements: [.verdict(.jump("no-such-chain"))], origin: origin))
            let changes: [FirewallChange] = [
                .addRule(.inet, table: "sdn", chain: "forward", Rule(id: "good-1", statements: [.counter])),
                .addElements(.inet, table: "sdn", set: "hosts", [SetElement(key: [NetlinkFixtures.address("10.0.0.99")])]),
                bad,
                .addTable(.inet, "another"),
                .addRule(.inet, table: "sdn", chain: "forward", Rule(id: "good-2", statements: [.counter])),
            ]
            let error = await #expect(throws: FirewallApplyError.self) {
                try await firewall.apply(changes, expectedGeneration: nil)
            }
            #expect(error?.code == .rejected)
            #expect(error?.failedChangeIndex == 2)
            #expect(error?.failedChange == bad)
            #expect(error?.errno != nil)
            #expect(error?.description.contains("rule web/r3 in chain inet sdn forward (from Policies/web.yaml:12:7)") == true, "\(String(describing: error))")
            // The kernel's extended ack points into the message; we name the expression it points at.
            #expect(error?.message.contains("in expression 1 (immediate)") == true, "\(String(describing: error))")
            #expect(KernelListing.difference(before, try KernelListing.json(in: namespace)) == nil, "the ruleset changed")
        }
    }

    @Test func anUnsupportedFormFailsBeforeAnythingIsSent() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let firewall = try NetlinkFirewall(namespace: namespace)
            let generation = try await firewall.generation()
            let changes: [FirewallChange] = [
                .addTable(.inet, "sdn"),
                .addChain(.inet, table: "sdn", Chain(name: "c")),
                .addRule(.inet, table: "sdn", chain: "c", Rule(id: "mark", statements: [.match(.meta(.mark), .equal, .value(.integer(1)))])),
            ]
            let error = await #expect(throws: FirewallApplyError.self) { try await firewall.apply(changes, expectedGeneration: nil) }
            #expect(error?.failedChangeIndex == 2)
            #expect(error?.message.contains("meta mark") == true, "\(String(describing: error))")
            #expect(try await firewall.generation() == generation)
        }
    }

    @Test func aStaleGenerationIsRefused() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let firewall = try NetlinkFirewall(namespace: namespace)
            _ = try await Self.coldLoad(Ruleset(tables: [NetlinkFixtures.inetSets]), into: firewall)
            let observed = try await firewall.observe(tables: [(.inet, "sdn")])

            try Shell.output(["nft", "add", "table", "inet", "other"], in: namespace)
            let before = try KernelListing.json(in: namespace)

            let changes: [FirewallChange] = [
                .addRule(.inet, table: "sdn", chain: "forward", Rule(id: "late", statements: [.counter])),
                .deleteChain(.inet, table: "sdn", chain: "guest-100"),
            ]
            let error = await #expect(throws: FirewallApplyError.self) {
                try await firewall.apply(changes, expectedGeneration: observed.generation)
            }
            #expect(error?.code == .generationChanged)
            #expect(KernelListing.difference(before, try KernelListing.json(in: namespace)) == nil, "something was applied")

            // With the fresh generation the same changes go through.
            let fresh = try await firewall.observe(tables: [(.inet, "sdn")])
            #expect(fresh.generation != observed.generation)
            let report = try await firewall.apply([changes[0]], expectedGeneration: fresh.generation)
            #expect(report.generation == (try await firewall.generation()))
        }
    }

    @Test func anEmptyChangeListStillChecksTheGeneration() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let firewall = try NetlinkFirewall(namespace: namespace)
            let generation = try await firewall.generation()
            #expect(try await firewall.apply([], expectedGeneration: generation) == FirewallApplyReport(messageCount: 0, generation: generation))
            try Shell.output(["nft", "add", "table", "ip", "x"], in: namespace)
            await #expect(throws: FirewallApplyError.self) { try await firewall.apply([], expectedGeneration: generation) }
        }
    }

    @Test func theSocketLivesInItsNamespaceOnly() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            try await withTemporaryNetworkNamespace { other in
                let firewall = try NetlinkFirewall(namespace: namespace)
                _ = try await firewall.apply([.addTable(.inet, "only-here")], expectedGeneration: nil)
                #expect(try Shell.output(["nft", "list", "tables"], in: namespace).contains("only-here"))
                #expect(!(try Shell.output(["nft", "list", "tables"], in: other).contains("only-here")))
                #expect(!(try Shell.output(["nft", "list", "tables"]).contains("only-here")))
            }
        }
    }
}
