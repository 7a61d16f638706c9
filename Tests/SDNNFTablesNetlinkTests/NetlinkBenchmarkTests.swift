import Foundation
import SDNDataplane
import SDNModel
import SDNNetns
import SDNNFTables
import SDNNFTablesNetlink
import SDNTesting
import Testing

/// Cold loads of big rulesets, ours against `nft -f`; run with `SDN_NETLINK_BENCH=1` (they take a while).
/// Timings are printed; the test checks only that both loads produce the same ruleset size.
@Suite("Netlink load timings", .systemTest(tools: ["nft", "ip"]), .enabled(if: ProcessInfo.processInfo.environment["SDN_NETLINK_BENCH"] != nil, "set SDN_NETLINK_BENCH=1 to run"))
struct NetlinkBenchmarkTests {
    /// `rules` rules spread over 100 chains jumped to from a base chain, each rule like a compiled one:
    /// an address, a port, a counter and a verdict, with its id as comment.
    static func ruleset(rules: Int) -> Ruleset {
        let chains = 100
        var table = Table(family: .inet, name: "bench")
        var dispatch: [Rule] = []
        for chain in 0..<chains {
            var rulesOfChain: [Rule] = []
            for index in 0..<(rules / chains) {
                let number = chain * (rules / chains) + index
                rulesOfChain.append(Rule(id: "guest-\(chain)/r\(index)", statements: [
                    .match(.payload(.ipSaddr), .equal, .value(.address(.v4(0x0A00_0000 | UInt32(number))))),
                    .match(.payload(.tcpDport), .equal, .value(.integer(1024 + number % 60000))),
                    .counter, .verdict(.accept),
                ]))
            }
            table.chains.append(Chain(name: "guest-\(chain)", rules: rulesOfChain))
            dispatch.append(Rule(id: "dispatch/\(chain)", statements: [.match(.meta(.iifname), .equal, .value(.string("tap\(chain)i0"))), .verdict(.jump("guest-\(chain)"))]))
        }
        table.chains.append(Chain(name: "forward", base: BaseChain(type: .filter, hook: .forward, priority: 0, policy: .drop), rules: dispatch))
        return Ruleset(tables: [table])
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    @Test(arguments: [10_000, 100_000])
    func coldLoad(rules: Int) async throws {
        let ruleset = Self.ruleset(rules: rules)
        let text = NFTTextRenderer.render(ruleset)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-bench-\(rules).nft").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }

        try await withTemporaryNetworkNamespace { ours in
            try await withTemporaryNetworkNamespace { reference in
                let clock = ContinuousClock()
                let firewall = try NetlinkFirewall(namespace: ours)
                let diffStart = clock.now
                let changes = RulesetDiff.changes(from: Ruleset(), to: ruleset)
                let diffTime = clock.now - diffStart
                let applyStart = clock.now
                let report = try await firewall.apply(changes, expectedGeneration: try await firewall.generation())
                let applyTime = clock.now - applyStart

                let observeStart = clock.now
                let observed = try await firewall.observe(tables: [(.inet, "bench")])
                let observeTime = clock.now - observeStart

                let nftStart = clock.now
                try Shell.output(["nft", "-f", path], in: reference, timeout: .seconds(300))
                let nftTime = clock.now - nftStart

                let chunkedTime = try await withTemporaryNetworkNamespace { chunkedNamespace in
                    let chunked = try NetlinkFirewall(namespace: chunkedNamespace)
                    let start = clock.now
                    _ = try await chunked.applyChunked(changes, expectedGeneration: nil)
                    return clock.now - start
                }

                let incrementalStart = clock.now
                var changed = ruleset
                changed.tables[0].chains[7].rules.removeLast()
                let delta = RulesetDiff.changes(from: ruleset, to: changed)
                let incremental = try await firewall.apply(delta, expectedGeneration: observed.generation)
                let incrementalTime = clock.now - incrementalStart

                print("""
                    netlink bench \(rules) rules: RulesetDiff \(Self.seconds(diffTime)), apply \(Self.seconds(applyTime)) \
                    (\(report.messageCount) messages), applyChunked \(Self.seconds(chunkedTime)), observe \(Self.seconds(observeTime)), nft -f \(Self.seconds(nftTime)), \
                    one-chain delta \(Self.seconds(incrementalTime)) (\(incremental.messageCount) messages)
                    """)
                #expect(observed.ruleset == ruleset)
                let ourCount = try Shell.output(["nft", "list", "ruleset"], in: ours, timeout: .seconds(300)).split(separator: "\n").count
                let referenceCount = try Shell.output(["nft", "list", "ruleset"], in: reference, timeout: .seconds(300)).split(separator: "\n").count
                #expect(ourCount == referenceCount - 1)
            }
        }
    }
}
