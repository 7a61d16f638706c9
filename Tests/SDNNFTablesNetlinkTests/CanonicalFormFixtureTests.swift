import Foundation
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
@testable import SDNNFTablesNetlink
import Testing

/// SDNNFTables' pure canonical form is exactly what the kernel gives back: for every compile fixture,
/// every node and both kernel layouts, `decode(encode(x)) == x.canonical()`, without a kernel.
@Suite("Canonical form of every compile fixture")
struct CanonicalFormFixtureTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var directory: String
        var node: String
        var profile: String
        var testDescription: String { "\(URL(fileURLWithPath: directory).lastPathComponent)/\(node)/\(profile)" }
    }

    static let cases: [Case] = {
        let fixtures = CompiledRulesetTests.repositoryRoot + "/Tests/SDNFirewallTests/Fixtures/compile"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtures)) ?? []
        return names.sorted().filter { !$0.hasPrefix(".") }.flatMap { name -> [Case] in
            let directory = fixtures + "/" + name
            guard let validated = ConfigLoader.loadAndValidate(CompiledRulesetTests.documents(under: directory)).validated else { return [] }
            return validated.value.nodes.flatMap { node in ["full", "minimal"].map { Case(directory: directory, node: node.name, profile: $0) } }
        }
    }()

    @Test func everyFixtureIsACase() {
        #expect(Self.cases.count >= 40)
    }

    @Test(arguments: cases)
    func decodeOfEncodeIsTheCanonicalForm(_ testCase: Case) throws {
        let validated = try #require(ConfigLoader.loadAndValidate(CompiledRulesetTests.documents(under: testCase.directory)).validated)
        let compiled = FirewallCompiler.compile(validated, node: testCase.node, features: testCase.profile == "full" ? .full : .minimal).ruleset
        try Self.expectCanonical(compiled)
    }

    /// The encoder's own fixtures, written every way it accepts.
    @Test(arguments: NetlinkFixtures.all)
    func netlinkFixturesToo(_ fixture: NetlinkFixtures.Fixture) throws {
        try Self.expectCanonical(fixture.ruleset)
    }

    @Test(arguments: NetlinkFixtures.rewrites)
    func rewritesToo(_ rewrite: NetlinkFixtures.Rewrite) throws {
        let written = Ruleset(tables: [Table(family: rewrite.family, name: "t", chains: [Chain(name: "c", rules: [Rule(id: "r", statements: rewrite.written)])])])
        #expect(written.canonical().tables[0].chains[0].rules[0].statements == rewrite.canonical)
        try Self.expectCanonical(written)
    }

    static func expectCanonical(_ compiled: Ruleset, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let canonical = compiled.canonical()
        let roundTrip = try NetlinkFirewall.canonicalForm(of: compiled)
        #expect(canonical.canonical() == canonical, "the canonical form is a fixed point", sourceLocation: sourceLocation)
        for (table, expected) in zip(canonical.tables, roundTrip.tables) {
            for (set, expectedSet) in zip(table.sets, expected.sets) where set != expectedSet {
                Issue.record("set \(table.name) \(set.name):\ncanonical \(set)\nkernel    \(expectedSet)", sourceLocation: sourceLocation)
            }
            for (chain, expectedChain) in zip(table.chains, expected.chains) {
                for (rule, expectedRule) in zip(chain.rules, expectedChain.rules) where rule != expectedRule {
                    Issue.record("canonical \(NFTTextRenderer.render(rule))\nkernel    \(NFTTextRenderer.render(expectedRule))\n\(rule.statements)\n\(expectedRule.statements)", sourceLocation: sourceLocation)
                }
            }
        }
        #expect(canonical == roundTrip, sourceLocation: sourceLocation)
        #expect(canonical.canonical() == canonical, "the canonical form is a fixed point", sourceLocation: sourceLocation)
    }
}
