import ArgumentParser
import Glibc
import SDNDataplane
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNNFTablesNetlink

/// `sdn apply --firewall`: make the kernel's firewall what the policy says, in one atomic transaction
/// that carries only the difference.
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply the desired state to the kernel (the firewall, for now: --firewall).",
        discussion: "Exit status: 0 applied (or nothing to do), 1 failed (nothing was changed), 2 bad input."
    )

    @Option(name: .customLong("config"), help: "YAML files or directories (repeatable; default: Topologies/ and Policies/).")
    var configPaths: [String] = []

    @Flag(help: "Apply the firewall.")
    var firewall = false

    @Option(help: "The node to apply for (default: the only node).")
    var node: String?

    @OptionGroup var target: TargetOptions
    @OptionGroup var kernel: LiveKernelOptions

    @Flag(help: "Apply without asking.")
    var yes = false

    @Flag(help: "Show the changes and stop.")
    var dryRun = false

    func run() async throws {
        guard firewall else {
            printError("sdn: only the firewall can be applied so far; pass --firewall")
            throw ExitCode(2)
        }
        let (validated, nodeName) = try loadForNode(paths: configPaths, node: node)
        let session = try FirewallSession(namespace: try target.namespace())
        let features = await kernel.features(for: session)
        let compiled = FirewallCompiler.compile(validated, node: nodeName, features: features)
        for diagnostic in compiled.diagnostics { printError(diagnostic.description) }
        if compiled.diagnostics.hasErrors {
            printError("sdn: refusing to apply a firewall with errors; nothing was changed")
            throw ExitCode(1)
        }
        print("kernel: \(features)")
        if features.guestMode == .brNetfilter && !dryRun {
            do { try session.enableBridgeNetfilter() } catch {
                printError("sdn: \(error)")
                throw ExitCode(1)
            }
        }
        for attempt in 1...3 {
            let (changes, observed) = try await session.plan(compiled.ruleset)
            if changes.isEmpty {
                print("firewall: up to date (generation \(observed.generation))")
                return
            }
            print("firewall: \(changes.count) change\(changes.count == 1 ? "" : "s") for node \(nodeName) in \(session.namespace)")
            for change in changes.prefix(dryRun ? Int.max : 20) { print("  " + change.description) }
            if !dryRun && changes.count > 20 { print("  … \(changes.count - 20) more (see `sdn diff --firewall`)") }
            if dryRun { return }
            if !yes {
                guard isatty(STDIN_FILENO) == 1 else {
                    printError("sdn: not a terminal; pass --yes to apply without asking")
                    throw ExitCode(2)
                }
                print("apply? [y/N] ", terminator: "")
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    print("nothing applied")
                    return
                }
            }
            let start = ContinuousClock.now
            do {
                // A very large first load goes in staged batches whose last one hooks the base chains, so
                // no packet meets a half-built ruleset and no single transaction holds the kernel long.
                let report = changes.count > Self.stagedLoadThreshold
                    ? try await session.firewall.applyChunked(changes, expectedGeneration: observed.generation)
                    : try await session.firewall.apply(changes, expectedGeneration: observed.generation)
                let elapsed = ContinuousClock.now - start
                print("applied: \(report.messageCount) netlink messages in one transaction, \(elapsed.formatted(.units(allowed: [.milliseconds], fractionalPart: .show(length: 1)))), generation \(report.generation)")
                return
            } catch let error where error.code == .generationChanged && attempt < 3 {
                print("the ruleset changed while planning (someone else committed); planning again")
                continue
            } catch {
                printError("sdn: apply failed, nothing was changed: \(error)")
                if let origin = error.failedChange.flatMap(Self.origin) { printError("  from policy at \(origin)") }
                throw ExitCode(1)
            }
        }
    }

    static let stagedLoadThreshold = 50_000

    static func origin(_ change: FirewallChange) -> SourceLocation? {
        if case .addRule(_, _, _, let rule) = change { return rule.origin }
        return nil
    }
}

/// `sdn diff --firewall`: what the kernel holds that differs from the desired firewall.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show how the kernel differs from the desired state (the firewall, for now: --firewall).",
        discussion: "Exit status: 0 identical, 3 differences found, 1 error, 2 bad input."
    )

    @Option(name: .customLong("config"), help: "YAML files or directories (repeatable; default: Topologies/ and Policies/).")
    var configPaths: [String] = []

    @Flag(help: "Compare the firewall.")
    var firewall = false

    @Option(help: "The node to compare for (default: the only node).")
    var node: String?

    @OptionGroup var target: TargetOptions
    @OptionGroup var kernel: LiveKernelOptions

    func run() async throws {
        guard firewall else {
            printError("sdn: only the firewall can be compared so far; pass --firewall")
            throw ExitCode(2)
        }
        let (validated, nodeName) = try loadForNode(paths: configPaths, node: node)
        let session = try FirewallSession(namespace: try target.namespace())
        let features = await kernel.features(for: session)
        let compiled = FirewallCompiler.compile(validated, node: nodeName, features: features)
        let (changes, observed) = try await session.plan(compiled.ruleset)
        if changes.isEmpty {
            print("firewall: the kernel matches the policy (generation \(observed.generation))")
            return
        }
        print("firewall: \(changes.count) difference\(changes.count == 1 ? "" : "s") (applying would):")
        for change in changes { print("  " + change.description) }
        throw ExitCode(3)
    }
}
