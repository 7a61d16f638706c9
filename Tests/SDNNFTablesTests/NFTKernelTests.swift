import Foundation
import SDNModel
import SDNNetns
import SDNNFTables
import SDNTesting
import Testing

/// Loads `text` with `nft -f` (or `nft -j -f` for JSON) inside `namespace`.
func nftLoad(_ text: String, json: Bool = false, in namespace: NetworkNamespace) throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-nft-\(UUID().uuidString).\(json ? "json" : "nft")")
    try text.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    try Shell.output(["nft"] + (json ? ["-j"] : []) + ["-f", file.path], in: namespace)
}

/// `nft -j list ruleset` in `namespace`, read into the IR.
func nftListing(in namespace: NetworkNamespace) throws -> Ruleset {
    try NFTJSON.parse(try Shell.output(["nft", "-j", "list", "ruleset"], in: namespace))
}

/// Records an issue with a readable diff when the two rulesets differ after normalization.
func expectSameKernelMeaning(_ actual: Ruleset, _ expected: Ruleset, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    let actual = actual.normalizedForComparison()
    let expected = expected.normalizedForComparison()
    guard actual != expected else { return }
    let difference = LineDifference.describe(expected: NFTTextRenderer.render(expected), actual: NFTTextRenderer.render(actual)) ?? "(same text, different IR)\n\(actual)\n\(expected)"
    Issue.record("the kernel holds something else than the IR (normalized; - ours, + kernel):\n\(difference)", sourceLocation: sourceLocation)
}

@Suite("nft and the kernel agree with the IR")
struct NFTKernelTests {
    /// The renderer, the JSON reader and the IR against the real kernel: what `nft -f` loads from our
    /// text lists (`nft -j`) as the same IR.
    @Test(.systemTest(tools: ["nft"]))
    func renderedTextReadsBackAsTheIR() throws {
        let ruleset = BroadRuleset.ruleset
        try withTemporaryNetworkNamespace { namespace in
            try nftLoad(NFTTextRenderer.render(ruleset), in: namespace)
            expectSameKernelMeaning(try nftListing(in: namespace), ruleset)
        }
    }

    /// Our JSON is what `nft -j -f` loads, and it means the same as our text.
    @Test(.systemTest(tools: ["nft"]))
    func renderedJSONLoadsLikeRenderedText() throws {
        let ruleset = BroadRuleset.ruleset
        let fromJSON = try withTemporaryNetworkNamespace { namespace in
            try nftLoad(NFTJSON.render(ruleset), json: true, in: namespace)
            return try nftListing(in: namespace)
        }
        expectSameKernelMeaning(fromJSON, ruleset)
        let fromText = try withTemporaryNetworkNamespace { namespace in
            try nftLoad(NFTTextRenderer.render(ruleset), in: namespace)
            return try nftListing(in: namespace)
        }
        // Both listings come from nft itself, so they must agree exactly, not just after normalization.
        #expect(fromJSON == fromText)
    }

    /// Replacing a table through the renderer's `replacing:` form leaves only the new contents.
    @Test(.systemTest(tools: ["nft"]))
    func replacingRenderSwapsTables() throws {
        try withTemporaryNetworkNamespace { namespace in
            try nftLoad(NFTTextRenderer.render(BroadRuleset.ruleset), in: namespace)
            let smaller = Ruleset(tables: [Table(family: .inet, name: "sdn", chains: [
                Chain(name: "input", base: BaseChain(type: .filter, hook: .input, priority: 0), rules: [
                    Rule(id: "only", statements: [match(.meta("iifname"), .string("lo")), .verdict(.accept)]),
                ]),
            ])])
            try nftLoad(NFTTextRenderer.render(smaller, replacing: true), in: namespace)
            let listed = try nftListing(in: namespace)
            expectSameKernelMeaning(Ruleset(tables: listed.tables.filter { $0.family == .inet }), smaller)
            #expect(listed.table(.bridge, "sdn") != nil)
        }
    }
}

/// Renderer output that nft 1.0.6 refuses or reads as something else. Each case is a known issue of
/// `NFTTextRenderer` (not of this module); when the renderer is fixed, the test fails with "known
/// issue was not recorded" and the `withKnownIssue` should go.
@Suite("Renderer known issues against nft 1.0.6")
struct RendererKnownIssueTests {
    static func table(_ chain: Chain, family: TableFamily = .inet) -> Ruleset {
        Ruleset(tables: [Table(family: family, name: "sdn", chains: [chain])])
    }

    static func filter(_ statements: [Statement], id: String = "r") -> Ruleset {
        table(Chain(name: "c", base: BaseChain(type: .filter, hook: .input, priority: 0), rules: [Rule(id: id, statements: statements)]))
    }

    /// Loads the rendered text and compares the listing with the IR.
    static func loadAndCompare(_ ruleset: Ruleset) throws {
        try withTemporaryNetworkNamespace { namespace in
            try nftLoad(NFTTextRenderer.render(ruleset), in: namespace)
            expectSameKernelMeaning(try nftListing(in: namespace), ruleset)
        }
    }

    @Test(.systemTest(tools: ["nft"]))
    func logLevelWarning() throws {
        // Rendered `log level warning`; nft only knows `warn` ("Error: invalid log level").
        try withKnownIssue("NFTTextRenderer prints `log level warning`; nft wants `warn`") {
            try Self.loadAndCompare(Self.filter([.log(prefix: "x", level: .warning)]))
        }
    }

    @Test(.systemTest(tools: ["nft"]))
    func snatWithoutAddressFamilyInInet() throws {
        let ruleset = Self.table(Chain(name: "post", base: BaseChain(type: .nat, hook: .postrouting, priority: 100), rules: [
            Rule(id: "r", statements: [match(.meta("oifname"), .string("eth0")), .snat(to: address("192.0.2.1"))]),
        ]))
        // Rendered `snat to 192.0.2.1`; in an inet table nft needs `snat ip to …` unless an earlier
        // `ip …` match fixed the family ("ip or ip6 must be specified with address for inet tables").
        try withKnownIssue("NFTTextRenderer omits `ip`/`ip6` after snat/dnat in inet tables") {
            try Self.loadAndCompare(ruleset)
        }
    }

    @Test(.systemTest(tools: ["nft"]))
    func ipv6DnatWithPort() throws {
        let ruleset = Self.table(Chain(name: "pre", base: BaseChain(type: .nat, hook: .prerouting, priority: -100), rules: [
            Rule(id: "r", statements: [
                match(payload("ip6", "daddr"), address("2001:db8::1")), match(payload("tcp", "dport"), .integer(80)),
                .dnat(to: address("fd00::5"), port: 8080),
            ]),
        ]))
        // Rendered `dnat to fd00::5:8080`, which nft silently loads as the address fd00::5:8080 with no
        // port; it must be `dnat ip6 to [fd00::5]:8080`.
        try withKnownIssue("NFTTextRenderer writes an IPv6 NAT address with a port without brackets") {
            try Self.loadAndCompare(ruleset)
        }
    }

    @Test(.systemTest(tools: ["nft"]), arguments: [#"back\slash"#, #"double"quote"#])
    func ruleIDsWithBackslashOrQuote(_ id: String) throws {
        // nft strings have no escapes: `"a\\b"` is kept with both backslashes, and `"` cannot be
        // written at all (nft reports a syntax error). Rule ids must avoid both, or go through JSON or
        // netlink.
        try withKnownIssue("NFTTextRenderer escapes \\ and \" but nft strings have no escapes") {
            try Self.loadAndCompare(Self.filter([.verdict(.accept)], id: id))
        }
    }

    @Test(.systemTest(tools: ["nft"]), arguments: [Value.flags(["syn"]), Value.integer(18)])
    func explicitEqualityOnFlags(_ flags: Value) throws {
        // `.match(tcp flags, .equal, syn)` renders as `tcp flags syn`, which nft reads as the flag test
        // `tcp flags & syn != 0` (op "in"), not as equality: a SYN+ACK packet then matches too.
        try withKnownIssue("NFTTextRenderer drops `==` before flags, turning equality into a flag test") {
            try Self.loadAndCompare(Self.filter([match(payload("tcp", "flags"), flags), .verdict(.accept)]))
        }
    }
}
