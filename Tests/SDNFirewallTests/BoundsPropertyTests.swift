import Foundation
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNetns
import SDNNFTables
import SDNTesting
import Testing

/// Whatever `sdn validate` accepts compiles, and nft and the kernel accept what it compiles to: for
/// configurations generated from fixed seeds with names at their limits and every option at its bounds
/// (`BoundaryConfigGenerator`), in both kernel layouts, as nft text (`nft -c -f`) and as nft JSON
/// (`nft -j -c -f`). `nft -c` runs the whole transaction through the kernel and aborts it, so it checks
/// what the kernel refuses too (an overflowing limit, a comment too long), inside a fresh namespace.
///
/// The `full` layout needs bridge conntrack, bridge reject and bridge meta: on a kernel without them
/// (like the sandbox's) `fullLayoutLoads` is skipped with the reason, and `fullLayoutInetTableLoads`
/// checks what such a kernel can: the `inet` table of the full layout with nft, and the length bounds
/// of every name, comment and log prefix of both tables in the IR.
@Suite("Generated boundary configurations compile to rulesets nft accepts")
struct BoundsPropertyTests {
    static let seeds: [UInt64] = Array(1...24)
    static let riskySeeds: [UInt64] = Array(1001...1040)

    /// The configuration of `seed`, validated as `sdn validate` does (lockout check included).
    static func validated(_ seed: UInt64) throws -> (Validated<DesiredState>, BoundaryConfig) {
        var generator = BoundaryConfigGenerator(seed: seed)
        let config = generator.generate()
        let documents = [
            ConfigDocument(path: "Topologies/generated.yaml", text: config.topology, kind: .topology),
            ConfigDocument(path: "Policies/generated.yaml", text: config.policy, kind: .policy),
        ]
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
        guard let validated else {
            Issue.record("seed \(seed) does not validate:\n\(diagnostics.map(\.description).joined(separator: "\n"))\n--- topology\n\(config.topology)\n--- policy\n\(config.policy)")
            throw ValidationFailed()
        }
        #expect(diagnostics.isEmpty, "seed \(seed): \(diagnostics.map(\.description).joined(separator: "\n"))")
        let lockout = LockoutCheck.findings(in: validated)
        #expect(lockout.isEmpty, "seed \(seed): \(lockout.map(\.description).joined(separator: "\n"))")
        return (validated, config)
    }

    static func compile(_ seed: UInt64, _ features: KernelFeatures) throws -> Ruleset {
        let (validated, config) = try validated(seed)
        let compiled = FirewallCompiler.compile(validated, node: config.node, features: features)
        #expect(!compiled.diagnostics.hasErrors, "seed \(seed): \(compiled.diagnostics.filter { $0.severity == .error }.map(\.description))")
        expectWithinNftLimits(compiled.ruleset, seed: seed)
        return compiled.ruleset
    }

    /// nft's and the kernel's length limits, checked on the IR (so they hold for the tables this
    /// kernel cannot load, too): comments ≤ 128 bytes (NFTNL_UDATA_COMMENT_MAXLEN), log prefixes ≤ 127
    /// (NF_LOG_PREFIXLEN - 1), chain, set and table names ≤ 255 (NFT_NAME_MAXLEN - 1).
    static func expectWithinNftLimits(_ ruleset: Ruleset, seed: UInt64) {
        for table in ruleset.tables {
            let names = [table.name] + table.chains.map(\.name) + table.sets.map(\.name)
            for name in names where name.utf8.count > 255 { Issue.record("seed \(seed): name over 255 bytes: \(name)") }
            for chain in table.chains {
                for rule in chain.rules {
                    if rule.id.utf8.count > 128 { Issue.record("seed \(seed): comment of \(rule.id.utf8.count) bytes: \(rule.id)") }
                    for case .log(let prefix?, _) in rule.statements where prefix.utf8.count > 127 {
                        Issue.record("seed \(seed): log prefix of \(prefix.utf8.count) bytes: \(prefix)")
                    }
                }
            }
        }
    }

    /// `nft -c -f` of the text and `nft -j -c -f` of the JSON rendering, in a fresh namespace.
    static func expectNftAccepts(_ ruleset: Ruleset, what: String) throws {
        let text = try temporaryFile(NFTTextRenderer.render(ruleset, replacing: true), name: "bounds.nft")
        let json = try temporaryFile(NFTJSON.render(ruleset), name: "bounds.json")
        defer {
            try? FileManager.default.removeItem(atPath: (text as NSString).deletingLastPathComponent)
            try? FileManager.default.removeItem(atPath: (json as NSString).deletingLastPathComponent)
        }
        try withTemporaryNetworkNamespace { namespace in
            for (label, command) in [("text", ["nft", "-c", "-f", text]), ("JSON", ["nft", "-j", "-c", "-f", json])] {
                let result = try Shell.run(command, in: namespace)
                #expect(result.status == 0, "nft refused the \(label) rendering of \(what):\n\(result.stderr.prefix(4000))")
            }
        }
    }

    @Test func generatorIsDeterministicAndReachesTheLimits() throws {
        var first = BoundaryConfigGenerator(seed: 7), second = BoundaryConfigGenerator(seed: 7)
        let config = first.generate()
        #expect(config.policy == second.generate().policy)
        #expect(config.node.count == Identifier.maximumLength)
        for needle in ["  999999999:", "  99999999:\n    kind: lxc", "  100:", "net31:", "net0:", "burst 4294967295", "1/day burst 213503", "dport 65535"] {
            #expect(config.topology.contains(needle) || config.policy.contains(needle), "\(needle)")
        }
        for level in LogLevel.allCases { #expect(config.policy.contains("log \(level.rawValue)")) }
    }

    /// At the edge of each limit the property is an implication: whatever validates, nft accepts. Some
    /// of these configurations validate and some do not, or the test would prove nothing.
    @Test(.systemTest(tools: ["nft", "ip"]))
    func atTheLimitsWhatValidatesLoads() throws {
        var accepted: [UInt64] = [], refused: [UInt64] = []
        for seed in Self.riskySeeds {
            var generator = BoundaryConfigGenerator(seed: seed, risky: true)
            let config = generator.generate()
            let (validated, _) = ConfigLoader.loadAndValidate([
                ConfigDocument(path: "Topologies/generated.yaml", text: config.topology, kind: .topology),
                ConfigDocument(path: "Policies/generated.yaml", text: config.policy, kind: .policy),
            ])
            guard let validated, !LockoutCheck.findings(in: validated).hasErrors else {
                refused.append(seed)
                continue
            }
            accepted.append(seed)
            for features in [KernelFeatures.minimal, .full] {
                let compiled = FirewallCompiler.compile(validated, node: config.node, features: features)
                #expect(!compiled.diagnostics.hasErrors, "seed \(seed): \(compiled.diagnostics.filter { $0.severity == .error }.map(\.description))")
                Self.expectWithinNftLimits(compiled.ruleset, seed: seed)
                let checkable = features == .full && !FullKernelProbe.available ? Ruleset(tables: compiled.ruleset.tables.filter { $0.family == .inet }) : compiled.ruleset
                try Self.expectNftAccepts(checkable, what: "seed \(seed) (at the limits), \(features.guestMode) layout")
            }
        }
        #expect(accepted.count >= 5, "accepted: \(accepted)")
        #expect(refused.count >= 5, "refused: \(refused)")
    }

    /// The check itself can fail: `nft -c` in a namespace refuses what the kernel refuses (a limit
    /// whose token count overflows) and what nft refuses (a 129-character comment).
    @Test(.systemTest(tools: ["nft", "ip"]))
    func nftCheckRefusesWhatTheKernelRefuses() throws {
        let overflow = Rule(id: "x", statements: [.limit(rate: 1, per: "day", burst: 213_504), .log(prefix: "x", level: .info)])
        let longComment = Rule(id: String(repeating: "c", count: 129), statements: [.verdict(.accept)])
        for rule in [overflow, longComment] {
            let ruleset = Ruleset(tables: [Table(family: .inet, name: "sdnprobe", sets: [], chains: [Chain(name: "c", rules: [rule])])])
            let file = try temporaryFile(NFTTextRenderer.render(ruleset), name: "refused.nft")
            defer { try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent) }
            let result = try withTemporaryNetworkNamespace { namespace in try Shell.run(["nft", "-c", "-f", file], in: namespace) }
            #expect(result.status != 0, "nft -c accepted \(rule.id.prefix(20))…")
        }
    }

    @Test(.systemTest(tools: ["nft", "ip"]), arguments: seeds)
    func minimalLayoutLoads(_ seed: UInt64) throws {
        let ruleset = try Self.compile(seed, .minimal)
        try Self.expectNftAccepts(ruleset, what: "seed \(seed), minimal layout")
    }

    @Test(.systemTest(tools: ["nft", "ip"]), .enabled(if: FullKernelProbe.available, FullKernelProbe.skipReason), arguments: seeds)
    func fullLayoutLoads(_ seed: UInt64) throws {
        let ruleset = try Self.compile(seed, .full)
        try Self.expectNftAccepts(ruleset, what: "seed \(seed), full layout")
    }

    /// What a kernel without the bridge extras can check of the full layout: its `inet` table with nft
    /// (the `bridge` table needs nf_conntrack_bridge), and both tables' limits in the IR (`compile`).
    @Test(.systemTest(tools: ["nft", "ip"]), arguments: seeds)
    func fullLayoutInetTableLoads(_ seed: UInt64) throws {
        let ruleset = try Self.compile(seed, .full)
        try Self.expectNftAccepts(Ruleset(tables: ruleset.tables.filter { $0.family == .inet }), what: "seed \(seed), full layout, inet table")
    }
}
