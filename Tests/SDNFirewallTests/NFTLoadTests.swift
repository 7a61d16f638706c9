import Foundation
import SDNNetns
import SDNTesting
import Testing

/// The goldens are real rulesets: `nft -f` loads each in a fresh network namespace, and loading it a
/// second time (the file deletes and re-adds our tables) succeeds and leaves the same ruleset.
///
/// `expected-minimal.nft` needs only nf_tables and the bridge family, which every kernel we support
/// has. `expected-full.nft` needs bridge conntrack (nf_conntrack_bridge) and bridge reject: on a kernel
/// without them the test is skipped with the reason, never passed.
@Suite("nft -f loads the goldens")
struct NFTLoadTests {
    @Test(.systemTest(tools: ["nft", "ip"]), arguments: goldenFiles(kernel: "minimal"))
    func minimalGoldenLoadsTwice(_ golden: GoldenFile) throws {
        try assertLoadsTwice(golden)
    }

    @Test(.systemTest(tools: ["nft", "ip"]), .enabled(if: BridgeConntrackProbe.available, BridgeConntrackProbe.skipReason),
          arguments: goldenFiles(kernel: "full"))
    func fullGoldenLoadsTwice(_ golden: GoldenFile) throws {
        try assertLoadsTwice(golden)
    }

    @Test func everyFixtureHasLoadableGoldens() {
        #expect(goldenFiles(kernel: "minimal").count >= compileFixtures.count)
        #expect(goldenFiles(kernel: "full").count == goldenFiles(kernel: "minimal").count)
    }

    private func assertLoadsTwice(_ golden: GoldenFile) throws {
        try withTemporaryNetworkNamespace { namespace in
            let first = try Shell.run(["nft", "-f", golden.path], in: namespace)
            try #require(first.status == 0, "first load of \(golden.testDescription) failed:\n\(first.stderr)")
            let afterFirst = try Shell.output(["nft", "list", "ruleset"], in: namespace)
            #expect(afterFirst.contains("table inet sdn {"))
            #expect(afterFirst.contains("table bridge sdn {"))

            let second = try Shell.run(["nft", "-f", golden.path], in: namespace)
            try #require(second.status == 0, "second load of \(golden.testDescription) failed:\n\(second.stderr)")
            let afterSecond = try Shell.output(["nft", "list", "ruleset"], in: namespace)
            if let difference = LineDifference.describe(expected: afterFirst, actual: afterSecond) {
                Issue.record("loading \(golden.testDescription) again changed the ruleset:\n\(difference)")
            }
        }
    }
}

/// Whether this kernel runs stateful bridge rules, found by loading one (`ct state established
/// accept` in a bridge filter chain) into a scratch namespace. Probed once, at test discovery, because
/// the skip reason must be known then.
enum BridgeConntrackProbe {
    static let outcome: (available: Bool, reason: String?) = probe()
    static var available: Bool { outcome.available }
    static var skipReason: Comment? { outcome.reason.map { Comment(rawValue: $0) } }

    static let probeRuleset = """
        table bridge sdnprobe {
        \tchain forward {
        \t\ttype filter hook forward priority 0; policy accept;
        \t\tct state established accept
        \t}
        }

        """

    private static func probe() -> (Bool, String?) {
        guard geteuid() == 0 else { return (false, "probing bridge conntrack needs root (running as uid \(geteuid()))") }
        for tool in ["nft", "ip"] where ExecutableLookup.find(tool) == nil {
            return (false, "cannot probe bridge conntrack: `\(tool)` not found in PATH")
        }
        do {
            let file = try temporaryFile(probeRuleset, name: "probe.nft")
            return try withTemporaryNetworkNamespace { namespace in
                let result = try Shell.run(["nft", "-f", file], in: namespace)
                if result.status == 0 { return (true, nil) }
                let firstLine = result.stderr.split(separator: "\n").first.map(String.init) ?? "exit status \(result.status)"
                return (false, "this kernel has no bridge conntrack (nf_conntrack_bridge): nft refused `ct state established accept` in a bridge chain (\(firstLine))")
            }
        } catch {
            return (false, "could not probe bridge conntrack: \(error)")
        }
    }
}
