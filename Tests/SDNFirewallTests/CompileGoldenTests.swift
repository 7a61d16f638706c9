import Foundation
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// Golden compiles: each folder under `Fixtures/compile/` holds `Topologies/*.yaml` and
/// `Policies/*.yaml`, and beside them the nft text every node gets on each kernel profile
/// (`expected-full.nft`, `expected-minimal.nft`; `expected-<node>-<kernel>.nft` when the fixture has
/// several nodes) and the compiler's findings (`expected-diagnostics.txt`, empty when there are none).
///
/// The repository demo and the `examples/` are fixtures too, as copies (`demo`, `example-*`): a golden
/// must only change when the compiler changes, not when someone improves an example's comments or
/// values, so an example edit never breaks this suite. `liveExamplesCompile` covers the live files.
///
/// Record with `SDN_RECORD_GOLDEN=1 swift test --filter SDNFirewallTests`, then read the diff.
@Suite struct CompileGoldenTests {
    @Test func fixturesExist() {
        #expect(compileFixtures.count >= 20, "expected the compile fixtures in \(fixturesDirectory("compile"))")
    }

    @Test(arguments: compileFixtures)
    func compilesToGolden(_ fixture: FixtureCase) throws {
        let documents = loadDocuments(under: fixture.directory)
        try #require(!documents.isEmpty, "no YAML documents in \(fixture.directory)")
        let validated = try validate(documents)
        let variants = compileVariants(validated)
        try #require(!variants.isEmpty, "the fixture declares no node")
        for variant in variants {
            Golden.assertMatches(variant.nft, goldenFile: fixture.path(variant.goldenName))
        }
        Golden.assertMatches(diagnosticsGolden(variants, singleNode: validated.value.nodes.count == 1),
                             goldenFile: fixture.path("expected-diagnostics.txt"))
        // A golden left over from a renamed node would never be checked again: there must be none.
        let expected = Set(variants.map(\.goldenName))
        for stale in fixture.files(withExtension: "nft") where !expected.contains(stale) {
            Issue.record("\(fixture.name)/\(stale) belongs to no node of the fixture; delete it")
        }
    }

    /// A node's ruleset holds its own guests only: no chain, map element, interface or MAC of a guest
    /// that runs on another node.
    @Test(arguments: compileFixtures.filter { $0.name == "multi-node" || $0.name == "example-three-node-vxlan" || $0.name == "example-vlan-bond" })
    func otherNodesGuestsDoNotAppear(_ fixture: FixtureCase) throws {
        let validated = try validate(loadDocuments(under: fixture.directory))
        let state = validated.value
        try #require(state.nodes.count > 1)
        for variant in compileVariants(validated) {
            let local = state.guests.filter { $0.node == variant.node }
            #expect(!local.isEmpty || variant.nft.contains("table inet sdn"))
            for guest in local {
                #expect(variant.nft.contains("guest-\(guest.id)-"), "node \(variant.node) lacks its guest \(guest.id)")
            }
            for guest in state.guests where guest.node != variant.node {
                #expect(!variant.nft.contains("guest-\(guest.id)-"), "node \(variant.node), kernel \(variant.kernel) has chains of guest \(guest.id) of node \(guest.node)")
                for nic in guest.nics {
                    let interface = InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index)
                    #expect(!variant.nft.contains("\"\(interface)\""), "node \(variant.node) names \(interface)")
                    if let mac = nic.mac { #expect(!variant.nft.contains(mac.description), "node \(variant.node) has the MAC of guest \(guest.id)") }
                }
            }
        }
    }

    /// The live examples (not the fixture copies) still compile for every node and kernel, with no
    /// findings other than those the copies are known to produce.
    @Test(arguments: exampleDirectories())
    func liveExamplesCompile(_ directory: String) throws {
        let documents = loadExampleDocuments(directory)
        try #require(!documents.isEmpty, "no documents in \(directory)")
        let validated = try validate(documents)
        for variant in compileVariants(validated) {
            #expect(variant.nft.contains("table inet sdn {"), "node \(variant.node), kernel \(variant.kernel)")
            #expect(!variant.diagnostics.hasErrors, "\(variant.diagnostics.map(\.description).joined(separator: "\n"))")
        }
    }
}
