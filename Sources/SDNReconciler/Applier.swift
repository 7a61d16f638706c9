public import SDNDataplane
import SDNNFTables

/// Runs a plan, step by step. If a step fails, the steps already done are undone in reverse order, so
/// the node is back where it was, and the error names the step and the object.
public struct Applier: Sendable {
    public let links: any LinkDataplane
    public let firewall: (any FirewallDataplane)?
    /// Times the apply (``ApplyReport/elapsed``).
    public let clock: any Clock<Duration>

    public init(links: any LinkDataplane, firewall: (any FirewallDataplane)? = nil, clock: any Clock<Duration> = ContinuousClock()) {
        self.links = links
        self.firewall = firewall
        self.clock = clock
    }

    public typealias Progress = @Sendable (_ done: Int, _ total: Int, _ step: PlanStep) -> Void

    /// Consecutive link steps go to the dataplane as one run (at most this many, so progress still moves).
    static let runLength = 256

    public func apply(_ plan: Plan, progress: Progress? = nil) async throws(ApplyFailure) -> ApplyReport {
        let elapsed = stopwatch(clock)
        var done: [PlanStep] = []
        var report = ApplyReport()
        var index = 0
        while index < plan.steps.count {
            let step = plan.steps[index]
            if case .link = step.action {
                // A run of link steps: one call, stopping at the first failure.
                var operations: [LinkOperation] = []
                var end = index
                while end < plan.steps.count, operations.count < Self.runLength, case .link(let operation) = plan.steps[end].action {
                    operations.append(operation)
                    end += 1
                }
                let (completed, failure) = await links.perform(operations)
                report.linkWrites += completed
                done += plan.steps[index..<(index + completed)]
                if let failure {
                    let rollback = await undo(done)
                    throw ApplyFailure(step: plan.steps[index + completed], stepIndex: index + completed, reason: failure, rollbackErrors: rollback)
                }
                index = end
                progress?(index, plan.steps.count, plan.steps[index - 1])
                continue
            }
            do {
                try await perform(step.action, report: &report)
            } catch {
                let rollback = await undo(done)
                throw ApplyFailure(step: step, stepIndex: index, reason: error, rollbackErrors: rollback)
            }
            done.append(step)
            index += 1
            progress?(index, plan.steps.count, step)
        }
        report.elapsed = elapsed()
        return report
    }

    private func perform(_ action: PlanStep.Action, report: inout ApplyReport) async throws -> Void {
        switch action {
        case .link(let operation):
            try await links.perform(operation)
            report.linkWrites += 1
        case .firewall(let transaction):
            guard let firewall else { throw ApplierError(message: "the plan has a firewall step but no firewall dataplane was given") }
            let result = try await firewall.apply(transaction.changes, expectedGeneration: transaction.expectedGeneration)
            report.firewallMessages += result.messageCount
            report.firewallGenerations.append(result.generation)
        }
    }

    /// Undoes `done` newest first; returns what could not be undone (empty: the previous state is back).
    private func undo(_ done: [PlanStep]) async -> [String] {
        var failures: [String] = []
        var scratch = ApplyReport()
        for step in done.reversed() {
            for action in step.undo {
                do { try await perform(action, report: &scratch) } catch {
                    failures.append("could not undo \(step.subject) (\(step.detail)): \(error)")
                }
            }
        }
        return failures
    }
}

public struct ApplyReport: Hashable, Sendable {
    public var linkWrites = 0
    public var firewallMessages = 0
    /// The ruleset generations this apply's transactions committed (a daemon tells its own commits
    /// from someone else's by them).
    public var firewallGenerations: [UInt32] = []
    public var elapsed: Duration = .zero
    public init() {}
}

public struct ApplierError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A plan that stopped: which step failed and why, and whether the rollback brought everything back.
public struct ApplyFailure: Error, Sendable, CustomStringConvertible {
    public var step: PlanStep
    public var stepIndex: Int
    public var reason: any Error
    /// Undo writes that failed too; empty means the node is exactly as before the apply.
    public var rollbackErrors: [String]

    public var rolledBack: Bool { rollbackErrors.isEmpty }

    public var description: String {
        var text = "step \(stepIndex + 1) failed: \(step.subject)"
        if let owner = step.owner { text += " (for \(owner))" }
        text += ": \(step.detail): \(reason)"
        if rolledBack {
            text += "\nthe steps already done were undone; the node is as it was before"
        } else {
            text += "\nrollback incomplete:\n" + rollbackErrors.map { "  " + $0 }.joined(separator: "\n")
        }
        return text
    }
}
