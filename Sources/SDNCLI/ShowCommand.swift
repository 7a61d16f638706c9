import ArgumentParser
import SDNConfig
import SDNModel

/// `sdn show`: print the merged, resolved model (defaults explicit, firewall options inherited).
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print the merged and resolved configuration.",
        discussion: "The YAML output is itself valid input: `sdn show > all.yaml && sdn validate all.yaml`."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case yaml, json }
    enum Section: String, ExpressibleByArgument, CaseIterable { case all, topology, policy }

    @OptionGroup var input: ConfigInputOptions

    @Option(name: [.short, .long], help: "yaml or json.")
    var output: Format = .yaml

    @Option(help: "Which part to print: all, topology or policy.")
    var section: Section = .all

    func run() throws {
        let documents = try InputCollector.collectOrExit(input.paths)
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
        let printer = DiagnosticPrinter(style: Style(enabled: false), documents: documents)
        guard let state = validated?.value else {
            for diagnostic in diagnostics where diagnostic.severity == .error { printError(printer.render(diagnostic)) }
            printError("sdn: the configuration has errors; run `sdn validate` for details")
            throw ExitCode.failed
        }
        let trees: [(String, RenderedTree)] = switch section {
        case .all: [("topology", ConfigRenderer.topology(state)), ("policy", ConfigRenderer.policy(state))]
        case .topology: [("topology", ConfigRenderer.topology(state))]
        case .policy: [("policy", ConfigRenderer.policy(state))]
        }
        switch output {
        case .yaml:
            do {
                print(try trees.map { "---\n" + (try $0.1.yaml()) }.joined(), terminator: "")
            } catch {
                // An internal failure: say so, and exit non-zero rather than print an empty document.
                printError("sdn: cannot write the configuration as YAML: \(error)")
                throw ExitCode.failed
            }
        case .json:
            print(trees.count == 1 ? trees[0].1.json() : RenderedTree.map(trees).json())
        }
    }
}
