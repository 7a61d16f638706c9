import SDNModel
import SDNNFTables
@testable import SDNNFTablesNetlink
import Testing

/// Encoder and decoder together, without a kernel: what `observe` will return for what we apply.
@Suite("Canonical form (encode then decode, no kernel)")
struct CanonicalFormTests {
    @Test(arguments: NetlinkFixtures.all)
    func fixturesAreCanonical(_ fixture: NetlinkFixtures.Fixture) throws {
        let canonical = try NetlinkFirewall.canonicalForm(of: fixture.ruleset)
        for (table, expected) in zip(canonical.tables, fixture.ruleset.tables) {
            #expect(table.sets == expected.sets, "sets of \(table.family.rawValue) \(table.name)")
            for (chain, expectedChain) in zip(table.chains, expected.chains) {
                for (rule, expectedRule) in zip(chain.rules, expectedChain.rules) {
                    #expect(rule == expectedRule, "\(NFTTextRenderer.render(rule)) != \(NFTTextRenderer.render(expectedRule))")
                }
                #expect(chain == expectedChain)
            }
        }
        #expect(canonical == fixture.ruleset)
    }

    @Test(arguments: NetlinkFixtures.rewrites)
    func rewritesToCanonical(_ rewrite: NetlinkFixtures.Rewrite) throws {
        let written = Ruleset(tables: [Table(family: rewrite.family, name: "t", chains: [Chain(name: "c", rules: [Rule(id: "r", statements: rewrite.written)])])])
        let canonical = try NetlinkFirewall.canonicalForm(of: written)
        #expect(canonical.tables[0].chains[0].rules[0].statements == rewrite.canonical)
    }

    @Test(arguments: [
        ("meta mark", Statement.match(.meta(.mark), .equal, .value(.integer(1)))),
        ("ip6 field in an ip table", Statement.match(.payload(.ip6Saddr), .equal, .value(.address(try! IPAddress("::1"))))),
        ("icmpx in an ip table", Statement.reject(.icmpx("admin-prohibited"))),
        ("dnat port without transport", Statement.dnat(to: .address(try! IPAddress("10.0.0.1")), port: 80)),
        ("prefix on a port", Statement.match(.payload(.tcpDport), .equal, .value(.prefix(try! IPPrefix("10.0.0.0/8"))))),
        ("unknown limit unit", Statement.limit(rate: 1, per: "fortnight", burst: 1)),
        ("interface name too long", Statement.match(.meta(.iifname), .equal, .value(.string("abcdefghijklmnop")))),
    ])
    func unsupportedFormsAreRefusedByName(_ name: String, _ statement: Statement) throws {
        let ruleset = Ruleset(tables: [Table(family: .ip, name: "t", chains: [Chain(name: "c", rules: [Rule(id: "r", statements: [statement])])])])
        #expect(throws: NFTNetlinkError.self, "\(name)") { try NetlinkFirewall.canonicalForm(of: ruleset) }
    }

    @Test func registersOfConcatenations() {
        #expect(Register.forSlot(0) == 1)
        #expect(Register.forSlot(4) == 2)
        #expect(Register.forSlot(6) == 14)
        #expect((0..<16).allSatisfy { Register.slot(of: Register.forSlot($0)) == $0 })
    }

    @Test func prefixLengths() {
        #expect(KernelInterval(low: [10, 0, 0, 0], high: [10, 0, 0, 255]).prefixLength == 24)
        #expect(KernelInterval(low: [10, 0, 0, 0], high: [10, 15, 255, 255]).prefixLength == 12)
        #expect(KernelInterval(low: [10, 0, 0, 1], high: [10, 0, 0, 2]).prefixLength == nil)
        #expect(KernelInterval(low: [0, 0, 0, 0], high: [255, 255, 255, 255]).prefixLength == 0)
    }
}
