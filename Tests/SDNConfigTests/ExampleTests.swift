import SDNConfig
import SDNModel
import SDNTesting
import Testing

/// The shipped examples must validate without a single diagnostic, and survive a render/load round trip.
@Suite struct ExampleTests {
    @Test(arguments: exampleDirectories())
    func exampleValidatesClean(_ directory: String) throws {
        let documents = loadExampleDocuments(directory)
        try #require(!documents.isEmpty, "no documents in \(directory)")
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
        #expect(diagnostics.isEmpty, "\(diagnostics.map(\.description).joined(separator: "\n"))")
        #expect(validated != nil)
    }

    @Test(arguments: exampleDirectories())
    func renderedExampleLoadsBackIdentical(_ directory: String) throws {
        let documents = loadExampleDocuments(directory)
        let original = try #require(ConfigLoader.loadAndValidate(documents).validated?.value)
        let rendered = [
            ConfigDocument(path: "show-topology.yaml", text: try ConfigRenderer.topology(original).yaml()),
            ConfigDocument(path: "show-policy.yaml", text: try ConfigRenderer.policy(original).yaml()),
        ]
        let (reloaded, diagnostics) = ConfigLoader.loadAndValidate(rendered)
        #expect(diagnostics.isEmpty, "\(diagnostics.map(\.description).joined(separator: "\n"))")
        let state = try #require(reloaded?.value)
        #expect(state.nodes == original.nodes)
        #expect(state.zones == original.zones)
        #expect(state.vnets == original.vnets)
        #expect(state.guests == original.guests)
        #expect(state.firewall.groups == original.firewall.groups)
        #expect(state.firewall.aliases == original.firewall.aliases)
        #expect(state.firewall.ipsets == original.firewall.ipsets)
        for policy in original.firewall.allPolicies {
            #expect(state.firewall.policy(for: policy.scope)?.rules == policy.rules, "rules of \(policy.scope)")
            #expect(state.firewall.effectiveOptions(for: policy.scope) == original.firewall.effectiveOptions(for: policy.scope), "options of \(policy.scope)")
        }
    }

    /// The daemon writes edits back in the as-written style: it must load back into exactly the state it
    /// came from, options included as written (an inherited option stays inherited).
    @Test(arguments: exampleDirectories())
    func asWrittenRenderingLoadsBackIdentical(_ directory: String) throws {
        let original = try #require(ConfigLoader.loadAndValidate(loadExampleDocuments(directory)).validated?.value)
        let rendered = [
            ConfigDocument(path: "Topologies/sdn.yaml", text: try ConfigRenderer.topology(original).yaml()),
            ConfigDocument(path: "Policies/sdn.yaml", text: try ConfigRenderer.policy(original, style: .asWritten).yaml()),
        ]
        let (reloaded, diagnostics) = ConfigLoader.loadAndValidate(rendered)
        #expect(diagnostics.isEmpty, "\(diagnostics.map(\.description).joined(separator: "\n"))")
        let state = try #require(reloaded?.value)
        #expect(state == original)
        for policy in original.firewall.allPolicies {
            #expect(state.firewall.policy(for: policy.scope)?.options == policy.options, "options of \(policy.scope) as written")
        }
    }
}
