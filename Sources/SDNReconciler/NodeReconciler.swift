public import SDNDataplane
public import SDNModel
public import SDNNFTables
public import SDNHostNetwork

/// What one node should be: its links and its firewall. A part that is nil is not this caller's
/// business: it is neither read nor written (`sdn apply --links`, `--firewall`).
public struct NodeDesiredState: Hashable, Sendable {
    public var node: String
    /// Links, addresses, routes, FDB, bridge VLANs, forwarding switches (from `NodeNetworkBuilder`).
    public var network: NodeNetwork?
    /// The compiled firewall, as the compiler writes it (the reconciler brings it into the kernel's
    /// canonical form before comparing).
    public var firewall: Ruleset?
    /// The guest firewall runs in br_netfilter mode (kernels without bridge conntrack): bridged IP
    /// traffic must pass the IP hooks, which is a per-namespace switch turned on before any apply.
    public var needsBridgeNetfilter: Bool

    public init(node: String, network: NodeNetwork? = nil, firewall: Ruleset? = nil, needsBridgeNetfilter: Bool = false) {
        self.node = node
        self.network = network
        self.firewall = firewall
        self.needsBridgeNetfilter = needsBridgeNetfilter
    }
}

/// The per-namespace `bridge-nf-call-iptables` / `-ip6tables` switches (a /proc write, not netlink).
public protocol BridgeNetfilterSwitch: Sendable {
    /// Turns both switches on; idempotent.
    func enable() throws
}

/// Where the reconciler says what it is doing. Not swift-log (no package for a closure); a daemon can
/// forward these to whatever it logs with.
public struct ReconcilerLog: Sendable {
    public enum Level: Int, Sendable, Comparable, CustomStringConvertible {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public var description: String { ["debug", "info", "warning", "error"][rawValue] }
    }

    public var write: @Sendable (Level, String) -> Void

    public init(_ write: @escaping @Sendable (Level, String) -> Void) { self.write = write }

    /// Says nothing (the CLI, whose output comes from ``ReconcileEvent``s).
    public static let discard = ReconcilerLog { _, _ in }

    func callAsFunction(_ level: Level, _ message: @autoclosure () -> String) { write(level, message()) }
}

/// What happens during ``NodeReconciler/reconcile(_:dryRun:approve:progress:events:)``, as it happens:
/// for a caller that shows the plan before it is applied (the CLI) or counts rounds (a daemon).
public enum ReconcileEvent: Sendable {
    /// A plan about to be checked and applied. `round` counts the applies of this run that succeeded
    /// so far: a plan in round 1 or later is what the kernel did differently from the prediction.
    /// (The final check after the last round is not reported here: it is in the outcome.)
    case planned(Plan, round: Int)
    /// A plan was applied; `round` is its number (1 for the first).
    case applied(ApplyReport, round: Int)
    /// Someone else committed a ruleset between observe and apply; everything was undone and the
    /// reconciler plans again (`attempt` is the attempt that raced).
    case retrying(ApplyFailure, attempt: Int)
}

/// One apply of a run.
public struct ReconcileRound: Sendable {
    public var plan: Plan
    public var report: ApplyReport
}

/// A failure, named by the object it concerns (the topology object or kernel object), for a caller that
/// keeps errors per object (a daemon's status, `apply --wait`).
public struct ObjectError: Hashable, Sendable, CustomStringConvertible {
    /// `guest:101/net0`, `link vxlan_web`, `rule inet sdn guest_101_in …`, or `node` for the whole node.
    public var object: String
    public var message: String
    /// The policy rule's source location, for a rule the kernel rejected.
    public var origin: SourceLocation?

    public init(object: String, message: String, origin: SourceLocation? = nil) {
        self.object = object
        self.message = message
        self.origin = origin
    }

    public var description: String { "\(object): \(message)" + (origin.map { " (from policy at \($0))" } ?? "") }
}

/// The result of one ``NodeReconciler/reconcile(_:dryRun:approve:progress:events:)``.
public struct ReconcileReport: Sendable {
    public enum Outcome: Sendable {
        /// The first plan was empty: nothing was written.
        case upToDate
        /// Applied, and a fresh plan is empty.
        case converged
        /// A dry run: the plan was made and checked, nothing was written.
        case dryRun(Plan)
        /// The approval said no; nothing was written.
        case declined(Plan)
        /// The plan has conflicts (objects with our names that we did not make); nothing was written.
        case refused(Plan)
        /// An apply failed; see `failure.rolledBack` for whether the node is as before.
        case failed(ApplyFailure)
        /// The ruleset generation moved underneath on every attempt; the last attempt was undone.
        case generationKeptChanging(ApplyFailure, attempts: Int)
        /// The rounds were used up and the node still differs by `remaining`.
        case diverged(remaining: Plan)
        /// The kernel could not be read (or the desired firewall not brought into its canonical form).
        case cannotObserve(any Error)
        /// br_netfilter mode was needed and could not be turned on; nothing was written.
        case cannotEnableBridgeNetfilter(any Error)
    }

    public var node: String
    public var outcome: Outcome
    /// Every apply that succeeded, in order.
    public var rounds: [ReconcileRound] = []
    /// Attempts that raced with another writer of the ruleset (each undone and planned again).
    public var generationRetries = 0
    /// From start to outcome, on the reconciler's clock.
    public var elapsed: Duration = .zero
    /// The ruleset generation at which the kernel's firewall was last read and found equal to the
    /// desired one (nil when it was not, or the desired state had no firewall). A later change made with
    /// this as its expected generation is refused if anyone committed in between, so a caller that kept
    /// the desired ruleset can apply a delta to it without reading the kernel again.
    public var verifiedGeneration: UInt32?

    public var stepsApplied: Int { rounds.reduce(0) { $0 + $1.plan.steps.count } }
    public var linkWrites: Int { rounds.reduce(0) { $0 + $1.report.linkWrites } }
    public var firewallMessages: Int { rounds.reduce(0) { $0 + $1.report.firewallMessages } }

    /// Whether the node is now what the desired state says.
    public var converged: Bool {
        switch outcome {
        case .upToDate, .converged: true
        default: false
        }
    }

    /// What still differs, when that is known.
    public var remaining: Plan? {
        switch outcome {
        case .dryRun(let plan), .declined(let plan), .refused(let plan), .diverged(let plan): plan
        default: nil
        }
    }

    /// The errors, each named by its object (empty when nothing failed).
    public var errors: [ObjectError] {
        switch outcome {
        case .upToDate, .converged, .dryRun, .declined:
            return []
        case .refused(let plan):
            return plan.conflicts.map { conflict in ObjectError(object: String(conflict.prefix { $0 != " " }), message: conflict) }
        case .generationKeptChanging(let failure, let attempts):
            return [ObjectError(object: "firewall", message: "the ruleset changed underneath on all \(attempts) attempts (another process keeps committing nftables transactions); "
                                + (failure.rolledBack ? "everything was undone" : "rollback incomplete"))]
                + failure.rollbackErrors.map { ObjectError(object: "node", message: $0) }
        case .failed(let failure):
            var errors = [Self.error(of: failure)]
            errors += failure.rollbackErrors.map { ObjectError(object: "node", message: $0) }
            return errors
        case .diverged(let remaining):
            return remaining.steps.map { ObjectError(object: $0.owner ?? $0.subject, message: "still differs after applying: \($0.detail)") }
        case .cannotObserve(let error):
            return [ObjectError(object: "node", message: "cannot read the kernel's state: \(error)")]
        case .cannotEnableBridgeNetfilter(let error):
            return [ObjectError(object: "node", message: "\(error)")]
        }
    }

    static func error(of failure: ApplyFailure) -> ObjectError {
        if let firewall = failure.reason as? FirewallApplyError, let change = firewall.failedChange {
            return ObjectError(object: change.objectDescription, message: firewall.message, origin: change.ruleOrigin)
        }
        return ObjectError(object: failure.step.owner ?? failure.step.subject, message: "\(failure.step.detail): \(failure.reason)")
    }
}

extension FirewallChange {
    /// The policy location of the rule this change adds, when it adds one.
    public var ruleOrigin: SourceLocation? {
        if case .addRule(_, _, _, let rule) = self { return rule.origin }
        return nil
    }
}

/// The node's control loop: observe → plan → apply → verify, for links and firewall as one plan.
///
/// One ``reconcile(_:dryRun:approve:progress:events:)`` is one run: plan; refuse on conflicts; apply
/// with rollback; when another writer committed a ruleset between observe and apply (the generation
/// moved), everything was undone, so observe and plan again (bounded by ``Limits/attempts``); after an
/// apply, plan again, because the kernel adjusts state on its own (a new bridge port gets the default
/// VLAN) and only a fresh observation says whether the node converged (bounded by ``Limits/rounds``).
/// `sdn apply` runs it once; a daemon runs it on every trigger.
public struct NodeReconciler: Sendable {
    public struct Limits: Hashable, Sendable {
        /// Plan-and-apply attempts per run, generation races included.
        public var attempts: Int
        /// Applies per run (the first and the convergence rounds after it).
        public var rounds: Int
        /// Firewall change lists longer than this go to ``FirewallDataplane/applyStaged(_:expectedGeneration:)``
        /// (several batches, hooks last) so no single transaction holds the kernel long.
        public var stagedLoadThreshold: Int

        public init(attempts: Int = 3, rounds: Int = 3, stagedLoadThreshold: Int = 50_000) {
            self.attempts = attempts
            self.rounds = rounds
            self.stagedLoadThreshold = stagedLoadThreshold
        }
    }

    public let links: (any LinkDataplane)?
    public let firewall: (any FirewallDataplane)?
    /// The tables the firewall owns, read even when the desired ruleset no longer has them (to delete them).
    public let firewallTables: [(TableFamily, String)]
    public let bridgeNetfilter: (any BridgeNetfilterSwitch)?
    public let limits: Limits
    public let clock: any Clock<Duration>
    public let log: ReconcilerLog

    public init(links: (any LinkDataplane)?, firewall: (any FirewallDataplane)?, firewallTables: [(TableFamily, String)] = [],
                bridgeNetfilter: (any BridgeNetfilterSwitch)? = nil,
                limits: Limits = Limits(), clock: any Clock<Duration> = ContinuousClock(), log: ReconcilerLog = .discard) {
        self.links = links
        self.firewall = firewall
        self.firewallTables = firewallTables
        self.bridgeNetfilter = bridgeNetfilter
        self.limits = limits
        self.clock = clock
        self.log = log
    }

    public typealias Approval = @Sendable (Plan) async -> Bool
    public typealias EventHandler = @Sendable (ReconcileEvent) -> Void

    /// Reads the kernel and plans links and firewall as one (what `sdn plan` and `sdn diff` show).
    public func plan(_ desired: NodeDesiredState) async throws -> Plan {
        try await observeAndPlan(desired).plan
    }

    /// The plan, and the generation of the ruleset it was made against.
    private func observeAndPlan(_ desired: NodeDesiredState) async throws -> (plan: Plan, generation: UInt32?) {
        var transaction: FirewallTransaction?
        var generation: UInt32?
        if let firewall, let ruleset = desired.firewall {
            let observed = try await firewall.observe(tables: firewallTables)
            generation = observed.generation
            // In the form the kernel hands back, so that like is compared with like.
            transaction = FirewallTransaction(from: observed, to: ruleset.canonical())
        }
        var network = NodeNetwork(node: desired.node)
        var observed = ObservedNetwork()
        if let links, let desiredNetwork = desired.network {
            network = desiredNetwork
            observed = try await links.observe(network.observationScope)
        }
        let plan = Planner.plan(desired: network, observed: observed, firewall: transaction)
        return (plan, generation)
    }

    /// One run of the loop (see the type's documentation).
    ///
    /// - Parameters:
    ///   - dryRun: plan and check only; write nothing (not even the br_netfilter switch).
    ///   - approve: asked before the first apply of the run (and again after a generation race, since
    ///     nothing stayed applied); `false` stops with ``ReconcileReport/Outcome/declined(_:)``.
    ///   - progress: passed to the ``Applier`` for every round.
    ///   - events: told about each plan, apply and retry as it happens.
    public func reconcile(_ desired: NodeDesiredState, dryRun: Bool = false, approve: Approval? = nil,
                          progress: Applier.Progress? = nil, events: EventHandler? = nil) async -> ReconcileReport {
        let elapsed = stopwatch(clock)
        var report = ReconcileReport(node: desired.node, outcome: .upToDate)
        report.outcome = await run(desired, dryRun: dryRun, approve: approve, progress: progress, events: events, report: &report)
        report.elapsed = elapsed()
        log(report.converged ? .info : .warning, "node \(desired.node): \(Self.summary(report))")
        return report
    }

    private func run(_ desired: NodeDesiredState, dryRun: Bool, approve: Approval?, progress: Applier.Progress?,
                     events: EventHandler?, report: inout ReconcileReport) async -> ReconcileReport.Outcome {
        if desired.needsBridgeNetfilter && !dryRun, let bridgeNetfilter {
            do { try bridgeNetfilter.enable() } catch { return .cannotEnableBridgeNetfilter(error) }
        }
        let applier = Applier(links: links ?? NoLinks(), firewall: firewall.map { StagingFirewall(base: $0, threshold: limits.stagedLoadThreshold) },
                              clock: clock)
        for attempt in 1...max(limits.attempts, 1) {
            let plan: Plan
            let generation: UInt32?
            do { (plan, generation) = try await observeAndPlan(desired) } catch { return .cannotObserve(error) }
            let round = report.rounds.count
            log(.debug, "node \(desired.node): attempt \(attempt), round \(round): \(plan.steps.count) steps, \(plan.conflicts.count) conflicts")
            events?(.planned(plan, round: round))
            if plan.isEmpty {
                report.verifiedGeneration = generation
                return round == 0 ? .upToDate : .converged
            }
            if !plan.conflicts.isEmpty { return .refused(plan) }
            if dryRun { return .dryRun(plan) }
            if round == 0, let approve, !(await approve(plan)) { return .declined(plan) }
            do {
                let applied = try await applier.apply(plan, progress: progress)
                report.rounds.append(ReconcileRound(plan: plan, report: applied))
                log(.info, "node \(desired.node): round \(report.rounds.count) applied \(plan.steps.count) steps (\(applied.linkWrites) link writes, \(applied.firewallMessages) firewall messages)")
                events?(.applied(applied, round: report.rounds.count))
                if report.rounds.count >= limits.rounds { break }
            } catch {
                guard Self.isGenerationRace(error) else { return .failed(error) }
                guard attempt < limits.attempts else { return .generationKeptChanging(error, attempts: attempt) }
                report.generationRetries += 1
                log(.info, "node \(desired.node): the ruleset changed underneath (attempt \(attempt)); undone, planning again")
                events?(.retrying(error, attempt: attempt))
            }
        }
        let remaining: Plan
        let generation: UInt32?
        do { (remaining, generation) = try await observeAndPlan(desired) } catch { return .cannotObserve(error) }
        guard remaining.isEmpty else { return .diverged(remaining: remaining) }
        report.verifiedGeneration = generation
        return .converged
    }

    /// Someone else committed between our observe and our apply, and our steps were all undone: planning
    /// again is safe. (Not rolled back: the node is in an unknown state, so stop and say so.)
    static func isGenerationRace(_ failure: ApplyFailure) -> Bool {
        (failure.reason as? FirewallApplyError)?.code == .generationChanged && failure.rolledBack
    }

    static func summary(_ report: ReconcileReport) -> String {
        let counts = "\(report.rounds.count) rounds, \(report.stepsApplied) steps, \(report.linkWrites) link writes, \(report.firewallMessages) firewall messages, \(report.generationRetries) generation retries"
        switch report.outcome {
        case .upToDate: return "up to date"
        case .converged: return "converged (\(counts))"
        case .dryRun: return "dry run"
        case .declined: return "not approved"
        case .refused(let plan): return "refused: \(plan.conflicts.count) conflicts"
        case .failed(let failure): return "failed (\(counts)): \(failure)"
        case .generationKeptChanging(_, let attempts): return "the ruleset changed underneath on all \(attempts) attempts; gave up (\(counts))"
        case .diverged(let remaining): return "still differs in \(remaining.steps.count) steps after \(counts)"
        case .cannotObserve(let error): return "cannot read the kernel: \(error)"
        case .cannotEnableBridgeNetfilter(let error): return "\(error)"
        }
    }
}

/// A reading of `clock` now, and a closure that says how long ago that was.
func stopwatch<C: Clock>(_ clock: C) -> () -> Duration where C.Duration == Duration {
    let start = clock.now
    return { start.duration(to: clock.now) }
}

/// A plan without link steps needs no link dataplane.
struct NoLinks: LinkDataplane {
    func observe(_ scope: ObservationScope) async throws -> ObservedNetwork { ObservedNetwork() }
    func perform(_ operation: LinkOperation) async throws(LinkOperationError) {
        throw LinkOperationError(operation: operation, message: "links are out of this command's scope")
    }
    var writeCount: Int { 0 }
    func linkEvents() -> AsyncThrowingStream<LinkEvent, any Error> { AsyncThrowingStream { $0.finish() } }
}

/// Sends very large change lists (a first load) as a staged load, everything else as one batch.
struct StagingFirewall: FirewallDataplane {
    let base: any FirewallDataplane
    let threshold: Int

    func observe(tables: [(TableFamily, String)]) async throws -> ObservedFirewall { try await base.observe(tables: tables) }

    func apply(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport {
        changes.count > threshold
            ? try await base.applyStaged(changes, expectedGeneration: expectedGeneration)
            : try await base.apply(changes, expectedGeneration: expectedGeneration)
    }
}
