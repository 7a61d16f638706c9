import Foundation
import SDNDaemon
import SDNDataplane
import SDNFirewall
import SDNNFTables
import SDNReconciler
import SDNStore
import SDNTesting
import Synchronization
import Testing

/// The reconcile loop's logic on the in-memory dataplanes and store: what it applies, when, what it
/// reports, and what it leaves alone. (The real kernel and socket path is `DaemonEndToEndTests`.)
@Suite struct NodeControllerTests {
    static let topology = DaemonFixtures.topology()
    static let policy = """
        cluster:
          options: { policy-in: drop }
          rules:
            - in accept SSH
        guests:
          101:
            options: { ipfilter: true }
            rules:
              - in accept tcp dport 80
        """
    static let documents = [StoredDocument(path: "Topologies/t.yaml", text: topology), StoredDocument(path: "Policies/p.yaml", text: policy)]

    /// A node kernel on the in-memory dataplanes; the test yields its notifications.
    final class ScriptedKernel: NodeKernel {
        let linkPlane: InMemoryLinkDataplane
        let firewallPlane = InMemoryFirewallDataplane()
        let countingFirewall: CountingFirewall
        let triggerStream: AsyncStream<KernelTrigger>
        let triggerContinuation: AsyncStream<KernelTrigger>.Continuation
        private let reconcilersMade = Mutex(0)

        init() {
            linkPlane = InMemoryLinkDataplane(ObservedNetwork(links: [ObservedLink(spec: LinkSpec(name: "eth0", kind: .other(""), mtu: 1500, up: true), index: 2, operationallyUp: true)]))
            (triggerStream, triggerContinuation) = AsyncStream.makeStream(of: KernelTrigger.self)
            countingFirewall = CountingFirewall(firewallPlane)
        }

        var reconcilerCount: Int { reconcilersMade.withLock { $0 } }

        var reconciler: NodeReconciler {
            reconcilersMade.withLock { $0 += 1 }
            return NodeReconciler(links: linkPlane, firewall: countingFirewall,
                                  firewallTables: [(.inet, FirewallNaming.tableName), (.bridge, FirewallNaming.tableName)])
        }

        var links: (any LinkDataplane)? { linkPlane }
        func features() async -> KernelFeatures { .full }
        func triggers() -> AsyncStream<KernelTrigger> { triggerStream }
    }

    /// The in-memory firewall, counting reads.
    final class CountingFirewall: FirewallDataplane {
        let kernel: InMemoryFirewallDataplane
        private let reads = Mutex(0)
        init(_ kernel: InMemoryFirewallDataplane) { self.kernel = kernel }
        var readCount: Int { reads.withLock { $0 } }
        func observe(tables: [(TableFamily, String)]) async throws -> ObservedFirewall {
            reads.withLock { $0 += 1 }
            return try await kernel.observe(tables: tables)
        }
        func apply(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport {
            try await kernel.apply(changes, expectedGeneration: expectedGeneration)
        }
    }

    /// Collects events; `next(_:)` waits (bounded) for one of a kind.
    final class EventLog: Sendable {
        private final class Storage: Sendable {
            let events = Mutex<[DaemonEvent]>([])
        }

        private let storage: Storage
        private let task: Task<Void, Never>

        init(_ stream: AsyncStream<DaemonEvent>) {
            let storage = Storage()
            self.storage = storage
            task = Task { for await event in stream { storage.events.withLock { $0.append(event) } } }
        }

        var all: [DaemonEvent] { storage.events.withLock { $0 } }
        func kinds() -> [DaemonEvent.Kind] { all.map(\.kind) }

        func waitFor(_ kind: DaemonEvent.Kind, count: Int = 1, seconds: Double = 30) async -> DaemonEvent? {
            let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
            while ContinuousClock.now < deadline {
                let matching = all.filter { $0.kind == kind }
                if matching.count >= count { return matching[count - 1] }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return nil
        }

        deinit { task.cancel() }
    }

    func makeController(driftMode: ControllerOptions.DriftMode = .repair) async throws -> (NodeController, ScriptedKernel, InMemoryStateStore, EventLog) {
        let store = InMemoryStateStore()
        _ = try await store.createRevision(documents: Self.documents, author: "test", message: "first", expectedHead: .some(nil))
        let kernel = ScriptedKernel()
        let controller = NodeController(store: store, kernel: kernel,
                                        options: ControllerOptions(driftMode: driftMode, resyncInterval: .seconds(3600), debounce: .milliseconds(20)))
        return (controller, kernel, store, EventLog(controller.events()))
    }

    /// Runs the loop and returns once its start (after an apply: a check that finds nothing to do) is done.
    static func startLoop(_ controller: NodeController) async throws -> Task<Void, Never> {
        let (started, continuation) = AsyncStream.makeStream(of: Void.self)
        let loop = Task { await controller.run(onStarted: { continuation.yield() }) }
        var iterator = started.makeAsyncIterator()
        _ = await iterator.next()
        return loop
    }

    /// The documents with guest 101's inbound port (and optionally the cluster's rules) changed.
    static func documents(guestPort: Int, clusterRule: String = "in accept SSH") -> [StoredDocument] {
        let policy = Self.policy.replacingOccurrences(of: "tcp dport 80", with: "tcp dport \(guestPort)")
            .replacingOccurrences(of: "in accept SSH", with: clusterRule)
        return [Self.documents[0], StoredDocument(path: "Policies/p.yaml", text: policy)]
    }

    /// What the full compile of `documents` puts in our tables, in the kernel's form.
    static func compiledTables(_ documents: [StoredDocument]) throws -> Set<Table> {
        let compiled = try RevisionCompiler.compile(documents, node: nil, features: .full)
        return Set(compiled.desired.firewall?.canonical().tables ?? [])
    }

    @Test func oneGuestsPolicyChangeIsAppliedAsADeltaWithoutReadingTheRuleset() async throws {
        let (controller, kernel, store, events) = try await makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        let reads = kernel.countingFirewall.readCount
        let batches = kernel.firewallPlane.committedBatches
        let changed = Self.documents(guestPort: 8080)
        let revision = try await store.createRevision(documents: changed, author: "test", message: "port", expectedHead: nil)
        let result = try await controller.apply(revision: revision.number, author: "test")
        #expect(result.converged && result.firewallMessages > 0, "\(result)")
        #expect(kernel.countingFirewall.readCount == reads, "the delta read the ruleset \(kernel.countingFirewall.readCount - reads) times")
        #expect(kernel.firewallPlane.committedBatches == batches + 1)
        // The delta leaves exactly what the full compile of the new revision would.
        #expect(Set(kernel.firewallPlane.ruleset.canonical().tables) == (try Self.compiledTables(changed)))
        #expect(await events.waitFor(.applyFinished, count: 2)?.message.contains("incremental") == true, "\(events.all.map(\.message))")
        #expect(try await controller.status().appliedRevision == revision.number)

        // And back, as a second delta on the first.
        let back = try await store.createRevision(documents: Self.documents, author: "test", message: "back", expectedHead: nil)
        #expect(try await controller.apply(revision: back.number, author: "test").converged)
        #expect(kernel.countingFirewall.readCount == reads)
        #expect(Set(kernel.firewallPlane.ruleset.canonical().tables) == (try Self.compiledTables(Self.documents)))
    }

    @Test func aDeltaOverARulesetSomeoneElseChangedFallsBackToTheFullCompare() async throws {
        let (controller, kernel, store, _) = try await makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        // Another writer's commit the loop was not told about (it is not running): the delta's generation
        // guard must refuse, and the full path put back what was deleted.
        try kernel.firewallPlane.commitAsAnotherWriter([.deleteTable(.inet, FirewallNaming.tableName)])
        let reads = kernel.countingFirewall.readCount
        let changed = Self.documents(guestPort: 8080)
        let revision = try await store.createRevision(documents: changed, author: "test", message: "port", expectedHead: nil)
        let result = try await controller.apply(revision: revision.number, author: "test")
        #expect(result.converged, "\(result)")
        #expect(kernel.countingFirewall.readCount > reads, "the full compare did not run")
        #expect(Set(kernel.firewallPlane.ruleset.canonical().tables) == (try Self.compiledTables(changed)))
    }

    @Test func theStoresEchoOfAnAppliedTargetReadsNothing() async throws {
        let (controller, kernel, store, _) = try await makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        let loop = try await Self.startLoop(controller)
        defer { loop.cancel() }
        let reads = kernel.countingFirewall.readCount
        // What the store says after an apply (and what another writer choosing the same revision says).
        try await store.setTarget(1, author: "echo")
        try await Task.sleep(for: .milliseconds(300))
        #expect(kernel.countingFirewall.readCount == reads, "the echo read the ruleset \(kernel.countingFirewall.readCount - reads) times")
        // A real drift notification still is checked.
        try kernel.firewallPlane.commitAsAnotherWriter([.deleteTable(.inet, FirewallNaming.tableName)])
        kernel.triggerContinuation.yield(.ruleset(generation: kernel.firewallPlane.generation))
        let deadline = ContinuousClock.now + .seconds(30)
        while kernel.countingFirewall.readCount == reads && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(kernel.countingFirewall.readCount > reads)
    }

    @Test func aChangeBeyondGuestPoliciesTakesTheFullPath() async throws {
        let (controller, kernel, store, _) = try await makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        let reads = kernel.countingFirewall.readCount
        let changed = Self.documents(guestPort: 8080, clusterRule: "in accept HTTPS")
        let revision = try await store.createRevision(documents: changed, author: "test", message: "cluster", expectedHead: nil)
        #expect(try await controller.apply(revision: revision.number, author: "test").converged)
        #expect(kernel.countingFirewall.readCount > reads)
        #expect(Set(kernel.firewallPlane.ruleset.canonical().tables) == (try Self.compiledTables(changed)))
    }

    @Test func applyMakesTheHeadTheTargetAndConverges() async throws {
        let (controller, kernel, store, events) = try await makeController()
        let result = try await controller.apply(revision: nil, author: "test")
        #expect(result.converged && result.outcome == "converged", "\(result)")
        #expect(result.firewallMessages > 0)
        #expect(kernel.firewallPlane.ruleset.table(.inet, FirewallNaming.tableName) != nil)
        #expect(try await store.target() == 1)
        #expect(try await store.nodeStatuses().first?.appliedRevision == 1)
        let status = try await controller.status()
        #expect(status.appliedRevision == 1 && !status.pendingChanges && !status.drift && status.lastError == nil)
        #expect(status.portsMissing == ["tap101i0"])
        #expect(await events.waitFor(.applyFinished) != nil)
        #expect(events.kinds().contains(.applyStarted))
        #expect(controller.nodeName == "n1")

        // Applying again writes nothing.
        let batches = kernel.firewallPlane.committedBatches
        let again = try await controller.apply(revision: 1, author: "test")
        #expect(again.outcome == "up-to-date" && kernel.firewallPlane.committedBatches == batches)
    }

    @Test func aRevisionThatDoesNotCompileNeverBecomesTheTarget() async throws {
        let (controller, _, store, _) = try await makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        let broken = try await store.createRevision(documents: [Self.documents[0], StoredDocument(path: "Policies/p.yaml", text: "cluster:\n  rules:\n    - in acept SSH\n")],
                                                    author: "test", message: "typo", expectedHead: nil)
        await #expect(throws: NodeControlError.self) { try await controller.apply(revision: broken.number, author: "test") }
        #expect(try await store.target() == 1)
        let status = try await controller.status()
        #expect(status.pendingChanges && status.appliedRevision == 1)
    }

    @Test func planSaysWhatApplyWouldDoAndWritesNothing() async throws {
        let (controller, kernel, _, _) = try await makeController()
        let plan = try await controller.plan(revision: nil)
        #expect(plan.steps > 0 && plan.firewallChanges > 0 && plan.text.contains("#"), "\(plan.text)")
        #expect(kernel.firewallPlane.committedBatches == 0 && kernel.linkPlane.writeCount == 0)
    }

    @Test func driftIsRepairedByTheLoop() async throws {
        let (controller, kernel, _, events) = try await makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        let applied = Set(kernel.firewallPlane.ruleset.canonical().tables)
        let loop = Task { await controller.run() }
        defer { loop.cancel() }
        try kernel.firewallPlane.commitAsAnotherWriter([.deleteTable(.inet, FirewallNaming.tableName)])
        #expect(Set(kernel.firewallPlane.ruleset.canonical().tables) != applied)
        kernel.triggerContinuation.yield(.ruleset(generation: kernel.firewallPlane.generation))
        let repaired = await events.waitFor(.driftRepaired)
        #expect(repaired != nil, "events: \(events.kinds())")
        #expect(Set(kernel.firewallPlane.ruleset.canonical().tables) == applied, "the repaired ruleset differs from the applied one")
    }

    @Test func reportModeSaysSoAndChangesNothing() async throws {
        let (controller, kernel, _, events) = try await makeController(driftMode: .report)
        _ = try await controller.apply(revision: nil, author: "test")
        let loop = Task { await controller.run() }
        defer { loop.cancel() }
        try kernel.firewallPlane.commitAsAnotherWriter([.deleteTable(.inet, FirewallNaming.tableName)])
        let drifted = kernel.firewallPlane.ruleset
        kernel.triggerContinuation.yield(.ruleset(generation: kernel.firewallPlane.generation))
        #expect(await events.waitFor(.driftFound) != nil, "events: \(events.kinds())")
        #expect(kernel.firewallPlane.ruleset == drifted, "report mode changed the ruleset")
        #expect(try await controller.status().drift)
        #expect(!events.kinds().contains(.driftRepaired))
    }

    @Test func reportModeAttachesAPortButLeavesRulesetDriftThatCameWithIt() async throws {
        let (controller, kernel, _, events) = try await makeController(driftMode: .report)
        _ = try await controller.apply(revision: nil, author: "test")
        let loop = Task { await controller.run() }
        defer { loop.cancel() }
        try kernel.firewallPlane.commitAsAnotherWriter([.deleteTable(.inet, FirewallNaming.tableName)])
        let drifted = kernel.firewallPlane.ruleset
        try await kernel.linkPlane.perform(.createLink(LinkSpec(name: "tap101i0", kind: .tap, up: false)))
        // Both in one debounce window: a link event must not turn report mode into repair.
        kernel.triggerContinuation.yield(.ruleset(generation: kernel.firewallPlane.generation))
        kernel.triggerContinuation.yield(.link(.added(name: "tap101i0", index: 50)))
        #expect(await events.waitFor(.driftFound) != nil, "events: \(events.kinds())")
        #expect(kernel.firewallPlane.ruleset == drifted, "report mode changed the ruleset")
        #expect(kernel.linkPlane.network.link(named: "tap101i0")?.spec.master != nil, "the port was not attached")
    }

    @Test func aGuestPortThatAppearsIsAttached() async throws {
        let (controller, kernel, _, events) = try await makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        let loop = Task { await controller.run() }
        defer { loop.cancel() }
        // The hypervisor creates the tap (not sdn): down, no master.
        try await kernel.linkPlane.perform(.createLink(LinkSpec(name: "tap101i0", kind: .tap, up: false)))
        kernel.triggerContinuation.yield(.link(.added(name: "tap101i0", index: 50)))
        let plugged = await events.waitFor(.portPlugged)
        #expect(plugged?.message.contains("tap101i0") == true, "events: \(events.kinds())")
        let tap = kernel.linkPlane.network.link(named: "tap101i0")
        #expect(tap?.spec.master != nil && tap?.spec.up == true, "\(String(describing: tap))")
        #expect(try await controller.status().portsPlugged == ["tap101i0"])
        // Attaching a port is the loop's job, not a drift repair.
        #expect(!events.kinds().contains(.driftRepaired), "\(events.all.map(\.message))")
    }

    @Test func itsOwnCommitsAreNotDrift() async throws {
        let (controller, kernel, _, events) = try await makeController()
        let result = try await controller.apply(revision: nil, author: "test")
        #expect(result.converged)
        let loop = try await Self.startLoop(controller)
        defer { loop.cancel() }
        let before = kernel.reconcilerCount
        // The notification of the daemon's own commit: nothing to check.
        kernel.triggerContinuation.yield(.ruleset(generation: kernel.firewallPlane.generation))
        try await Task.sleep(for: .milliseconds(300))
        #expect(kernel.reconcilerCount == before, "its own commit made \(kernel.reconcilerCount - before) reconciles")
        // Someone else's commit (another generation) is checked.
        try kernel.firewallPlane.commitAsAnotherWriter([.deleteTable(.inet, FirewallNaming.tableName)])
        kernel.triggerContinuation.yield(.ruleset(generation: kernel.firewallPlane.generation))
        #expect(await events.waitFor(.driftRepaired) != nil, "events: \(events.kinds())")
    }

    @Test func aGuestPortAppearingDoesNotReadTheFirewall() async throws {
        let (controller, kernel, _, events) = try await makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        let loop = try await Self.startLoop(controller)
        defer { loop.cancel() }
        let reads = kernel.countingFirewall.readCount
        try await kernel.linkPlane.perform(.createLink(LinkSpec(name: "tap101i0", kind: .tap, up: false)))
        kernel.triggerContinuation.yield(.link(.added(name: "tap101i0", index: 50)))
        #expect(await events.waitFor(.portPlugged) != nil)
        #expect(kernel.countingFirewall.readCount == reads, "attaching a port read the ruleset \(kernel.countingFirewall.readCount - reads) times")
    }

    @Test func aBurstOfNotificationsIsOneReconcile() async throws {
        let (controller, kernel, _, _) = try await makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        let loop = try await Self.startLoop(controller)
        defer { loop.cancel() }
        let before = kernel.reconcilerCount
        for index in 0..<50 { kernel.triggerContinuation.yield(.link(.changed(name: "eth0", index: Int32(index)))) }
        // The burst's reconcile (bounded wait: a loaded machine is slow, not wrong), then a while for any
        // straggler reconciles the burst would wrongly cause.
        let burstDeadline = ContinuousClock.now + .seconds(30)
        while kernel.reconcilerCount == before && ContinuousClock.now < burstDeadline { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(300))
        let reconciles = kernel.reconcilerCount - before
        #expect(reconciles >= 1 && reconciles <= 3, "50 notifications made \(reconciles) reconciles (\(before) before)")
    }
}
