import Foundation
import SDNConfig
import SDNModel
import SDNHostNetwork
import SDNTesting
import Testing

/// What `NodeNetworkBuilder` makes of every shipped example, node by node, against a golden file
/// (`SDN_RECORD_GOLDEN=1` re-records; review the JSON diff: it is the node's whole desired kernel state).
@Suite struct NodeNetworkBuilderGoldenTests {
    static let fixtures = repositoryRoot + "/Tests/SDNHostNetworkTests/Fixtures"

    static func name(of directory: String) -> String {
        directory == repositoryRoot ? "demo" : URL(fileURLWithPath: directory).lastPathComponent
    }

    static func render(_ network: NodeNetwork) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(network), as: UTF8.self) + "\n"
    }

    @Test(arguments: exampleDirectories())
    func everyNodeOfTheExampleBuildsToItsGolden(_ directory: String) throws {
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(loadExampleDocuments(directory))
        let state = try #require(validated, "\(diagnostics.map(\.description).joined(separator: "\n"))")
        try #require(!state.value.nodes.isEmpty)
        for node in state.value.nodes {
            let network = NodeNetworkBuilder.build(state, node: node.name)
            #expect(network.node == node.name)
            // Every link the builder owns names its owner, and no name repeats.
            #expect(Set(network.links.map(\.spec.name)).count == network.links.count, "a link name repeats on \(node.name)")
            Golden.assertMatches(try Self.render(network), goldenFile: "\(Self.fixtures)/\(Self.name(of: directory))/\(node.name).json")
        }
    }

    @Test func buildingTwiceGivesTheSameNetwork() throws {
        let (validated, _) = ConfigLoader.loadAndValidate(loadExampleDocuments(repositoryRoot + "/examples/three-node-vxlan"))
        let state = try #require(validated)
        for node in state.value.nodes {
            #expect(NodeNetworkBuilder.build(state, node: node.name) == NodeNetworkBuilder.build(state, node: node.name))
        }
    }
}
