public import SDNStore
public import SDNModel
public import SDNReconciler
public import SDNConfig
import SDNFirewall
public import SDNNFTables
import SDNHostNetwork

/// A revision's documents made into one node's desired state: loaded, validated, compiled for the
/// node's kernel. Pure: the same revision and features give the same result.
public enum RevisionCompiler {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var diagnostics: [Diagnostic]
        public var message: String
        public var description: String { ([message] + diagnostics.filter { $0.severity == .error }.map(\.description)).joined(separator: "\n") }
    }

    public struct Compiled: Sendable {
        public var desired: NodeDesiredState
        /// Warnings (and notes) of loading and compiling.
        public var diagnostics: [Diagnostic]
        /// The guest ports the topology gives this node (`tap101i0`), which appear when guests start.
        public var guestPorts: [String]
    }

    /// `node` nil: the only node the documents describe.
    public static func compile(_ documents: [StoredDocument], node: String?, features: KernelFeatures,
                               cache: ParsedDocumentCache? = nil) throws(Failure) -> Compiled {
        try compile(try load(documents, cache: cache), node: node, features: features)
    }

    /// The documents loaded and validated as `sdn validate` does; with a `cache`, the documents the last
    /// load read unchanged are not parsed again.
    public static func load(_ documents: [StoredDocument], cache: ParsedDocumentCache? = nil) throws(Failure) -> Validated<DesiredState> {
        let (validated, loadDiagnostics) = ConfigLoader.loadAndValidate(documents.map { ConfigDocument(path: $0.path, text: $0.text, kind: ConfigDocument.kind(impliedBy: $0.path)) },
                                                                        cache: cache)
        guard let validated else {
            throw Failure(diagnostics: loadDiagnostics, message: "the revision does not validate")
        }
        // The loader's own warnings travel with the model (validation's alone would lose them).
        return Validated(unchecked: validated.value, diagnostics: loadDiagnostics)
    }

    /// A validated state compiled for one node (`node` nil: the only node it describes). `keeping`: guests
    /// the state places on other nodes that still run here (a migration in flight): compiled as this
    /// node's too, so that they keep their bridge ports and firewall until they left.
    public static func compile(_ validated: Validated<DesiredState>, node: String?, features: KernelFeatures,
                               keeping departing: Set<Int> = []) throws(Failure) -> Compiled {
        var validated = validated
        let name = try nodeName(node, in: validated.value)
        if !departing.isEmpty {
            var state = validated.value
            for index in state.guests.indices where departing.contains(state.guests[index].id) { state.guests[index].node = name }
            validated = Validated(unchecked: state, diagnostics: validated.diagnostics)
        }
        let state = validated.value
        let firewall = FirewallCompiler.compile(validated, node: name, features: features)
        if firewall.diagnostics.hasErrors {
            throw Failure(diagnostics: firewall.diagnostics, message: "the firewall policy is refused")
        }
        let network = NodeNetworkBuilder.build(validated, node: name)
        let ports = network.links.filter { $0.ownership == .adopted && $0.owner.hasPrefix("guest:") }.map(\.spec.name)
        return Compiled(desired: NodeDesiredState(node: name, network: network, firewall: firewall.ruleset,
                                                  needsBridgeNetfilter: features.guestMode == .brNetfilter),
                        diagnostics: validated.diagnostics + firewall.diagnostics, guestPorts: ports)
    }

    /// The node this daemon runs in `state`: the one named, or the only one.
    static func nodeName(_ node: String?, in state: DesiredState) throws(Failure) -> String {
        guard let name = node ?? FirewallCompiler.defaultNode(of: state) else {
            throw Failure(diagnostics: [], message: state.nodes.isEmpty
                ? "the revision defines no node; describe this node under nodes: in a topology document"
                : "the revision defines several nodes (\(state.nodes.map(\.name).joined(separator: ", "))); start sdnd with --node")
        }
        guard state.node(named: name) != nil else {
            throw Failure(diagnostics: [], message: "the revision has no node named '\(name)' (sdnd runs as node '\(name)'; nodes: \(state.nodes.map(\.name).joined(separator: ", ")))")
        }
        return name
    }
}
