import Foundation
public import Logging
import Metrics
public import SDNStore
import SDNDataplane
import SDNFirewall
import SDNNFTables
import SDNModel
import SDNConfig
import SDNReconciler
import Synchronization

/// How the controller treats the kernel.
public struct ControllerOptions: Sendable {
    public enum DriftMode: String, Sendable, CaseIterable {
        /// Put back what someone changed (the default).
        case repair
        /// Say what differs (`drift-found`, `sdn status`), change nothing until the next apply.
        case report
    }

    /// The node this daemon runs (nil: the only node the revision describes).
    public var node: String?
    public var driftMode: DriftMode
    /// The safety net behind the kernel notifications: a full compare this often.
    public var resyncInterval: Duration
    /// Notifications arriving within this window are handled as one (a guest start adds its tap, sets
    /// its MAC, brings it up: one reconcile, not three).
    public var debounce: Duration

    /// The hypervisor's word on this node's KVM guests (vmid → `running`, `shut off`, …) for `sdn guests`;
    /// without it, a guest's state is inferred from its ports.
    public var guestStates: (@Sendable () async -> [Int: String])?

    /// How long the node counts as live after it last told the store so (it does every third of it).
    public var livenessTTL: Duration

    public init(node: String? = nil, driftMode: DriftMode = .repair, resyncInterval: Duration = .seconds(60),
                debounce: Duration = .milliseconds(30), guestStates: (@Sendable () async -> [Int: String])? = nil,
                livenessTTL: Duration = .seconds(10)) {
        self.node = node
        self.livenessTTL = livenessTTL
        self.guestStates = guestStates
        self.driftMode = driftMode
        self.resyncInterval = resyncInterval
        self.debounce = debounce
    }
}

public enum NodeControlError: Error, Sendable, CustomStringConvertible {
    case noRevision
    case noSuchRevision(RevisionNumber)
    case invalidRevision(RevisionNumber, RevisionCompiler.Failure)
    case kernel(String)
    /// A hook asked for a guest's ports, and the applied revision does not put that guest on this node.
    case unknownGuest(Int, node: String, revision: RevisionNumber?)
    case guestOnOtherNode(Int, node: String, declaredNode: String)
    /// `prepare` is for KVM guests (the daemon makes their taps); LXC makes its own veths (`plug`).
    case wrongGuestKind(Int, kind: String, operation: String)
    /// A port name that belongs to no declared guest NIC of this node.
    case notAGuestPort(String, node: String)
    /// The ports were made but are not ready (not attached, or their firewall is not in the kernel).
    case portsNotReady(GuestPortsReport, reason: String)

    public var description: String {
        switch self {
        case .unknownGuest(let guest, let node, let revision):
            "guest \(guest) is not declared on node \(node) in the applied revision\(revision.map { " \($0)" } ?? ""): its ports would have no firewall; declare it under guests: in Topologies/ and apply"
        case .guestOnOtherNode(let guest, let node, let declaredNode):
            "guest \(guest) runs on node \(declaredNode) in the applied revision, not on \(node): change its node: (a move) and apply before starting it here"
        case .wrongGuestKind(let guest, let kind, let operation):
            operation == "prepare"
                ? "guest \(guest) is declared as \(kind): LXC makes its veths, and its lxc.net.N.script.up hook plugs them (sdn guest lxc-config \(guest))"
                : "guest \(guest) is declared as \(kind): its taps are prepared by the libvirt hook (sdn guest xml \(guest))"
        case .notAGuestPort(let name, let node):
            "\(name) belongs to no guest NIC declared on node \(node): it would pass no traffic; declare the guest (ports are named tap<vmid>i<n> and veth<vmid>i<n>) and apply"
        case .portsNotReady(let report, let reason):
            "guest \(report.guest)'s ports are not ready: \(reason)"
        case .noRevision: "there is no revision yet: push a configuration first (sdn push)"
        case .noSuchRevision(let number): "no revision \(number)"
        case .invalidRevision(let number, let failure): "revision \(number): \(failure)"
        case .kernel(let message): message
        }
    }
}

/// The reconcile loop of one node: applies the target revision, then keeps the kernel there. It wakes
/// on kernel notifications (a guest port appears, someone edits our tables), on a new target, and on a
/// periodic resync; notifications within `debounce` are coalesced into one reconcile. Reconciles never
/// overlap: an API apply waits for the one running.
public actor NodeController: NodeControl {
    private let store: any StateStore
    let kernel: any NodeKernel
    let options: ControllerOptions
    let logger: Logger
    public nonisolated let broadcaster: EventBroadcaster
    private let resolvedNode: Mutex<String>
    private let statusSnapshot: Mutex<NodeStatusReport>

    private var features: KernelFeatures?
    /// The last revision compiled (one revision is compiled once, whatever wakes the loop). `complete`:
    /// compiled as a whole, rather than patched by the incremental path (whose diagnostics cover the
    /// changed guests only).
    var compiled: (revision: RevisionNumber, features: KernelFeatures, result: RevisionCompiler.Compiled, complete: Bool, departing: Set<Int>)?
    /// Guests the target moved to another node whose ports are still here (a live migration in flight, a
    /// container not stopped yet): they keep their ports and firewall on this node until their ports are
    /// gone (the hook's release, the container's stop), and only then leave this node's ruleset.
    var departing: Set<Int> = []
    /// Validated models by revision, shared with the API (which made them when it wrote the revision).
    private let stateCache: RevisionStateCache
    /// The documents of the last revision loaded from the store, parsed: a revision another node made
    /// (one file edited) parses only what changed.
    private let parsedDocuments = ParsedDocumentCache()
    /// What the kernel's firewall holds as far as this controller knows: the applied revision's model
    /// and compiled state, and the ruleset generation at which they were verified (a converged full
    /// reconcile) or committed (an incremental apply). A new target that changes only some guests'
    /// policies is applied as a delta against it, guarded by that generation: if anyone committed since,
    /// the kernel refuses the delta and the full path runs instead.
    private var baseline: Baseline?

    struct Baseline {
        var revision: RevisionNumber
        var features: KernelFeatures
        var validated: Validated<DesiredState>
        var compiled: RevisionCompiler.Compiled
        var generation: UInt32
    }

    /// A target's firewall as a delta against the baseline (see `incrementalChange`).
    typealias Delta = (compiled: RevisionCompiler.Compiled, validated: Validated<DesiredState>, changes: [FirewallChange], guests: Set<Int>)
    /// The last delta computed, for the target and the baseline (revision, generation) it was computed over.
    private var lastDelta: (target: RevisionNumber, baseline: (RevisionNumber, UInt32), delta: Delta?)?

    /// The incremental path takes at most this many changed guests; more go through the full compare.
    static let incrementalGuestLimit = 64
    var appliedRevision: RevisionNumber?
    /// The target generation the kernel holds, and the one the loop works on now.
    private var appliedGeneration: Int64?
    private var workingGeneration: Int64?
    var lastError: String?
    /// Since when, and why, the store cannot be reached (nil: it answered last time). Meanwhile the node
    /// keeps enforcing its applied revision: drift is repaired against it, nothing is flushed.
    private var storeUnreachable: (since: Date, reason: String)?
    /// The node name whose liveness this controller has kept (nil before the first).
    private var livenessRecorded: String?
    /// A status the store did not take (it was away): written again once it answers.
    private var statusUnrecorded = false
    /// The installed ports last recorded, and at which generation.
    private var recordedPorts: (ports: Set<String>, generation: Int64?)?
    private var lastReconcile: Date?
    private var drift = false
    var presentPorts: Set<String> = []
    /// Notifications since the last reconcile.
    private var pending = PendingWork()
    private var wake: AsyncStream<Void>.Continuation?
    /// The reconcile running now; the next waits for it.
    private var tail: Task<Void, Never>?

    private let applyTimer = Timer(label: "sdn_apply_duration_seconds")
    private let kernelWrites = Counter(label: "sdn_kernel_writes_total")
    private let driftRepairs = Counter(label: "sdn_drift_repairs_total")
    private let driftFound = Counter(label: "sdn_drift_found_total")
    private let reconciles = Counter(label: "sdn_reconciles_total")
    /// For alerting on a node that lags its cluster or lost its store.
    private let appliedGenerationGauge = Gauge(label: "sdn_applied_generation")
    private let targetGenerationGauge = Gauge(label: "sdn_target_generation")
    private let storeUnreachableGauge = Gauge(label: "sdn_store_unreachable")

    /// The newest ruleset generation this controller committed. A commit notification with a generation
    /// up to it is not drift: it is ours, or another writer's from before our last apply, which planned
    /// against it (or, if it raced, was refused by the generation guard and planned again).
    private var ownGenerationHighWater: UInt32?

    struct PendingWork {
        /// Generations of commits seen (nil: a commit whose generation is unknown).
        var rulesetCommits: [UInt32?] = []
        var kernelRuleset: Bool { !rulesetCommits.isEmpty }
        var overrun = false
        var resync = false
        var target = false
        var links: [LinkEvent] = []
        /// `apply` asked for it (repairs in report mode too).
        var explicitApply = false
        var isEmpty: Bool { !kernelRuleset && !overrun && !resync && !target && !explicitApply && links.isEmpty }
    }

    public init(store: any StateStore, kernel: any NodeKernel, options: ControllerOptions = .init(),
                broadcaster: EventBroadcaster = EventBroadcaster(), logger: Logger = Logger(label: "sdnd.controller"),
                stateCache: RevisionStateCache = RevisionStateCache()) {
        self.store = store
        self.stateCache = stateCache
        self.kernel = kernel
        self.options = options
        self.broadcaster = broadcaster
        self.logger = logger
        resolvedNode = Mutex(options.node ?? "")
        statusSnapshot = Mutex(NodeStatusReport(node: options.node ?? "", targetRevision: nil, appliedRevision: nil, headRevision: nil,
                                                pendingChanges: false, drift: false, lastError: nil, lastReconcile: nil, portsPlugged: [],
                                                portsMissing: [], driftMode: options.driftMode.rawValue))
    }

    public nonisolated var nodeName: String { resolvedNode.withLock { $0 } }

    public nonisolated func events() -> AsyncStream<DaemonEvent> { broadcaster.subscribe() }

    // MARK: the loop

    /// Applies the target revision (adopting what the kernel already holds: a restart changes nothing
    /// when the kernel is converged), then follows notifications until the task is cancelled.
    /// `onStarted` runs once the first reconcile finished (the daemon's readiness).
    public func run(onStarted: @Sendable () -> Void = {}) async {
        let (wakeups, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        wake = wakeContinuation
        _ = await currentFeatures()
        // Subscribed before the first reconcile, so that a target chosen while it runs is not missed.
        let storeChanges = store.changes()
        // A daemon that starts applies its target; one that has applied it already (the loop restarted)
        // checks for drift as its mode says.
        let startWork = PendingWork(target: appliedRevision == nil)
        _ = await serialized { await $0.reconcileNow(startWork, reason: "start") }
        onStarted()
        let kernel = self.kernel
        let interval = options.resyncInterval
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await trigger in kernel.triggers() { await self.note(trigger) }
            }
            group.addTask {
                while !Task.isCancelled {
                    do { try await Task.sleep(for: interval) } catch { return }
                    await self.noteResync()
                }
            }
            group.addTask { await self.keepAlive() }
            group.addTask {
                // Another writer of a shared store (the cluster) can move the target.
                for await change in storeChanges {
                    if case .targetChanged = change { await self.noteTarget() }
                }
            }
            group.addTask {
                for await _ in wakeups {
                    do { try await Task.sleep(for: self.options.debounce) } catch { return }
                    let work = await self.takePending()
                    if work.isEmpty { continue }
                    // (Own commits are filtered inside the serialized reconcile, after the apply that
                    // made them has recorded their generations.)
                    _ = await self.serialized { await $0.reconcileNow(work, reason: work.reason) }
                }
            }
            await group.next()
            group.cancelAll()
        }
        wakeContinuation.finish()
        // A graceful stop: the node is dead at once, not a TTL later.
        if !nodeName.isEmpty { try? await store.endNodeLiveness(nodeName) }
        broadcaster.finishAll()
    }

    /// Keeps the node's liveness in the store, every third of its TTL; notes when the store goes away and
    /// comes back.
    private func keepAlive() async {
        let ttl = options.livenessTTL
        while !Task.isCancelled {
            let node = nodeName
            if !node.isEmpty {
                do {
                    try await store.keepNodeAlive(node, ttl: ttl)
                    livenessRecorded = node
                    await storeAnswered()
                } catch is CancellationError {
                    return
                } catch {
                    storeFailed(error)
                }
            }
            do { try await Task.sleep(for: ttl / 3) } catch { return }
        }
    }

    private func storeFailed(_ error: any Error) {
        guard storeUnreachable == nil else { return }
        storeUnreachable = (Date(), "\(error)")
        let keeping = appliedRevision.map { "keeping revision \($0) enforced" } ?? "the kernel is left as it is"
        logger.warning("cannot reach the store: \(error); \(keeping) until it answers")
        broadcaster.publish(DaemonEvent(kind: .applyFailed, node: nodeName, revision: appliedRevision,
                                        message: "the store is unreachable (\(error)); \(keeping)"))
        publishStatus()
    }

    /// The store answers again: catch up on whatever target was chosen meanwhile (the watch resumes too;
    /// this also covers a node that started while the store was away) and report what was not recorded.
    private func storeAnswered() async {
        guard storeUnreachable != nil || statusUnrecorded else { return }
        if let since = storeUnreachable?.since {
            logger.notice("the store answers again (unreachable for \(Int(Date().timeIntervalSince(since))) s)")
        }
        storeUnreachable = nil
        publishStatus()
        if statusUnrecorded { await recordStatus() }
        noteTarget()
    }
    /// Waits for the reconcile in flight (shutdown: the process must not exit in the middle of a plan).
    public func drain() async {
        await tail?.value
    }

    private func note(_ trigger: KernelTrigger) {
        switch trigger {
        case .link(let event): pending.links.append(event)
        case .ruleset(let generation): pending.rulesetCommits.append(generation)
        case .overrun: pending.overrun = true
        }
        wake?.yield()
    }

    private func noteResync() {
        pending.resync = true
        wake?.yield()
    }

    private func noteTarget() {
        pending.target = true
        wake?.yield()
    }

    private func takePending() -> PendingWork {
        defer { pending = PendingWork() }
        return pending
    }

    /// `work` without the commits this controller made itself (its own applies notify it too).
    private func withoutOwnCommits(_ work: PendingWork) -> PendingWork {
        var filtered = work
        filtered.rulesetCommits = work.rulesetCommits.filter { generation in
            guard let generation, let highWater = ownGenerationHighWater else { return true }
            return generation > highWater
        }
        return filtered
    }

    /// Runs `body` after the reconcile running now (if any) finished.
    func serialized<T: Sendable>(_ body: @escaping @Sendable (isolated NodeController) async -> T) async -> T {
        let previous = tail
        let task = Task { () -> T in
            await previous?.value
            return await body(self)
        }
        tail = Task { _ = await task.value }
        return await task.value
    }

    private func currentFeatures() async -> KernelFeatures {
        if let features { return features }
        let probed = await kernel.features()
        features = probed
        logger.info("kernel: \(probed)")
        return probed
    }

    /// The revision compiled as a whole for this node (what `plan` shows and the full reconcile applies).
    /// `complete`: compiled as a whole, for its diagnostics (a patched result holds the same desired
    /// state, but only the changed guests' findings).
    func compile(_ number: RevisionNumber, complete: Bool = true) async throws -> RevisionCompiler.Compiled {
        let features = await currentFeatures()
        if let compiled, compiled.revision == number, compiled.features == features, compiled.complete || !complete,
           compiled.departing == departing { return compiled.result }
        let validated = try await validatedState(of: number)
        do {
            let result = try RevisionCompiler.compile(validated, node: options.node, features: features, keeping: departing)
            resolvedNode.withLock { $0 = result.desired.node }
            compiled = (number, features, result, true, departing)
            return result
        } catch {
            throw NodeControlError.invalidRevision(number, error)
        }
    }

    func validatedState(of number: RevisionNumber) async throws -> Validated<DesiredState> {
        if let cached = stateCache.state(of: number) { return cached }
        guard let documents = try await store.documents(of: number) else { throw NodeControlError.noSuchRevision(number) }
        do {
            let validated = try RevisionCompiler.load(documents, cache: parsedDocuments)
            stateCache.remember(validated, for: number)
            return validated
        } catch {
            throw NodeControlError.invalidRevision(number, error)
        }
    }

    /// One new target's firewall as a delta against the baseline, when the target changes only some
    /// guests' policies and the changed guests need no object the kernel lacks; nil otherwise (the
    /// full path then compiles and compares everything).
    private func incrementalChange(to target: RevisionNumber) async -> Delta? {
        guard let baseline else { return nil }
        // `apply` asks first (to refuse what does not compile), then its reconcile: compute it once.
        if let lastDelta, lastDelta.target == target, lastDelta.baseline == (baseline.revision, baseline.generation) { return lastDelta.delta }
        let delta = await computeIncrementalChange(to: target, over: baseline)
        lastDelta = (target, (baseline.revision, baseline.generation), delta)
        return delta
    }

    private func computeIncrementalChange(to target: RevisionNumber, over baseline: Baseline) async -> Delta? {
        guard let features, baseline.features == features, let ruleset = baseline.compiled.desired.firewall,
              let validated = try? await validatedState(of: target),
              let changed = validated.value.guestPolicyChanges(since: baseline.validated.value),
              !changed.isEmpty, changed.count <= Self.incrementalGuestLimit else { return nil }
        let node = baseline.compiled.desired.node
        let before = FirewallCompiler.compileGuests(changed, of: baseline.validated, node: node, features: features)
        let after = FirewallCompiler.compileGuests(changed, of: validated, node: node, features: features)
        // A compile error is the full path's to report; new dependencies need the full compare.
        guard !after.diagnostics.hasErrors, after.dependenciesSatisfied(by: ruleset, replacing: before) else { return nil }
        var patched = ruleset
        after.patch(&patched, replacing: before)
        var result = baseline.compiled
        result.desired.firewall = patched
        result.diagnostics = validated.diagnostics + after.diagnostics
        return (result, validated, FirewallCompiler.changes(from: before, to: after), changed)
    }

    // MARK: one reconcile

    /// Brings the kernel to the target revision; what it reports depends on why it ran: an apply of a
    /// new target, a port that appeared, or drift.
    func reconcileNow(_ unfiltered: PendingWork, reason: String) async -> NodeApplyResult? {
        let work = withoutOwnCommits(unfiltered)
        if work.isEmpty { return nil }
        reconciles.increment()
        let node = nodeName
        let target: RevisionNumber
        do {
            guard let state = try await store.targetState() else { return nil }
            target = state.revision
            workingGeneration = state.generation
            if storeUnreachable != nil { await storeAnswered() }
        } catch {
            // The store is away: the kernel keeps the applied revision (drift repaired against it, ports
            // attached), never an empty state because the store did not answer.
            storeFailed(error)
            guard let applied = appliedRevision, compiled?.revision == applied else { return nil }
            target = applied
            workingGeneration = appliedGeneration
        }
        // The store's echo of the apply that just converged this revision (or another writer choosing the
        // revision this node already runs): nothing to do. Comparing the whole state would dump the ruleset
        // (seconds at 1,000 guests) while the next apply waits; drift has its own notifications.
        if appliedRevision == target, work.target, !work.explicitApply, work.links.isEmpty, !work.overrun, !work.resync, !work.kernelRuleset {
            // The same revision chosen again is a new generation, and the node holds it already.
            if let workingGeneration, workingGeneration != appliedGeneration, lastError == nil {
                appliedGeneration = workingGeneration
                await recordStatus()
            }
            return nil
        }
        let departingNow = await departingGuests(target: target)
        let departingChanged = departingNow != departing
        if departingChanged {
            logger.info("guests leaving this node keep their firewall here while their ports remain: \(departingNow.sorted().map(String.init).joined(separator: ", "))")
        }
        departing = departingNow
        // A new target and nothing else to look at: try it as a delta of the guests it changes.
        if appliedRevision != target, work.links.isEmpty, departing.isEmpty, !departingChanged, !work.overrun, !work.resync, !work.kernelRuleset,
           let delta = await incrementalChange(to: target),
           let result = await applyIncrementally(delta, target: target, reason: reason) {
            return result
        }
        let compiled: RevisionCompiler.Compiled
        do {
            compiled = try await compile(target, complete: false)
        } catch {
            lastError = "\(error)"
            lastReconcile = Date()
            await recordStatus()
            broadcaster.publish(DaemonEvent(kind: .applyFailed, node: nodeName, revision: target, message: "\(error)"))
            return NodeApplyResult(node: nodeName, revision: target, converged: false, outcome: "invalid", errors: ["\(error)"],
                                   stepsApplied: 0, linkWrites: 0, firewallMessages: 0, milliseconds: 0)
        }
        let newTarget = appliedRevision != target
        // A target notification for the revision already applied (the store echoing our own apply) is
        // no reason to write; an explicit apply is.
        if options.driftMode == .report && !newTarget && !work.explicitApply {
            // Report mode writes only what attaching appeared guest ports needs; any other difference
            // (links or ruleset, whatever woke the loop) is reported and left for `sdn apply`.
            if !work.links.isEmpty {
                let ports = Set(compiled.guestPorts)
                // Links only (the ruleset is keyed by names and not the port's business), approved only
                // when every step attaches a port.
                var links = compiled.desired
                links.firewall = nil
                let attached = await kernel.reconciler.reconcile(links, approve: { plan in Self.onlyPortSteps(plan, ports: ports) })
                rememberOwnCommits(attached)
                await updatePorts(compiled, events: work.links)
            }
            return await reportDrift(compiled, target: target)
        }
        if newTarget {
            broadcaster.publish(DaemonEvent(kind: .applyStarted, node: nodeName, revision: target, message: "applying revision \(target) (\(reason))"))
        }
        // Links that came or went, and nothing else: the firewall (keyed by interface names) is not
        // involved, and reading a large ruleset back would cost more than the attachment itself.
        let linksOnly = !newTarget && !work.target && !work.overrun && !work.resync && !work.kernelRuleset && !work.links.isEmpty
            && !departingChanged
        var desired = compiled.desired
        if linksOnly { desired.firewall = nil }
        let started = ContinuousClock.now
        let report = await kernel.reconciler.reconcile(desired, dryRun: false, approve: nil)
        rememberOwnCommits(report)
        let elapsed = ContinuousClock.now - started
        lastReconcile = Date()
        let result = NodeApplyResult(node: node.isEmpty ? report.node : node, revision: target, converged: report.converged,
                                     outcome: Self.outcomeName(report.outcome), errors: report.errors.map(\.description),
                                     stepsApplied: report.stepsApplied, linkWrites: report.linkWrites,
                                     firewallMessages: report.firewallMessages, milliseconds: elapsed.milliseconds)
        let writes = report.linkWrites + report.firewallMessages
        if writes > 0 { kernelWrites.increment(by: writes) }
        let figures: [String: Double] = ["steps": Double(result.stepsApplied), "linkWrites": Double(result.linkWrites),
                                         "firewallMessages": Double(result.firewallMessages), "milliseconds": result.milliseconds]
        if report.converged {
            applyTimer.recordNanoseconds(elapsed.nanoseconds)
            if let generation = report.verifiedGeneration, desired.firewall != nil, let features,
               let validated = try? await validatedState(of: target) {
                baseline = Baseline(revision: target, features: features, validated: validated, compiled: compiled, generation: generation)
            } else if desired.firewall != nil {
                baseline = nil
            }
            let previouslyApplied = appliedRevision
            appliedRevision = target
            appliedGeneration = workingGeneration
            lastError = nil
            drift = false
            if newTarget, let validated = try? await validatedState(of: target) {
                let previous = if let previouslyApplied { try? await validatedState(of: previouslyApplied) } else { Validated<DesiredState>?.none }
                await followRunningGuests(validated.value, previous: previous?.value, compiled: compiled)
            }
            // Which ports are present changes only with links (or a new revision naming others): a drift
            // check of the ruleset alone does not read the links again.
            if newTarget || work.target || work.overrun || work.resync || !work.links.isEmpty {
                await updatePorts(compiled, events: work.links)
            }
            if newTarget {
                broadcaster.publish(DaemonEvent(kind: .applyFinished, node: result.node, revision: target,
                                                message: "revision \(target) applied: \(Self.summary(result))", figures: figures))
                if previouslyApplied == nil && report.stepsApplied == 0 {
                    logger.info("adopted the kernel as it is: it already holds revision \(target)")
                }
            } else if report.stepsApplied > 0 && !Self.onlyPortSteps(report, ports: Set(compiled.guestPorts)) {
                driftRepairs.increment()
                broadcaster.publish(DaemonEvent(kind: .driftRepaired, node: result.node, revision: target,
                                                message: "the kernel had drifted from revision \(target); repaired: \(Self.summary(result))", figures: figures))
            }
        } else {
            baseline = nil
            lastError = result.errors.joined(separator: "; ")
            if lastError?.isEmpty ?? true { lastError = result.outcome }
            broadcaster.publish(DaemonEvent(kind: .applyFailed, node: result.node, revision: target,
                                            message: "revision \(target): \(result.outcome): \(lastError ?? "")", figures: figures))
            logger.error("reconcile of revision \(target) failed: \(lastError ?? result.outcome)")
        }
        await recordStatus()
        return result
    }

    /// Applies a delta computed by `incrementalChange` against the baseline's generation. Nil when the
    /// kernel refused it (someone committed since the baseline, or the batch failed and was undone):
    /// the caller then takes the full path, which sees and says what happened.
    private func applyIncrementally(_ delta: Delta, target: RevisionNumber, reason: String) async -> NodeApplyResult? {
        guard var baseline, let features else { return nil }
        let started = ContinuousClock.now
        var messages = 0
        if !delta.changes.isEmpty {
            guard let firewall = kernel.reconciler.firewall else { return nil }
            do {
                let report = try await firewall.apply(delta.changes, expectedGeneration: baseline.generation)
                messages = report.messageCount
                baseline.generation = report.generation
                ownGenerationHighWater = max(report.generation, ownGenerationHighWater ?? 0)
            } catch {
                logger.info("revision \(target): the incremental apply was refused (\(error)); comparing the whole state instead")
                self.baseline = nil
                return nil
            }
        }
        let elapsed = ContinuousClock.now - started
        baseline.revision = target
        baseline.validated = delta.validated
        baseline.compiled = delta.compiled
        self.baseline = baseline
        compiled = (target, features, delta.compiled, false, departing)
        appliedRevision = target
        appliedGeneration = workingGeneration
        lastError = nil
        drift = false
        lastReconcile = Date()
        if messages > 0 { kernelWrites.increment(by: messages) }
        applyTimer.recordNanoseconds(elapsed.nanoseconds)
        let guests = delta.guests.sorted().map(String.init).joined(separator: ", ")
        let result = NodeApplyResult(node: nodeName, revision: target, converged: true, outcome: "converged", errors: [],
                                     stepsApplied: delta.changes.isEmpty ? 0 : 1, linkWrites: 0, firewallMessages: messages,
                                     milliseconds: elapsed.milliseconds)
        let figures: [String: Double] = ["steps": Double(result.stepsApplied), "linkWrites": 0, "firewallMessages": Double(messages),
                                         "milliseconds": result.milliseconds, "incremental": 1]
        broadcaster.publish(DaemonEvent(kind: .applyStarted, node: result.node, revision: target,
                                        message: "applying revision \(target) (\(reason)): the firewall of guest\(delta.guests.count == 1 ? "" : "s") \(guests) only"))
        broadcaster.publish(DaemonEvent(kind: .applyFinished, node: result.node, revision: target,
                                        message: "revision \(target) applied: \(Self.summary(result)) (incremental: guest\(delta.guests.count == 1 ? "" : "s") \(guests))", figures: figures))
        await recordStatus()
        return result
    }

    /// The guests `target` places on another node that were this node's (in the applied revision, or
    /// leaving already) and still have a port here.
    private func departingGuests(target: RevisionNumber) async -> Set<Int> {
        let node = nodeName
        guard !node.isEmpty, let links = kernel.links, let state = try? await validatedState(of: target) else { return [] }
        var previous: Validated<DesiredState>?
        if let appliedRevision, appliedRevision != target { previous = try? await validatedState(of: appliedRevision) }
        let candidates = state.value.guests.filter { guest in
            guest.node != node && (departing.contains(guest.id) || previous?.value.guests.contains { $0.id == guest.id && $0.node == node } == true)
        }
        guard !candidates.isEmpty, let present = try? await observedLinks(links) else { return [] }
        return Set(candidates.filter { guest in
            guest.nics.contains { present[InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: $0.index)] != nil }
        }.map(\.id))
    }

    private func rememberOwnCommits(_ report: ReconcileReport) {
        if let newest = report.rounds.flatMap(\.report.firewallGenerations).max() {
            ownGenerationHighWater = max(newest, ownGenerationHighWater ?? 0)
        }
    }

    private func reportDrift(_ compiled: RevisionCompiler.Compiled, target: RevisionNumber) async -> NodeApplyResult? {
        do {
            let plan = try await kernel.reconciler.plan(compiled.desired)
            lastReconcile = Date()
            let drifted = !plan.isEmpty
            if drifted && !drift {
                driftFound.increment()
                broadcaster.publish(DaemonEvent(kind: .driftFound, node: nodeName, revision: target,
                                                message: "the kernel differs from revision \(target) in \(plan.steps.count) step\(plan.steps.count == 1 ? "" : "s") (drift mode: report; `sdn plan` shows them, `sdn apply` repairs)"))
            }
            drift = drifted
        } catch {
            lastError = "cannot read the kernel: \(error)"
        }
        await recordStatus()
        return nil
    }

    /// Ports the target's guests have that are present now; a link event for one of them after a
    /// converged reconcile means it was attached (or went away).
    private func updatePorts(_ compiled: RevisionCompiler.Compiled, events: [LinkEvent]) async {
        let ports = Set(compiled.guestPorts)
        var present = presentPorts.intersection(ports)
        if let links = kernel.links, let observed = try? await links.observe(ObservationScope(bridgeVLANs: false, nodeWideIPv6: false)) {
            present = Set(observed.links.map(\.spec.name)).intersection(ports)
        }
        for name in present.subtracting(presentPorts).sorted() {
            let owner = compiled.desired.network?.links.first { $0.spec.name == name }
            let bridge = owner?.spec.master.map { " to \($0)" } ?? ""
            broadcaster.publish(DaemonEvent(kind: .portPlugged, node: nodeName, revision: appliedRevision,
                                            message: "\(name) (\(owner?.owner ?? "guest")) attached\(bridge) with its firewall"))
        }
        for name in presentPorts.subtracting(present).sorted() {
            broadcaster.publish(DaemonEvent(kind: .portUnplugged, node: nodeName, revision: appliedRevision, message: "\(name) is gone"))
        }
        presentPorts = present
        publishStatus()
        await recordInstalledPorts()
    }

    /// The ports present and attached with their firewall, as the store's `installed` records (written
    /// when the set or the generation changed).
    private func recordInstalledPorts() async {
        let node = nodeName
        guard !node.isEmpty, recordedPorts.map({ $0.ports != presentPorts || $0.generation != appliedGeneration }) ?? true else { return }
        let now = Date()
        let installed = presentPorts.sorted().compactMap { name in
            InterfaceNaming.guestPort(named: name).map {
                InstalledPort(port: name, node: node, guest: $0.guestID, generation: appliedGeneration, installedAt: now)
            }
        }
        do {
            try await store.recordInstalledPorts(installed, node: node)
            recordedPorts = (presentPorts, appliedGeneration)
        } catch {
            logger.warning("cannot record the node's installed ports: \(error)")
        }
    }

    func recordStatus() async {
        publishStatus()
        // The node's name is known from its first compile on: it is live from its first report, not a
        // third of a TTL later (an `apply --wait` right after the first apply would call it dead).
        if livenessRecorded != nodeName, !nodeName.isEmpty {
            do {
                try await store.keepNodeAlive(nodeName, ttl: options.livenessTTL)
                livenessRecorded = nodeName
            } catch {
                storeFailed(error)
            }
        }
        let status = NodeApplyStatus(node: nodeName, appliedRevision: appliedRevision, appliedGeneration: appliedGeneration,
                                     generation: workingGeneration, lastError: lastError, drift: drift, updatedAt: Date())
        do {
            try await store.recordNodeStatus(status)
            statusUnrecorded = false
        } catch {
            statusUnrecorded = true
            storeFailed(error)
        }
    }

    // MARK: NodeControl

    public func plan(revision: RevisionNumber?) async throws -> NodePlan {
        let number = try await resolve(revision)
        let compiled = try await compile(number)
        let plan: Plan
        do { plan = try await kernel.reconciler.plan(compiled.desired) } catch {
            throw NodeControlError.kernel("cannot read the kernel's state: \(error)")
        }
        let firewallChanges = plan.steps.reduce(0) { count, step in
            if case .firewall(let transaction) = step.action { count + transaction.changes.count } else { count }
        }
        return NodePlan(node: compiled.desired.node, revision: number, text: PlanRenderer.render(plan, firewallLimit: 200),
                        steps: plan.steps.count, firewallChanges: firewallChanges, conflicts: plan.conflicts,
                        diagnostics: compiled.diagnostics.map(\.description))
    }

    public func apply(revision: RevisionNumber?, author: String) async throws -> NodeApplyResult {
        let number = try await resolve(revision)
        // Refuse a revision that does not compile before it becomes the target (a delta of a few guests
        // was compiled, for them, by `incrementalChange`).
        if await incrementalChange(to: number) == nil { _ = try await compile(number, complete: false) }
        try await store.setTarget(number, author: author)
        var work = PendingWork(target: true)
        work.explicitApply = true
        let outcome = await serialized { [work] in (await $0.reconcileNow(work, reason: "apply by \(author)"), $0.workingGeneration) }
        guard var result = outcome.0 else { throw NodeControlError.noRevision }
        result.generation = outcome.1
        return result
    }

    /// Never waits for the loop: a reconcile of a large state keeps the actor busy for a while, and
    /// status pages are read often. It reads the loop's last published snapshot and the store.
    public nonisolated func status() async throws -> NodeStatusReport {
        var report = statusSnapshot.withLock { $0 }
        let head: RevisionNumber?
        let target: TargetState?
        do {
            head = try await store.headNumber()
            target = try await store.targetState()
        } catch {
            // A node cut off from the store still says what its kernel holds, and why it cannot say more.
            report.node = nodeName
            report.storeError = "\(error)"
            return report
        }
        report.node = nodeName
        report.targetRevision = target?.revision
        report.targetGeneration = target?.generation
        report.headRevision = head
        report.pendingChanges = head != nil && head != target?.revision
        return report
    }

    /// The loop's own part of `status()`, published after every change of it.
    private func publishStatus() {
        if let appliedGeneration { appliedGenerationGauge.record(appliedGeneration) }
        if let workingGeneration { targetGenerationGauge.record(workingGeneration) }
        storeUnreachableGauge.record(storeUnreachable == nil ? 0 : 1)
        var missing: [String] = []
        if let compiled = compiled?.result { missing = compiled.guestPorts.filter { !presentPorts.contains($0) } }
        let report = NodeStatusReport(node: nodeName, targetRevision: nil, appliedRevision: appliedRevision, headRevision: nil,
                                      pendingChanges: false, drift: drift, lastError: lastError, lastReconcile: lastReconcile,
                                      portsPlugged: presentPorts.sorted(), portsMissing: missing, driftMode: options.driftMode.rawValue,
                                      targetGeneration: workingGeneration, appliedGeneration: appliedGeneration,
                                      storeError: storeUnreachable?.reason)
        statusSnapshot.withLock { $0 = report }
    }

    private func resolve(_ revision: RevisionNumber?) async throws -> RevisionNumber {
        if let revision {
            guard try await store.revision(revision) != nil else { throw NodeControlError.noSuchRevision(revision) }
            return revision
        }
        guard let head = try await store.headNumber() else { throw NodeControlError.noRevision }
        return head
    }

    // MARK: wording

    static func outcomeName(_ outcome: ReconcileReport.Outcome) -> String {
        switch outcome {
        case .upToDate: "up-to-date"
        case .converged: "converged"
        case .dryRun: "dry-run"
        case .declined: "declined"
        case .refused: "refused"
        case .failed: "failed"
        case .generationKeptChanging: "generation-kept-changing"
        case .diverged: "diverged"
        case .cannotObserve: "cannot-observe"
        case .cannotEnableBridgeNetfilter: "cannot-enable-br-netfilter"
        }
    }

    static func summary(_ result: NodeApplyResult) -> String {
        if result.stepsApplied == 0 { return "the kernel already matched" }
        var parts: [String] = []
        if result.linkWrites > 0 { parts.append("\(result.linkWrites) link write\(result.linkWrites == 1 ? "" : "s")") }
        if result.firewallMessages > 0 { parts.append("\(result.firewallMessages) firewall message\(result.firewallMessages == 1 ? "" : "s")") }
        return parts.joined(separator: ", ") + String(format: " in %.1f ms", result.milliseconds)
    }

    /// Whether every step applied concerned guest ports (attaching a port that appeared is the loop's
    /// job, not a repair of drift).
    static func onlyPortSteps(_ report: ReconcileReport, ports: Set<String>) -> Bool {
        !ports.isEmpty && report.rounds.allSatisfy { onlyPortSteps($0.plan, ports: ports) }
    }

    static func onlyPortSteps(_ plan: Plan, ports: Set<String>) -> Bool {
        !ports.isEmpty && plan.steps.allSatisfy { step in ports.contains { step.subject.contains($0) } }
    }
}

extension NodeController.PendingWork {
    init(target: Bool) {
        self.init()
        self.target = target
    }

    var reason: String {
        var reasons: [String] = []
        if target { reasons.append("new target") }
        if !links.isEmpty { reasons.append("link events: " + Set(links.map(\.name)).sorted().joined(separator: ", ")) }
        if kernelRuleset { reasons.append("ruleset changed") }
        if overrun { reasons.append("notifications lost") }
        if resync { reasons.append("periodic resync") }
        return reasons.joined(separator: "; ")
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    var milliseconds: Double { Double(nanoseconds) / 1e6 }
}
