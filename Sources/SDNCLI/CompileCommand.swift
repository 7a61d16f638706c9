import ArgumentParser
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables

/// `sdn compile`: print the nftables ruleset one node gets. Needs no root; with `--kernel auto` (the
/// default) it asks this machine's kernel which layout it needs, when it may.
struct CompileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Compile the firewall policy of a node to nftables.",
        discussion: """
            The nft output loads with `nft -f` as it is; it replaces only sdn's own tables. The guest firewall's layout \
            depends on the kernel: --kernel auto (the default) probes this machine's kernel (as root; otherwise it \
            assumes full and says so on stderr), so `sdn compile | nft -f -` loads here.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case nft, json }

    @OptionGroup var input: ConfigInputOptions

    @Option(help: "The node to compile for (default: the only node).")
    var node: String?

    @Option(name: [.short, .long], help: "nft (text for nft -f) or json (nft -j schema).")
    var output: Format = .nft

    @OptionGroup var kernel: KernelOptions

    func run() async throws {
        let (validated, nodeName) = try loadForNode(input: input, node: node)
        let compiled = await FirewallCompiler.compile(validated, node: nodeName, features: await kernel.resolve().features)
        for diagnostic in compiled.diagnostics { printError(diagnostic.description) }
        if compiled.diagnostics.hasErrors {
            printError("sdn: the policy is refused (see the errors above)")
            throw ExitCode.failed
        }
        switch output {
        case .nft: print(NFTTextRenderer.render(compiled.ruleset, replacing: true), terminator: "")
        case .json: print(jsonRendering(compiled.ruleset))
        }
    }
}

/// Loads and validates the configuration and picks the node to act for; exits 1/2 like `validate`.
func loadForNode(input: ConfigInputOptions, node: String?) throws -> (Validated<DesiredState>, String) {
    try loadForNode(paths: input.paths, node: node)
}

func loadForNode(paths: [String], node: String?) throws -> (Validated<DesiredState>, String) {
    let documents = try InputCollector.collectOrExit(paths)
    let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
    guard let validated else {
        let printer = DiagnosticPrinter(style: Style(enabled: false), documents: documents)
        for diagnostic in diagnostics where diagnostic.severity == .error { printError(printer.render(diagnostic)) }
        printError("sdn: the configuration has errors; run `sdn validate` for details")
        throw ExitCode.failed
    }
    let state = validated.value
    guard let name = node ?? FirewallCompiler.defaultNode(of: state) else {
        if state.nodes.isEmpty {
            printError("sdn: no node is defined; describe the node under nodes: in a topology document (Topologies/)")
        } else {
            printError("sdn: several nodes are defined (\(state.nodes.map(\.name).joined(separator: ", "))); choose one with --node")
        }
        throw ExitCode.badInput
    }
    guard state.node(named: name) != nil else {
        printError("sdn: no node named '\(name)'" + (Suggestion.hint(for: name, in: state.nodes.map(\.name)).map { "; \($0)" } ?? ""))
        throw ExitCode.badInput
    }
    return (validated, name)
}

func jsonRendering(_ ruleset: Ruleset) -> String { NFTJSON.render(ruleset, pretty: true) }

/// A kernel profile named on the command line (the guest-firewall layout depends on it).
enum KernelProfile: String, ExpressibleByArgument, CaseIterable {
    case auto, full, minimal

    /// The features the profile stands for; nil for `auto`, which asks the kernel.
    var fixedFeatures: KernelFeatures? {
        switch self {
        case .auto: nil
        case .full: .full
        case .minimal: .minimal
        }
    }
}

/// Kernel profile for commands that need no kernel but can ask the one they run on (`compile`, `trace`):
/// `auto` probes it when allowed (as root), and otherwise says on stderr which layout it assumed.
struct KernelOptions: ParsableArguments {
    @Option(name: .customLong("kernel"), help: "Kernel profile: auto (probe this machine's kernel; needs root), full (bridge conntrack, as Debian/Proxmox kernels) or minimal (br_netfilter only).")
    var profile: KernelProfile = .auto

    /// The features, and how they were found (`--kernel minimal`, `probed`, `assumed`).
    func resolve() async -> (features: KernelFeatures, origin: String) {
        if let fixed = profile.fixedFeatures { return (fixed, "--kernel \(profile.rawValue)") }
        do { return (try await KernelProbe.localFeatures(), "probed") } catch {
            return (KernelProbe.assumeFull(because: error), "assumed: cannot probe")
        }
    }
}
