import ArgumentParser
public import SDNConfig
import SDNFirewall
public import SDNModel

/// `sdn validate`: read and check every document; exit 0 clean, 1 errors, 2 unreadable input.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check topologies and policies; report every problem with file:line:column.",
        discussion: "Exit status: 0 valid (warnings allowed), 1 errors found, 2 input could not be read."
    )

    @OptionGroup var input: ConfigInputOptions
    @OptionGroup var outputOptions: OutputOptions

    @Flag(help: "Treat warnings as errors.")
    var strict = false

    func run() throws {
        let documents = try InputCollector.collectOrExit(input.paths)
        let (validated, diagnostics) = Self.validate(documents)
        let failed = validated == nil || (strict && diagnostics.contains { $0.severity == .warning })
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.filter { $0.severity == .warning }.count

        switch outputOptions.output {
        case .json:
            var fields: [(String, RenderedTree)] = [
                ("valid", .bool(!failed)),
                ("files", .list(documents.map { .string($0.path) })),
                ("errors", .integer(errors)),
                ("warnings", .integer(warnings)),
                ("diagnostics", .list(diagnostics.map(DiagnosticPrinter.json))),
            ]
            if let state = validated?.value { fields.append(("summary", ValidationReport.summaryTree(state))) }
            print(RenderedTree.map(fields).json())
        case .text:
            print(ValidationReport.text(documents: documents, diagnostics: diagnostics, validated: validated, strict: strict,
                                        style: Style(enabled: outputOptions.color.isEnabled)), terminator: "")
        }
        if failed { throw ExitCode.failed }
    }


    /// Loads and validates, then runs the lockout check `compile` runs, so that what `validate`
    /// accepts also compiles: a lockout error makes the configuration invalid.
    static func validate(_ documents: [ConfigDocument]) -> (validated: Validated<DesiredState>?, diagnostics: [Diagnostic]) {
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
        guard let validated else { return (nil, diagnostics) }
        let lockout = LockoutCheck.findings(in: validated)
        if lockout.isEmpty { return (validated, diagnostics) }
        return (lockout.hasErrors ? nil : validated, (diagnostics + lockout).sortedForDisplay())
    }
}

/// The text `sdn validate` prints: each diagnostic with its source line, then a one-line verdict.
public enum ValidationReport {
    public static func text(documents: [ConfigDocument], diagnostics: [Diagnostic], validated: Validated<DesiredState>?, strict: Bool = false, color: Bool = false) -> String {
        text(documents: documents, diagnostics: diagnostics, validated: validated, strict: strict, style: Style(enabled: color))
    }

    static func text(documents: [ConfigDocument], diagnostics: [Diagnostic], validated: Validated<DesiredState>?, strict: Bool, style: Style) -> String {
        let failed = validated == nil || (strict && diagnostics.contains { $0.severity == .warning })
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.filter { $0.severity == .warning }.count
        let printer = DiagnosticPrinter(style: style, documents: documents)
        var output = ""
        for diagnostic in diagnostics { output += printer.render(diagnostic) + "\n\n" }
        let fileCount = "\(documents.count) file\(documents.count == 1 ? "" : "s")"
        if let state = validated?.value, !failed {
            output += style.green("valid") + ": \(fileCount); " + summaryLine(state) + (warnings > 0 ? "; \(warnings) warning\(warnings == 1 ? "" : "s")" : "") + "\n"
        } else {
            output += style.red("invalid") + ": \(fileCount); \(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")\n"
        }
        return output
    }

    private static func counts(_ state: DesiredState) -> [(String, Int)] {
        let firewall = state.firewall
        return [
            ("node", state.nodes.count), ("zone", state.zones.count), ("vnet", state.vnets.count),
            ("subnet", state.vnets.reduce(0) { $0 + $1.subnets.count }), ("guest", state.guests.count),
            ("NIC", state.guests.reduce(0) { $0 + $1.nics.count }),
            ("rule", firewall.allPolicies.reduce(0) { $0 + $1.rules.count } + firewall.groups.reduce(0) { $0 + $1.rules.count }),
            ("security group", firewall.groups.count), ("alias", firewall.aliases.count), ("IP set", firewall.ipsets.count),
        ]
    }

    static func summaryLine(_ state: DesiredState) -> String {
        counts(state).map { name, count in
            let plural = name == "alias" ? "aliases" : name + "s"
            return "\(count) \(count == 1 ? name : plural)"
        }.joined(separator: ", ")
    }

    static func summaryTree(_ state: DesiredState) -> RenderedTree {
        .map(counts(state).map { ($0.0.replacingOccurrences(of: " ", with: "-").lowercased() + "s", .integer($0.1)) })
    }
}
