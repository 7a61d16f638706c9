import Foundation
import SDNDataplane
import SDNNetns
import SDNNFTables
import SDNNFTablesNetlink
import SDNTesting
import Testing

/// The monitor in a namespace of its own, driven with `nft` and with our own commits.
@Suite("RulesetChangeMonitor", .systemTest(tools: ["nft", "ip"]))
struct RulesetChangeMonitorTests {
    static func nft(_ arguments: String..., in namespace: NetworkNamespace) throws -> String {
        try Shell.output(["nft"] + arguments, in: namespace)
    }

    @Test func nftEditsAreReportedWithTheirTableAndTheGenerationTheyMade() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let monitor = try RulesetChangeMonitor(namespace: namespace)
            let events = monitor.events()
            _ = try Self.nft("add", "table", "inet", "x", in: namespace)
            _ = try Self.nft("add", "chain", "inet", "x", "c", in: namespace)
            _ = try Self.nft("add", "rule", "inet", "x", "c", "accept", in: namespace)
            let listing = try Self.nft("-a", "list", "chain", "inet", "x", "c", in: namespace)
            let handle = try #require(listing.split(separator: "\n").first { $0.contains("accept") }?.split(separator: " ").last, "\(listing)")
            _ = try Self.nft("delete", "rule", "inet", "x", "c", "handle", String(handle), in: namespace)
            let firewall = try NetlinkFirewall(namespace: namespace)
            let generation = try await firewall.generation()

            var commits = 0
            let seen = await events.collect(until: { change in
                if change.kind == .newGeneration { commits += 1 }
                return commits == 4
            }, by: monitor.stop)
            #expect(seen.contains(RulesetChange(kind: .newTable, family: .inet, table: "x")), "events: \(seen)")
            #expect(seen.contains(RulesetChange(kind: .newChain, family: .inet, table: "x", object: "c")), "events: \(seen)")
            #expect(seen.contains(RulesetChange(kind: .newRule, family: .inet, table: "x", object: "c")), "events: \(seen)")
            #expect(seen.contains(RulesetChange(kind: .deleteRule, family: .inet, table: "x", object: "c")), "events: \(seen)")
            // One generation per `nft` command, each after its command's changes, the last one the kernel's.
            let generations = seen.filter { $0.kind == .newGeneration }
            #expect(generations.count == 4, "events: \(seen)")
            #expect(generations.last?.generation == generation, "events: \(seen); the kernel is at \(generation)")
            let tableAt = try #require(seen.firstIndex { $0.kind == .newTable })
            let firstGeneration = try #require(seen.firstIndex { $0.kind == .newGeneration })
            #expect(tableAt < firstGeneration)
        }
    }

    @Test func ourOwnCommitIsRecognisedByItsGeneration() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let monitor = try RulesetChangeMonitor(namespace: namespace)
            let events = monitor.events()
            let firewall = try NetlinkFirewall(namespace: namespace)
            let table = Table(family: .bridge, name: "sdn", sets: [NamedSet(name: "s", keyType: [.ipv4Address])],
                              chains: [Chain(name: "c", rules: [Rule(id: "r", statements: [.verdict(.accept)])])])
            let report = try await firewall.apply(RulesetDiff.changes(from: Ruleset(), to: Ruleset(tables: [table])), expectedGeneration: nil)
            let seen = await events.collect(until: { $0.kind == .newGeneration }, by: monitor.stop)
            #expect(seen.last?.generation == report.generation, "events: \(seen); apply reported \(report.generation)")
            #expect(seen.contains(RulesetChange(kind: .newTable, family: .bridge, table: "sdn")), "events: \(seen)")
            #expect(seen.contains(RulesetChange(kind: .newSet, family: .bridge, table: "sdn", object: "s")), "events: \(seen)")
        }
    }

    @Test func changesInAnotherNamespaceAreNotReported() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            try await withTemporaryNetworkNamespace { other in
                let monitor = try RulesetChangeMonitor(namespace: namespace)
                let events = monitor.events()
                _ = try Self.nft("add", "table", "inet", "stranger", in: other)
                _ = try Self.nft("delete", "table", "inet", "stranger", in: other)
                // Notifications arrive in order: once the marker, made after the stranger's changes, is
                // seen, none of those can still be on the way.
                _ = try Self.nft("add", "table", "inet", "marker", in: namespace)
                let seen = await events.collect(until: { $0.table == "marker" }, by: monitor.stop)
                #expect(seen.contains { $0.table == "marker" }, "events: \(seen)")
                #expect(!seen.contains { $0.table == "stranger" }, "events: \(seen)")
            }
        }
    }

    @Test func stoppingEndsTheStream() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let monitor = try RulesetChangeMonitor(namespace: namespace)
            let events = monitor.events()
            monitor.stop()
            // An ended stream makes `collect` return at once, with nothing, whatever it waits for.
            let seen = await events.collect(until: { _ in false }, giveUpAfter: .seconds(60), by: {})
            #expect(seen.isEmpty)
            // A stream asked for after stopping is ended too.
            let later = await monitor.events().collect(until: { _ in false }, giveUpAfter: .seconds(60), by: {})
            #expect(later.isEmpty)
        }
    }
}

/// The probe that moved here from the CLI, against the reference tool: each feature it reports is one
/// whose rule `nft` loads in the same namespace, and it leaves nothing behind.
@Suite("NetlinkFirewall kernel probe", .systemTest(tools: ["nft", "ip"]))
struct KernelProbeTests {
    static func nftLoads(_ rule: String, in namespace: NetworkNamespace) throws -> Bool {
        let ruleset = "table bridge sdnreference {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\t\(rule)\n\t}\n}\n"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-probe-reference-\(getpid()).nft")
        try ruleset.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try Shell.run(["nft", "-c", "-f", file.path], in: namespace).status == 0
    }

    @Test func probedFeaturesAreThoseNftCanLoad() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let features = try await NetlinkFirewall(namespace: namespace).probeFeatures()
            #expect(features.bridgeConntrack == (try Self.nftLoads("ct state established accept", in: namespace)))
            #expect(features.bridgeReject == (try Self.nftLoads("meta l4proto tcp reject with tcp reset", in: namespace)))
            #expect(features.bridgeMeta == (try Self.nftLoads("meta ibrname \"br0\" accept", in: namespace)))
            let tables = try Shell.output(["nft", "list", "tables"], in: namespace)
            #expect(!tables.contains(NetlinkFirewall.probeTableName), "\(tables)")
        }
    }
}
