import Foundation
import SDNNetns
import SDNTesting
import Testing

/// The goldens are real rulesets: `nft -f` loads each in a fresh network namespace, and loading it a
/// second time (the file deletes and re-adds our tables) succeeds and leaves the same ruleset.
///
/// `expected-minimal.nft` needs only nf_tables and the bridge family, which every kernel we support
/// has. `expected-full.nft` needs bridge conntrack, bridge reject and bridge meta: on a kernel
/// without them the test is skipped with the reason, never passed.
@Suite("nft -f loads the goldens")
struct NFTLoadTests {
    @Test(.systemTest(tools: ["nft", "ip"]), arguments: goldenFiles(kernel: "minimal"))
    func minimalGoldenLoadsTwice(_ golden: GoldenFile) throws {
        try assertLoadsTwice(golden)
    }

    @Test(.systemTest(tools: ["nft", "ip"]), .enabled(if: FullKernelProbe.available, FullKernelProbe.skipReason),
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

/// Whether this kernel runs what `KernelFeatures.full` compiles for: stateful bridge rules (`ct state`
/// in a bridge chain, nf_conntrack_bridge), bridge reject (nft_reject_bridge) and `meta ibrname`
/// (nft_meta_bridge). Each is probed by loading one rule into a scratch namespace, once, at test
/// discovery, because the skip reason must be known then.
enum FullKernelProbe {
    static let outcome: (available: Bool, reason: String?) = probe()
    static var available: Bool { outcome.available }
    static var skipReason: Comment? { outcome.reason.map { Comment(rawValue: $0) } }

    static let features: [(name: String, rule: String)] = [
        ("bridge conntrack (nf_conntrack_bridge)", "ct state established accept"),
        ("bridge reject (nft_reject_bridge)", "meta l4proto tcp reject with tcp reset"),
        ("bridge meta (nft_meta_bridge)", "meta ibrname \"br0\" accept"),
    ]

    static func probeRuleset(_ rule: String) -> String {
        "table bridge sdnprobe {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\t\(rule)\n\t}\n}\n"
    }

    private static func probe() -> (Bool, String?) {
        guard geteuid() == 0 else { return (false, "probing the bridge features of the full kernel profile needs root (running as uid \(geteuid()))") }
        for tool in ["nft", "ip"] where ExecutableLookup.find(tool) == nil {
            return (false, "cannot probe the bridge features of the full kernel profile: `\(tool)` not found in PATH")
        }
        do {
            var missing: [String] = []
            for feature in features {
                let file = try temporaryFile(probeRuleset(feature.rule), name: "probe.nft")
                let result = try withTemporaryNetworkNamespace { namespace in try Shell.run(["nft", "-f", file], in: namespace) }
                if result.status != 0 {
                    let error = result.stderr.split(separator: "\n").first.map { String($0.split(separator: " Error: ").last ?? $0) } ?? "exit status \(result.status)"
                    missing.append("\(feature.name): nft refused `\(feature.rule)` in a bridge chain (\(error))")
                }
            }
            return missing.isEmpty ? (true, nil) : (false, "this kernel lacks what the full profile needs: " + missing.joined(separator: "; "))
        } catch {
            return (false, "could not probe the bridge features of the full kernel profile: \(error)")
        }
    }
}
