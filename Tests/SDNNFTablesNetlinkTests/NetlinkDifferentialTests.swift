import SDNDataplane
import SDNModel
import SDNNetns
import SDNNFTables
import SDNNFTablesNetlink
import SDNTesting
import Testing

/// Our netlink load against `nft -f` of the rendered text, each in its own fresh namespace.
@Suite("Netlink encoder vs nft -f", .systemTest(tools: ["nft", "ip"]))
struct NetlinkDifferentialTests {
    @Test(arguments: NetlinkFixtures.all)
    func sameRulesetAsNft(_ fixture: NetlinkFixtures.Fixture) async throws {
        try await withTemporaryNetworkNamespace { ours in
            try await withTemporaryNetworkNamespace { reference in
                let firewall = try NetlinkFirewall(namespace: ours)
                let report = try await firewall.apply(RulesetDiff.changes(from: Ruleset(), to: fixture.ruleset), expectedGeneration: nil)
                #expect(report.messageCount > 0)
                #expect(report.generation == (try await firewall.generation()))

                try KernelListing.load(NFTTextRenderer.render(fixture.ruleset), in: reference)

                let expectedJSON = try KernelListing.json(in: reference)
                let actualJSON = try KernelListing.json(in: ours)
                #expect(KernelListing.difference(expectedJSON, actualJSON) == nil, "nft -j list ruleset differs:\n\(KernelListing.difference(expectedJSON, actualJSON) ?? "")")

                // Stricter: the very expressions and set elements the kernel holds.
                let expected = try KernelListing.expressions(in: reference)
                let actual = try KernelListing.expressions(in: ours)
                #expect(KernelListing.difference(expected, actual) == nil, "nft --debug=netlink list ruleset differs:\n\(KernelListing.difference(expected, actual) ?? "")")
            }
        }
    }

    @Test(arguments: NetlinkFixtures.all)
    func nftLoadsTheRenderedText(_ fixture: NetlinkFixtures.Fixture) throws {
        try withTemporaryNetworkNamespace { namespace in
            try KernelListing.load(NFTTextRenderer.render(fixture.ruleset), in: namespace)
        }
    }
}
