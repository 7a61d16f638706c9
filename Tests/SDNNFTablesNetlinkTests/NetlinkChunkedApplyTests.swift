import SDNDataplane
import SDNModel
import SDNNetns
import SDNNFTables
import SDNNFTablesNetlink
import SDNTesting
import Testing

@Suite("Chunked first loads", .systemTest(tools: ["nft", "ip"]))
struct NetlinkChunkedApplyTests {
    @Test func aChunkedLoadEqualsAOneBatchLoad() async throws {
        let ruleset = NetlinkBenchmarkTests.ruleset(rules: 5_000)
        let changes = RulesetDiff.changes(from: Ruleset(), to: ruleset)
        try await withTemporaryNetworkNamespace { chunked in
            try await withTemporaryNetworkNamespace { single in
                let firewall = try NetlinkFirewall(namespace: chunked)
                let before = try await firewall.generation()
                let report = try await firewall.applyChunked(changes, expectedGeneration: before, maximumMessagesPerBatch: 1_000)
                // 5,000 rules in 100 chains in batches of 1,000 messages, then the base chain: several commits.
                #expect(report.generation > before &+ 5)
                #expect(report.generation == (try await firewall.generation()))

                let reference = try NetlinkFirewall(namespace: single)
                let one = try await reference.apply(changes, expectedGeneration: nil)
                #expect(report.messageCount == one.messageCount)
                #expect(KernelListing.difference(try KernelListing.json(in: single), try KernelListing.json(in: chunked)) == nil)
                #expect(try await firewall.observe(tables: [(.inet, "bench")]).ruleset == ruleset)
            }
        }
    }

    @Test func aFailingLastBatchLeavesNothingHooked() async throws {
        var ruleset = NetlinkBenchmarkTests.ruleset(rules: 2_000)
        let forward = ruleset.tables[0].chains.count - 1
        ruleset.tables[0].chains[forward].rules.append(Rule(id: "bad", statements: [.verdict(.jump("no-such-chain"))]))
        let changes = RulesetDiff.changes(from: Ruleset(), to: ruleset)
        try await withTemporaryNetworkNamespace { namespace in
            let firewall = try NetlinkFirewall(namespace: namespace)
            let error = await #expect(throws: FirewallApplyError.self) {
                try await firewall.applyChunked(changes, expectedGeneration: nil, maximumMessagesPerBatch: 500)
            }
            #expect(error?.code == .rejected)
            #expect(error.flatMap { $0.failedChangeIndex.map { changes[$0] } } == error?.failedChange)
            // The regular chains and their rules went in; no base chain, so no packet ever reaches them.
            let listing = try Shell.output(["nft", "list", "chains"], in: namespace)
            #expect(listing.contains("chain guest-0"))
            #expect(!listing.contains("hook"))
        }
    }

    @Test func aConcurrentChangeStopsTheSequence() async throws {
        let ruleset = NetlinkBenchmarkTests.ruleset(rules: 1_000)
        try await withTemporaryNetworkNamespace { namespace in
            let firewall = try NetlinkFirewall(namespace: namespace)
            let stale = try await firewall.generation()
            try Shell.output(["nft", "add", "table", "ip", "someone-else"], in: namespace)
            let error = await #expect(throws: FirewallApplyError.self) {
                try await firewall.applyChunked(RulesetDiff.changes(from: Ruleset(), to: ruleset), expectedGeneration: stale, maximumMessagesPerBatch: 200)
            }
            #expect(error?.code == .generationChanged)
            #expect(!(try Shell.output(["nft", "list", "tables"], in: namespace)).contains("bench"))
        }
    }
}
