import ArgumentParser
import Foundation
import Glibc
import SDNDataplane
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNHostNetwork
import SDNReconciler
import Synchronization

/// Loads the configuration for a node, opens the kernel, compiles the firewall: what the reconciler
/// needs to plan and apply.
struct PlanningInput: ParsableArguments {
    @OptionGroup var configInput: ConfigInputOptions

    @Option(help: "The node to act for (default: the only node).")
    var node: String?

    @OptionGroup var scope: ScopeOptions
    @OptionGroup var target: TargetOptions
    @OptionGroup var kernel: LiveKernelOptions

    struct Prepared {
        var session: NodeSession
        var desired: NodeDesiredState
        var features: KernelFeatures?
    }

    func prepare(quiet: Bool = false) async throws -> Prepared {
        let (validated, nodeName) = try loadForNode(input: configInput, node: node)
        let session = try NodeSession(namespace: try target.namespace(), scope: scope)
        let compiled = try await session.compileFirewall(validated, node: nodeName, kernel: kernel, quiet: quiet)
        let desired = NodeDesiredState(node: nodeName,
                                       network: scope.includesLinks ? NodeNetworkBuilder.build(validated, node: nodeName) : nil,
                                       firewall: compiled?.0,
                                       needsBridgeNetfilter: compiled?.1.guestMode == .brNetfilter)
        return Prepared(session: session, desired: desired, features: compiled?.1)
    }

    func plan(_ prepared: Prepared) async throws -> Plan {
        do {
            return try await prepared.session.reconciler.plan(prepared.desired)
        } catch {
            printError("sdn: cannot read the kernel's state in \(prepared.session.namespace): \(error)")
            throw ExitCode.failed
        }
    }
}

/// `sdn plan`: what `sdn apply` would do, links and firewall together, without doing it.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what apply would change on a node: creates, in-place changes, flaps, recreates, deletes, firewall.",
        discussion: """
            + create   ~ change in place   ! flap (the link goes down and up)   ± recreate (deleted and created again)
            - delete   # firewall transaction
            Exit status: 0 nothing to do, 3 changes pending, 1 error (conflicts included), 2 bad input.
            With --server URL (or SDN_SERVER): what sdnd would do applying its head (or --revision N).
            """
    )

    @OptionGroup var input: PlanningInput
    @OptionGroup var remote: RemotePlanningOptions

    func run() async throws {
        if let session = try remote.session(refusingLocal: input, verb: "plan") {
            return try DaemonPlanApply.plan(session, revision: remote.revision)
        }
        let prepared = try await input.prepare()
        let plan = try await input.plan(prepared)
        print(PlanRenderer.render(plan, firewallLimit: 50))
        if !plan.conflicts.isEmpty { throw ExitCode.failed }
        if !plan.isEmpty { throw ExitCode.changesPending }
    }
}

/// `sdn apply`: make the node's links and firewall what the topology and policy say, as one plan: links
/// created down, the firewall transaction, then links up; on any failure the steps done are undone.
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply the desired state to a node's kernel: links and firewall as one plan, with rollback.",
        discussion: """
            Exit status: 0 applied (or nothing to do), 1 failed (the previous state is back), 2 bad input.
            With --server URL (or SDN_SERVER): sdnd applies its head (or --revision N, a rollback to an older one); \
            with --wait, sdn returns once every live node holds it, and otherwise (after --timeout) exits 1 naming \
            the nodes that have not, with their last error. Dead nodes are named and not waited for.
            """
    )

    @OptionGroup var input: PlanningInput
    @OptionGroup var remote: RemotePlanningOptions

    @Flag(help: "Apply without asking.")
    var yes = false

    @Flag(help: "Show the plan and stop.")
    var dryRun = false

    @Flag(help: "With a daemon: return once every live node of the cluster applied it (dead nodes are named, not waited for).")
    var wait = false

    @Option(help: ArgumentHelp("With --wait: give up after this many seconds, naming the nodes that have not applied.", valueName: "seconds"))
    var timeout: Double = 60

    /// Plans with more steps than this print the first ones only (all with --dry-run or `sdn plan`).
    static let printedSteps = 60

    func validate() throws {
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds, not \(timeout)") }
    }

    func run() async throws {
        if let session = try remote.session(refusingLocal: input, verb: "apply") {
            return try DaemonPlanApply.apply(session, revision: remote.revision, yes: yes, dryRun: dryRun,
                                             wait: wait ? .milliseconds(Int64(timeout * 1000)) : nil)
        }
        if wait {
            printError("sdn: --wait waits for the nodes of a cluster: it needs a daemon (--server URL or SDN_SERVER)")
            throw ExitCode.badInput
        }
        let prepared = try await input.prepare()
        if let features = prepared.features { print("kernel: \(features)") }
        let notATerminal = SendableFlag()
        let dryRun = self.dryRun
        let ask: NodeReconciler.Approval = { _ in
            guard isatty(STDIN_FILENO) == 1 else {
                notATerminal.set()
                return false
            }
            print("apply? [y/N] ", terminator: "")
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                print("nothing applied")
                return false
            }
            return true
        }
        let report = await prepared.session.reconciler.reconcile(prepared.desired, dryRun: dryRun, approve: yes ? nil : ask,
                                                                 progress: Self.progress, events: { Self.show($0, dryRun: dryRun) })
        switch report.outcome {
        case .upToDate, .dryRun:
            return
        case .converged:
            print("node \(report.node): converged")
        case .declined:
            if notATerminal.isSet {
                printError("sdn: not a terminal; pass --yes to apply without asking")
                throw ExitCode.badInput
            }
        case .refused(let plan):
            printError("sdn: refusing to apply: \(plan.conflicts.count) conflict\(plan.conflicts.count == 1 ? "" : "s") (see above); nothing was changed")
            throw ExitCode.failed
        case .failed(let failure), .generationKeptChanging(let failure, _):
            printError("sdn: apply failed: \(failure)")
            if let origin = (failure.reason as? FirewallApplyError)?.failedChange?.ruleOrigin { printError("  from policy at \(origin)") }
            throw ExitCode.failed
        case .diverged(let remaining):
            printError("sdn: the node still differs after applying:\n" + PlanRenderer.render(remaining))
            throw ExitCode.failed
        case .cannotObserve(let error):
            printError("sdn: cannot read the kernel's state in \(prepared.session.namespace): \(error)")
            throw ExitCode.failed
        case .cannotEnableBridgeNetfilter(let error):
            printError("sdn: \(error)")
            throw ExitCode.failed
        }
    }

    /// Prints each plan before it is applied (in full with --dry-run, else the first lines), each apply,
    /// and each retry.
    static func show(_ event: ReconcileEvent, dryRun: Bool) {
        switch event {
        case .planned(let plan, let round):
            if plan.isEmpty {
                // After an apply, the outcome says "converged".
                if round == 0 { print(PlanRenderer.render(plan)) }
                return
            }
            if round > 0 {
                // The kernel adjusts state on its own (default VLANs of new ports, say): one more round.
                print("the kernel differs from the plan's prediction in \(plan.steps.count) step\(plan.steps.count == 1 ? "" : "s"); applying those")
            }
            let rendered = PlanRenderer.render(plan, firewallLimit: dryRun ? Int.max : 20)
            let lines = rendered.split(separator: "\n", omittingEmptySubsequences: false)
            if dryRun || lines.count <= printedSteps + 1 {
                print(rendered)
            } else {
                print(lines.prefix(printedSteps + 1).joined(separator: "\n"))
                print("  … \(lines.count - printedSteps - 1) more lines (see `sdn plan`)")
            }
        case .applied(let report, _):
            var parts: [String] = []
            if report.linkWrites > 0 { parts.append("\(report.linkWrites) link write\(report.linkWrites == 1 ? "" : "s")") }
            if report.firewallMessages > 0 { parts.append("\(report.firewallMessages) firewall messages in one transaction") }
            print("applied: \(parts.joined(separator: ", ")) in \(report.elapsed.formatted(.units(allowed: [.milliseconds], fractionalPart: .show(length: 1))))")
        case .retrying:
            print("the ruleset changed while planning (someone else committed); everything was undone, planning again")
        }
    }

    /// Long applies report progress on stderr, about every tenth of the way.
    static let progress: Applier.Progress = { done, total, step in
        guard total >= 200 else { return }
        let every = max(total / 10, 1)
        if done % every == 0 || done == total { printError("  [\(done)/\(total)] \(step.subject)") }
    }
}

/// A switch the approval closure turns on (it cannot throw: the command throws after the reconciler returns).
final class SendableFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// `sdn diff`: what the kernel holds that differs from the desired state (drift).
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show how a node's kernel differs from the desired state: links, addresses, FDB, bridge VLANs and firewall.",
        discussion: "Compares both links and firewall with what the kernel holds now; --links or --firewall one of them. Exit status: 0 identical, 3 differences found, 1 error, 2 bad input."
    )

    @OptionGroup var input: PlanningInput

    func run() async throws {
        let prepared = try await input.prepare(quiet: true)
        let plan = try await input.plan(prepared)
        if plan.isEmpty && plan.conflicts.isEmpty {
            print("node \(plan.node): the kernel matches the desired state")
            return
        }
        print("node \(plan.node): the kernel differs; applying would:")
        print(PlanRenderer.render(plan, firewallLimit: Int.max).split(separator: "\n").dropFirst().joined(separator: "\n"))
        throw ExitCode.changesPending
    }
}
