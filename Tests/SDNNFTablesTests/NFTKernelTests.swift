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
                    Rule(id: "only", statements: [match(.meta(.iifname), .string("lo")), .verdict(.accept)]),
                ]),
            ])])
            try nftLoad(NFTTextRenderer.render(smaller, replacing: true), in: namespace)
            let listed = try nftListing(in: namespace)
            expectSameKernelMeaning(Ruleset(tables: listed.tables.filter { $0.family == .inet }), smaller)
            #expect(listed.table(.bridge, "sdn") != nil)
        }
    }
}

/// Renderer regressions found against nft 1.0.6: each case once printed text that nft refused or read
/// as something else (noted per test), and is checked against the kernel now.
@Suite("Renderer against nft 1.0.6")
struct RendererRegressionTests {
    static func table(_ chain: Chain, family: TableFamily = .inet) -> Ruleset {
        Ruleset(tables: [Table(family: family, name: "sdn", chains: [chain])])
    }

    static func filter(_ statements: [Statement], id: String = "r") -> Ruleset {
        table(Chain(name: "c", base: BaseChain(type: .filter, hook: .input, priority: 0), rules: [Rule(id: id, statements: statements)]))
    }

    /// Loads the rendered text (or JSON) and compares the listing with the IR.
    static func loadAndCompare(_ ruleset: Ruleset, json: Bool = false, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        try withTemporaryNetworkNamespace { namespace in
            try nftLoad(json ? NFTJSON.render(ruleset) : NFTTextRenderer.render(ruleset), json: json, in: namespace)
            expectSameKernelMeaning(try nftListing(in: namespace), ruleset, sourceLocation: sourceLocation)
        }
    }

    @Test(.systemTest(tools: ["nft"]))
    func logLevelWarning() throws {
        // Was `log level warning`: nft only knows `warn` ("Error: invalid log level").
        try Self.loadAndCompare(Self.filter([.log(prefix: "x", level: .warning)]))
    }

    @Test(.systemTest(tools: ["nft"]))
    func natInInetWithoutAddressContext() throws {
        let ruleset = Self.table(Chain(name: "post", base: BaseChain(type: .nat, hook: .postrouting, priority: 100), rules: [
            Rule(id: "r", statements: [match(.meta(.oifname), .string("eth0")), .snat(to: address("192.0.2.1"))]),
        ]))
        // Was `snat to 192.0.2.1`: in an inet table nft needs `snat ip to …` unless an earlier `ip …`
        // match fixed the family ("ip or ip6 must be specified with address for inet tables").
        try Self.loadAndCompare(ruleset)
        try Self.loadAndCompare(ruleset, json: true)
    }

    @Test(.systemTest(tools: ["nft"]))
    func ipv6DnatWithPort() throws {
        let ruleset = Self.table(Chain(name: "pre", base: BaseChain(type: .nat, hook: .prerouting, priority: -100), rules: [
            Rule(id: "r", statements: [
                match(.payload(.ip6Daddr), address("2001:db8::1")), match(.payload(.tcpDport), .integer(80)),
                .dnat(to: address("fd00::5"), port: 8080),
            ]),
        ]))
        // Was `dnat to fd00::5:8080`, which nft silently loads as the address fd00::5:8080 with no
        // port; it must be `dnat ip6 to [fd00::5]:8080`.
        try Self.loadAndCompare(ruleset)
        try Self.loadAndCompare(ruleset, json: true)
    }

    @Test(.systemTest(tools: ["nft"]), arguments: [Value.flags(["syn"]), Value.flags(["syn", "ack"]), Value.integer(18)])
    func explicitEqualityOnFlags(_ flags: Value) throws {
        // Was `tcp flags syn`, which nft reads as the flag test `tcp flags & syn != 0` (op "in"), not as
        // equality: a SYN+ACK packet matched too.
        try Self.loadAndCompare(Self.filter([match(.payload(.tcpFlags), flags), .verdict(.accept)]))
        try Self.loadAndCompare(Self.filter([match(.ct(.state), .flags(["new"])), .verdict(.accept)]))
    }

    @Test(.systemTest(tools: ["nft"]))
    func ruleIDWithBackslash() throws {
        // Was written `"back\\slash"`: nft strings have no escapes and kept both backslashes.
        try Self.loadAndCompare(Self.filter([.verdict(.accept)], id: #"back\slash"#))
    }

    @Test(.systemTest(tools: ["nft"]))
    func ruleIDWithDoubleQuote() throws {
        let ruleset = Self.filter([.verdict(.accept)], id: #"double"quote"#)
        // nft text cannot hold `"` inside a string at all (a syntax error however it is escaped); JSON can.
        try withKnownIssue("nft text has no way to write \" in a comment; ids with quotes need JSON or netlink") {
            try Self.loadAndCompare(ruleset)
        }
        try Self.loadAndCompare(ruleset, json: true)
    }
}
