import ArgumentParser
import Foundation
import Glibc

/// The options `sdn plan` and `sdn apply` take as clients. Without `--server` or `SDN_SERVER` they
/// act locally, on files and this machine's kernel, exactly as before there was a daemon.
struct RemotePlanningOptions: ParsableArguments {
    @OptionGroup var daemon: DaemonOptions

    @Option(help: ArgumentHelp("With a daemon: the revision to plan or apply (default: the head; an older one rolls back).", valueName: "n"))
    var revision: Int64?

    @Option(name: [.short, .long], help: "With a daemon: text, or json (the daemon's response, pretty-printed).")
    var output: OutputFormat?

    /// The daemon session if one was asked for; nil to act locally. Options of the other mode are
    /// refused rather than ignored.
    func session(refusingLocal input: PlanningInput, verb: String) throws -> DaemonSession? {
        guard let url = daemon.explicitServer else {
            if revision != nil || output != nil {
                printError("sdn: --revision and --output need a daemon (--server URL or SDN_SERVER); `sdn \(verb)` without one reads files and this machine's kernel")
                throw ExitCode.badInput
            }
            return nil
        }
        var local: [String] = []
        if !input.configInput.paths.isEmpty { local.append("file arguments") }
        if input.node != nil { local.append("--node") }
        if input.target.netns != nil { local.append("--netns") }
        if input.kernel.profile != .auto { local.append("--kernel") }
        if input.scope.links || input.scope.firewall { local.append("--links/--firewall") }
        if !local.isEmpty {
            printError("sdn: \(local.joined(separator: ", ")) act on local files and kernels; with a daemon (\(url)) `sdn \(verb)` works on its revisions: `sdn push` the files first, or drop --server / unset SDN_SERVER")
            throw ExitCode.badInput
        }
        return try DaemonSession(url: url, token: daemon.resolvedToken, fingerprint: daemon.resolvedFingerprint, output: output ?? .text)
    }
}

/// `sdn plan` and `sdn apply` against sdnd.
enum DaemonPlanApply {
    /// Applying waits for the node to converge: longer than a read.
    static let applyTimeout: Duration = .seconds(600)

    /// Prints each node's plan; exit status as the local `sdn plan` (3 changes pending, 1 conflicts).
    static func plan(_ session: DaemonSession, revision: Int64?) throws {
        let plans = try fetchPlans(session, revision: revision, printing: true)
        if plans.contains(where: { !$0.conflicts.isEmpty }) { throw ExitCode.failed }
        if plans.contains(where: { !$0.isEmpty }) { throw ExitCode.changesPending }
    }

    /// Shows the plan, asks (unless `yes`), applies, and prints each node's result.
    static func apply(_ session: DaemonSession, revision: Int64?, yes: Bool, dryRun: Bool, wait: Duration? = nil) throws {
        let plans = try fetchPlans(session, revision: revision, printing: true)
        if dryRun { return }
        if plans.contains(where: { !$0.conflicts.isEmpty }) {
            printError("sdn: refusing to apply: the plan has conflicts (see above); nothing was changed")
            throw ExitCode.failed
        }
        if !yes {
            guard isatty(STDIN_FILENO) == 1 else {
                printError("sdn: not a terminal; pass --yes to apply without asking")
                throw ExitCode.badInput
            }
            // With --output json the question goes to standard error, so standard output stays JSON.
            let question = "apply\(revision.map { " revision \($0)" } ?? "") on \(session.server)? [y/N] "
            if session.output == .json { FileHandle.standardError.write(Data(question.utf8)) } else { print(question, terminator: "") }
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                printError("nothing applied")
                return
            }
        }
        let response = try session.call("POST", "/v1/apply", json: ApplyRequest(revision: revision), timeout: applyTimeout)
        if session.output == .json { session.printJSON(response) }
        let results: [RemoteApplyResult]
        if let many = try? ClientJSON.decoder.decode([RemoteApplyResult].self, from: response.body) {
            results = many
        } else {
            results = [try session.decode(RemoteApplyResult.self, from: response)]
        }
        var failed = false
        for result in results {
            if !result.converged { failed = true }
            guard session.output == .text else { continue }
            let figures = "\(result.stepsApplied) step\(result.stepsApplied == 1 ? "" : "s"), \(result.linkWrites) link write\(result.linkWrites == 1 ? "" : "s"), \(result.firewallMessages) firewall messages in \(String(format: "%.1f", result.milliseconds)) ms"
            if result.converged {
                print("node \(result.node): revision \(result.revision) \(result.outcome) (\(figures))")
            } else {
                printError("sdn: node \(result.node): applying revision \(result.revision) \(result.outcome)" + (result.errors.isEmpty ? "" : ": " + result.errors.joined(separator: "; ")))
            }
        }
        if failed { throw ExitCode.failed }
        if let wait {
            guard let generation = results.compactMap(\.generation).max() else {
                printError("sdn: the daemon did not say which generation it applied (an older sdnd?); cannot wait")
                throw ExitCode.failed
            }
            try ClusterWait.waitAndReport(session, generation: generation, timeout: wait)
        }
    }

    private static func fetchPlans(_ session: DaemonSession, revision: Int64?, printing: Bool) throws -> [RemoteNodePlan] {
        let response = try session.call("GET", APIPath.query("/v1/plan", [("revision", revision.map(String.init))]))
        let plans = try session.decode([RemoteNodePlan].self, from: response)
        guard printing else { return plans }
        if session.output == .json {
            session.printJSON(response)
            return plans
        }
        for plan in plans {
            for diagnostic in plan.diagnostics { print(diagnostic) }
            print(plan.text.hasSuffix("\n") ? String(plan.text.dropLast()) : plan.text)
            for conflict in plan.conflicts where !plan.text.contains(conflict) { print("conflict: \(conflict)") }
        }
        return plans
    }
}
