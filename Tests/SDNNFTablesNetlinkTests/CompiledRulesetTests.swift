import Foundation
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNetns
import SDNNFTables
import SDNNFTablesNetlink
import SDNTesting
import Testing

/// What the compiler really produces, through netlink: every compile fixture and example, for every
/// node, with the kernel profile this sandbox runs (`minimal`: no bridge conntrack).
@Suite("Compiled rulesets through netlink", .systemTest(tools: ["nft", "ip"]))
struct CompiledRulesetTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var directory: String
        var node: String
        var testDescription: String { "\(URL(fileURLWithPath: directory).lastPathComponent)/\(node)" }
    }

    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }()

    static func documents(under directory: String) -> [ConfigDocument] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var paths: [String] = []
        while let relative = enumerator.nextObject() as? String {
            if relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") { paths.append(relative) }
        }
        return paths.sorted().compactMap { relative in
            guard let text = try? String(contentsOfFile: directory + "/" + relative, encoding: .utf8) else { return nil }
            return ConfigDocument(path: relative, text: text, kind: ConfigDocument.kind(impliedBy: relative))
        }
    }

    static let cases: [Case] = {
        let fixtures = repositoryRoot + "/Tests/SDNFirewallTests/Fixtures/compile"
        let examples = repositoryRoot + "/examples"
        var directories: [String] = []
        for parent in [fixtures, examples] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
            directories += names.sorted().filter { !$0.hasPrefix(".") }.map { parent + "/" + $0 }
        }
        return directories.flatMap { directory -> [Case] in
            guard let validated = ConfigLoader.loadAndValidate(documents(under: directory)).validated else { return [] }
            return validated.value.nodes.map { Case(directory: directory, node: $0.name) }
        }
    }()

    static func compile(_ testCase: Case) throws -> Ruleset {
        let validated = try #require(ConfigLoader.loadAndValidate(documents(under: testCase.directory)).validated)
        return FirewallCompiler.compile(validated, node: testCase.node, features: .minimal).ruleset
    }

    @Test func thereAreCases() {
        #expect(Self.cases.count >= 20)
    }

    @Test(arguments: cases)
    func sameAsNftAndObservedBack(_ testCase: Case) async throws {
        let ruleset = try Self.compile(testCase)
        try await withTemporaryNetworkNamespace { ours in
            try await withTemporaryNetworkNamespace { reference in
                let firewall = try NetlinkFirewall(namespace: ours)
                _ = try await firewall.apply(RulesetDiff.changes(from: Ruleset(), to: ruleset), expectedGeneration: nil)
                try KernelListing.load(NFTTextRenderer.render(ruleset), in: reference)
                let expected = try KernelListing.expressions(in: reference)
                let actual = try KernelListing.expressions(in: ours)
                #expect(KernelListing.difference(expected, actual) == nil, "\(KernelListing.difference(expected, actual) ?? "")")

                let observed = try await firewall.observe(tables: ruleset.tables.map { ($0.family, $0.name) })
                #expect(observed.ruleset == ruleset.canonical())
                // Observed and compiled mean the same once both are in SDNNFTables' comparison form (set
                // order, names vs numbers); anything else is a real difference.
                let observedNormal = observed.ruleset.normalizedForComparison()
                let compiledNormal = ruleset.normalizedForComparison()
                for (table, compiled) in zip(observedNormal.tables, compiledNormal.tables) {
                    for (chain, compiledChain) in zip(table.chains, compiled.chains) {
                        for (rule, compiledRule) in zip(chain.rules, compiledChain.rules) where rule != compiledRule {
                            Issue.record("observed \(NFTTextRenderer.render(rule))\ncompiled \(NFTTextRenderer.render(compiledRule))")
                        }
                    }
                    #expect(table.sets == compiled.sets, "sets of \(table.name)")
                }
                #expect(observedNormal == compiledNormal)
            }
        }
    }
}
