import Foundation
import SDNFirewall
import SDNModel
import SDNNetns
import SDNNFTables
import SDNTesting
import Testing

/// nft's text takes a table, chain or set name only as a bare word that is not a keyword; quoting
/// does not help (`chain "fwd"` is a syntax error in nft 1.0.6). These tests keep the renderer's
/// list of such words true to nft and the compiler's names clear of it.
@Suite("Names nft's text can carry")
struct NFTTextNameTests {
    /// Chains named `names`, each jumped to from a base chain, and a set per name.
    static func ruleset(named names: [String]) -> Ruleset {
        let base = Chain(name: "base", base: BaseChain(type: .filter, hook: .input, priority: 0, policy: .accept),
                         rules: names.enumerated().map { Rule(id: "to-\($0.offset)", statements: [.verdict(.jump($0.element))]) })
        let chains = names.map { Chain(name: $0, rules: [Rule(id: "count", statements: [.counter])]) }
        let sets = names.map { NamedSet(name: $0, keyType: [.ipv4Address], elements: []) }
        return Ruleset(tables: [Table(family: .inet, name: "t", sets: sets, chains: [base] + chains)])
    }

    static func nftAccepts(_ ruleset: Ruleset, in namespace: NetworkNamespace) throws -> (Bool, String) {
        let file = try temporaryFile(NFTTextRenderer.render(ruleset), name: "names.nft")
        defer { try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent) }
        let result = try Shell.run(["nft", "-c", "-f", file], in: namespace)
        return (result.status == 0, result.stderr)
    }

    @Test func keywordsAndOddCharactersCannotBeWritten() {
        for name in ["fwd", "set", "map", "counter", "jump", "meta", "tcp", "a b", "x\"y", "", "1abc", "a:b"] {
            #expect(!NFTTextRenderer.canWrite(name: name), "\(name)")
        }
        for name in ["input", "forward", "output", "postrouting", "filter", "cluster-fwd", "guest-100-net0-in", "ipset_web_v4", "fwd2"] {
            #expect(NFTTextRenderer.canWrite(name: name), "\(name)")
        }
        #expect(NFTTextRenderer.unwritableNames(in: Self.ruleset(named: ["fwd", "input", "set"])) == ["fwd", "set"])
    }

    /// Every chain and set the compiler makes, over every compile fixture and both kernel layouts.
    @Test(arguments: compileFixtures)
    func theCompilersNamesCanAllBeWritten(_ fixture: FixtureCase) throws {
        let validated = try validate(loadDocuments(under: fixture.directory))
        for node in validated.value.nodes {
            for profile in kernelProfiles {
                let compiled = FirewallCompiler.compile(validated, node: node.name, features: profile.features, parallelism: .serial)
                #expect(NFTTextRenderer.unwritableNames(in: compiled.ruleset).isEmpty, "\(node.name)/\(profile.name)")
            }
        }
    }

    /// Names that look like keywords but are plain words to nft load, rendered and checked by `nft -c`.
    @Test(.systemTest(tools: ["nft", "ip"]))
    func namesLikeKeywordsThatNftReadsLoad() throws {
        let names = ["input", "output", "forward", "prerouting", "postrouting", "ingress", "filter", "nat", "cluster-fwd", "vnets-fwd", "fwd-in", "set_v4"]
        try withTemporaryNetworkNamespace { namespace in
            let (accepted, errors) = try Self.nftAccepts(Self.ruleset(named: names), in: namespace)
            #expect(accepted, "\(errors)")
        }
    }

    /// Each listed keyword, as a chain (and set) name, is refused by nft: the list holds no word nft
    /// would in fact read, and the renderer's output for such a name really does not load.
    @Test(.systemTest(tools: ["nft", "ip"]))
    func nftRefusesEveryReservedWordAsAName() throws {
        try withTemporaryNetworkNamespace { namespace in
            for word in NFTTextRenderer.reservedWords.sorted() {
                let (accepted, _) = try Self.nftAccepts(Self.ruleset(named: [word]), in: namespace)
                #expect(!accepted, "nft reads '\(word)' as a name: drop it from NFTTextRenderer.reservedWords")
            }
            // Quoting is no way out either.
            let quoted = try temporaryFile("table inet t {\n\tchain \"fwd\" {\n\t}\n}\n", name: "quoted.nft")
            defer { try? FileManager.default.removeItem(atPath: (quoted as NSString).deletingLastPathComponent) }
            #expect(try Shell.run(["nft", "-c", "-f", quoted], in: namespace).status != 0)
        }
    }
}
