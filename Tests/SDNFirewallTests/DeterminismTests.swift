import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// The compiler is a pure function of the desired state.
///
/// Document order: every named object is defined exactly once (a second definition is an error) and a
/// rule list comes from its one definition, so the order in which documents are read carries no
/// meaning; the compiled ruleset and the findings must be byte-identical whatever the order. The only
/// order that means something is the order of rules inside one list (first match wins), and that
/// order lives inside one document, which reordering documents does not touch.
@Suite struct DeterminismTests {
    @Test(arguments: compileFixtures)
    func compilingTwiceIsByteIdentical(_ fixture: FixtureCase) throws {
        let validated = try validate(loadDocuments(under: fixture.directory))
        let first = compileVariants(validated)
        let second = compileVariants(validated)
        #expect(first.map(\.nft) == second.map(\.nft))
        #expect(first.map(\.diagnostics) == second.map(\.diagnostics))
    }

    @Test(arguments: compileFixtures)
    func documentOrderDoesNotMatter(_ fixture: FixtureCase) throws {
        let documents = loadDocuments(under: fixture.directory)
        let forward = compileVariants(try validate(documents))
        let backward = compileVariants(try validate(documents.reversed()))
        let key = { (variant: CompileVariant) in "\(variant.node)/\(variant.kernel)" }
        let backwardByKey = Dictionary(uniqueKeysWithValues: backward.map { (key($0), $0) })
        #expect(Set(forward.map(key)) == Set(backwardByKey.keys))
        for variant in forward {
            guard let other = backwardByKey[key(variant)] else { continue }
            if let difference = LineDifference.describe(expected: variant.nft, actual: other.nft) {
                Issue.record("node \(variant.node), kernel \(variant.kernel): reading the documents in reverse order changes the ruleset\n\(difference)")
            }
            #expect(variant.diagnostics == other.diagnostics, "node \(variant.node), kernel \(variant.kernel)")
        }
    }

    /// Splitting one policy over several documents (one per object) and shuffling them gives the same
    /// ruleset as the single document.
    @Test func splitDocumentsInAnyOrderCompileAlike() throws {
        let topology = """
            nodes:
              n1: { address: 192.0.2.1, management: [192.0.2.0/24] }
            zones:
              local: { type: simple }
            vnets:
              a: { zone: local, subnets: { 10.1.0.0/24: { gateway: 10.1.0.1, snat: true } } }
              b: { zone: local, subnets: { 10.2.0.0/24: { gateway: 10.2.0.1, snat: true } } }
            guests:
              100: { node: n1, nics: { net0: { vnet: a, mac: "52:54:00:00:00:01", ip: [10.1.0.10] } } }
              200: { node: n1, nics: { net0: { vnet: b, mac: "52:54:00:00:00:02", ip: [10.2.0.10] } } }
            """
        let pieces = [
            ("Policies/1-objects.yaml", "aliases: { office: 203.0.113.0/24 }\nipsets: { admins: [192.0.2.0/28, \"!192.0.2.1\"] }\n"),
            ("Policies/2-groups.yaml", "groups:\n  web: [in accept HTTP, in accept HTTPS from @office]\n"),
            ("Policies/3-cluster.yaml", "cluster:\n  rules: [in accept SSH from @admins]\n"),
            ("Policies/4-vnets.yaml", "vnets:\n  b: { options: { policy-forward: drop }, rules: [forward accept PostgreSQL from 10.1.0.0/24] }\n"),
            ("Policies/5-guest-100.yaml", "guests:\n  100: { rules: [group web, in accept tcp dport 8080] }\n"),
            ("Policies/6-guest-200.yaml", "guests:\n  200: { options: { ipfilter: true }, rules: [group web] }\n"),
        ]
        let topologyDocuments = [
            ConfigDocument(path: "Topologies/a.yaml", text: topology, kind: .topology),
        ]
        let documents = topologyDocuments + pieces.map { ConfigDocument(path: $0.0, text: $0.1, kind: .policy) }
        let reference = compileVariants(try validate(documents)).map(\.nft)
        let orders: [[Int]] = [[6, 5, 4, 3, 2, 1, 0], [3, 0, 6, 1, 5, 2, 4], [1, 2, 3, 4, 5, 6, 0]]
        for order in orders {
            let shuffled = order.map { documents[$0] }
            #expect(compileVariants(try validate(shuffled)).map(\.nft) == reference, "document order \(order)")
        }
    }
}
