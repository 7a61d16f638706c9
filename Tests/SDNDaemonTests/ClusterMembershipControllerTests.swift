import Foundation
import SDNDaemon
import SDNDataplane
import SDNFirewall
import SDNNFTables
import SDNStore
import SDNTesting
import Synchronization
import Testing

/// What the reconcile loop tells a shared store (generations, liveness) and what it does when that store
/// goes away: keep enforcing the applied revision, catch up when it is back. On the in-memory kernel and
/// store; `ClusterLabTests` runs three real sdnd on a real etcd.
@Suite struct ClusterMembershipControllerTests {
    typealias Fixture = NodeControllerTests

    /// A store that can be cut off: every call fails as etcd's do while `reachable` is false, and its
    /// watch delivers nothing meanwhile (as a watch on an unreachable etcd would not).
    final class SeverableStore: StateStore {
        final class Switch: Sendable {
            private let state = Mutex(true)
            var isOn: Bool { state.withLock { $0 } }
            func set(_ on: Bool) { state.withLock { $0 = on } }
        }

        let inner = InMemoryStateStore()
        let reachable = Switch()

        private func check() throws {
            guard reachable.isOn else {
                throw StateStoreError.storage("etcd unreachable at http://127.0.0.1:2379: connection refused")
            }
        }

        func createRevision(documents: [StoredDocument], author: String, message: String, expectedHead: RevisionNumber??) async throws -> Revision {
            try check(); return try await inner.createRevision(documents: documents, author: author, message: message, expectedHead: expectedHead)
        }
        func revision(_ number: RevisionNumber) async throws -> Revision? { try check(); return try await inner.revision(number) }
        func head() async throws -> Revision? { try check(); return try await inner.head() }
        func history(limit: Int, before: RevisionNumber?) async throws -> [RevisionSummary] { try check(); return try await inner.history(limit: limit, before: before) }
        func targetState() async throws -> TargetState? { try check(); return try await inner.targetState() }
        func setTarget(_ number: RevisionNumber, author: String) async throws { try check(); try await inner.setTarget(number, author: author) }
        func recordNodeStatus(_ status: NodeApplyStatus) async throws { try check(); try await inner.recordNodeStatus(status) }
        func nodeStatuses() async throws -> [NodeApplyStatus] { try check(); return try await inner.nodeStatuses() }
        func keepNodeAlive(_ node: String, ttl: Duration) async throws { try check(); try await inner.keepNodeAlive(node, ttl: ttl) }
        func endNodeLiveness(_ node: String) async throws { try check(); try await inner.endNodeLiveness(node) }
        func liveNodes() async throws -> Set<String> { try check(); return try await inner.liveNodes() }
        func recordInstalledPorts(_ ports: [InstalledPort], node: String) async throws { try check(); try await inner.recordInstalledPorts(ports, node: node) }
        func installedPorts() async throws -> [InstalledPort] { try check(); return try await inner.installedPorts() }
        func forgetNode(_ node: String) async throws { try check(); try await inner.forgetNode(node) }
        func appendAudit(_ entry: AuditEntry) async throws -> AuditEntry { try check(); return try await inner.appendAudit(entry) }
        func audit(after: Int64, limit: Int) async throws -> [AuditEntry] { try check(); return try await inner.audit(after: after, limit: limit) }
        func addToken(_ token: APIToken, secretHash: [UInt8]) async throws { try check(); try await inner.addToken(token, secretHash: secretHash) }
        func token(secretHash: [UInt8]) async throws -> APIToken? { try check(); return try await inner.token(secretHash: secretHash) }
        func tokens() async throws -> [APIToken] { try check(); return try await inner.tokens() }
        func revokeToken(id: String, at: Date) async throws { try check(); try await inner.revokeToken(id: id, at: at) }
        func changes() -> AsyncStream<StoreChange> {
            let source = inner.changes()
            let reachable = self.reachable
            return AsyncStream { continuation in
                let task = Task {
                    for await change in source where reachable.isOn { continuation.yield(change) }
                    continuation.finish()
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        }
    }

    static func until(_ seconds: Double = 30, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    static func controller(_ store: any StateStore, _ kernel: Fixture.ScriptedKernel, ttl: Duration = .seconds(3)) -> NodeController {
        NodeController(store: store, kernel: kernel,
                       options: ControllerOptions(resyncInterval: .seconds(3600), debounce: .milliseconds(20), livenessTTL: ttl))
    }

    @Test func generationsAreReportedAndTheSameRevisionChosenAgainIsTheNextWithoutKernelWork() async throws {
        let store = InMemoryStateStore()
        _ = try await store.createRevision(documents: Fixture.documents, author: "t", message: "1", expectedHead: .some(nil))
        let kernel = Fixture.ScriptedKernel()
        let controller = Self.controller(store, kernel)
        let result = try await controller.apply(revision: nil, author: "t")
        #expect(result.converged && result.generation == 1, "\(result)")
        #expect(try await store.nodeStatuses().map(\.appliedGeneration) == [1])
        let loop = try await Fixture.startLoop(controller)
        defer { loop.cancel() }
        let reads = kernel.countingFirewall.readCount
        // Another node chooses the same revision again (a re-apply): a new generation this node holds already.
        try await store.setTarget(1, author: "other node")
        #expect(try await Self.until { try await store.nodeStatuses().first?.appliedGeneration == 2 })
        #expect(kernel.countingFirewall.readCount == reads, "a generation of the revision it holds read the ruleset")
        let status = try await controller.status()
        #expect(status.targetGeneration == 2 && status.appliedGeneration == 2, "\(status)")
        // A rollback is a new generation too, applied.
        _ = try await store.createRevision(documents: Fixture.documents(guestPort: 8080), author: "t", message: "2", expectedHead: nil)
        try await store.setTarget(2, author: "other node")
        #expect(try await Self.until { try await store.nodeStatuses().first.map { $0.appliedGeneration == 3 && $0.appliedRevision == 2 } ?? false })
        try await store.setTarget(1, author: "rollback")
        #expect(try await Self.until { try await store.nodeStatuses().first.map { $0.appliedGeneration == 4 && $0.appliedRevision == 1 } ?? false })
        #expect(Set(kernel.firewallPlane.ruleset.canonical().tables) == (try Fixture.compiledTables(Fixture.documents)))
    }

    @Test func theNodeIsLiveWhileItsLoopRunsAndDeadOnceItStops() async throws {
        let store = InMemoryStateStore()
        _ = try await store.createRevision(documents: Fixture.documents, author: "t", message: "1", expectedHead: .some(nil))
        try await store.setTarget(1, author: "t")
        let controller = Self.controller(store, Fixture.ScriptedKernel(), ttl: .seconds(2))
        let loop = try await Fixture.startLoop(controller)
        #expect(try await Self.until { try await store.liveNodes() == ["n1"] })
        // Kept alive past several TTLs (polled: on a loaded machine a renewal may come late, and the next
        // makes the node live again; without renewals it would stay dead).
        try await Task.sleep(for: .seconds(6))
        #expect(try await Self.until { try await store.liveNodes() == ["n1"] })
        loop.cancel()
        await loop.value
        #expect(try await store.liveNodes().isEmpty, "a graceful stop ends the liveness at once")
    }

    @Test func aStoreThatGoesAwayLeavesTheAppliedRevisionEnforcedAndTheNodeCatchesUpWhenItReturns() async throws {
        let store = SeverableStore()
        _ = try await store.createRevision(documents: Fixture.documents, author: "t", message: "1", expectedHead: .some(nil))
        let kernel = Fixture.ScriptedKernel()
        let controller = Self.controller(store, kernel, ttl: .seconds(2))
        #expect(try await controller.apply(revision: nil, author: "t").converged)
        let loop = try await Fixture.startLoop(controller)
        defer { loop.cancel() }
        let applied = Set(kernel.firewallPlane.ruleset.canonical().tables)
        #expect(!applied.isEmpty)

        store.reachable.set(false)
        #expect(try await Self.until { (try? await controller.status())?.storeError != nil })
        // Someone deletes our table while the store is away: the loop repairs it from the applied revision.
        try kernel.firewallPlane.commitAsAnotherWriter([.deleteTable(.inet, FirewallNaming.tableName)])
        kernel.triggerContinuation.yield(.ruleset(generation: kernel.firewallPlane.generation))
        #expect(try await Self.until { Set(kernel.firewallPlane.ruleset.canonical().tables) == applied },
                "the firewall was not kept while the store was away")
        let status = try await controller.status()
        #expect(status.appliedRevision == 1 && status.storeError?.contains("unreachable") == true, "\(status)")

        // Meanwhile the cluster moved on (written behind the severed store's back; its watch saw nothing).
        let changed = Fixture.documents(guestPort: 8080)
        let second = try await store.inner.createRevision(documents: changed, author: "t", message: "2", expectedHead: nil)
        try await store.inner.setTarget(second.number, author: "another node")
        try await Task.sleep(for: .milliseconds(300))
        #expect(Set(kernel.firewallPlane.ruleset.canonical().tables) == applied)

        store.reachable.set(true)
        #expect(try await Self.until { Set(kernel.firewallPlane.ruleset.canonical().tables) == (try Fixture.compiledTables(changed)) },
                "the node did not catch up once the store answered")
        #expect(try await Self.until { try await store.inner.nodeStatuses().first?.appliedGeneration == 2 })
        #expect(try await controller.status().storeError == nil)
    }

    @Test func aGuestThatMovesKeepsItsFirewallHereUntilItsPortIsGone() async throws {
        let twoNodes = DaemonFixtures.topology().replacingOccurrences(of: "zones:", with: "  n2:\n    uplinks: { eth0: {} }\nzones:")
        let before = [StoredDocument(path: "Topologies/t.yaml", text: twoNodes), Fixture.documents[1]]
        let moved = [StoredDocument(path: "Topologies/t.yaml", text: twoNodes.replacingOccurrences(of: "node: n1", with: "node: n2")), Fixture.documents[1]]
        func tables(_ documents: [StoredDocument]) throws -> Set<Table> {
            Set(try RevisionCompiler.compile(documents, node: "n1", features: .full).desired.firewall?.canonical().tables ?? [])
        }
        #expect(try tables(before) != (try tables(moved)), "the fixture does not move anything")

        let store = InMemoryStateStore()
        _ = try await store.createRevision(documents: before, author: "t", message: "on n1", expectedHead: .some(nil))
        let kernel = Fixture.ScriptedKernel()
        let controller = NodeController(store: store, kernel: kernel,
                                        options: ControllerOptions(node: "n1", resyncInterval: .seconds(3600), debounce: .milliseconds(20)))
        let events = Fixture.EventLog(controller.events())
        #expect(try await controller.apply(revision: nil, author: "t").converged)
        let loop = try await Fixture.startLoop(controller)
        defer { loop.cancel() }
        // The guest runs here: its tap is attached.
        try await kernel.linkPlane.perform(.createLink(LinkSpec(name: "tap101i0", kind: .tap, up: false)))
        kernel.triggerContinuation.yield(.link(.added(name: "tap101i0", index: 50)))
        #expect(await events.waitFor(.portPlugged) != nil)
        #expect(try await Self.until { try await store.installedPorts().map(\.port) == ["tap101i0"] })

        // It moves to n2 (a live migration: it still runs here until the migration completes).
        let second = try await store.createRevision(documents: moved, author: "t", message: "to n2", expectedHead: nil)
        #expect(try await controller.apply(revision: second.number, author: "t").converged)
        #expect(Set(kernel.firewallPlane.ruleset.canonical().tables) == (try tables(before)), "the leaving guest lost its firewall while it still runs here")
        #expect(kernel.linkPlane.network.link(named: "tap101i0")?.spec.master != nil, "its tap was taken from it")

        // It left: libvirt's release (or the container's stop) removes the port; its firewall goes with it.
        try await kernel.linkPlane.perform(.deleteLink(name: "tap101i0"))
        kernel.triggerContinuation.yield(.link(.removed(name: "tap101i0", index: 50)))
        #expect(try await Self.until { Set(kernel.firewallPlane.ruleset.canonical().tables) == (try tables(moved)) },
                "the guest's firewall stayed on the node it left")
        #expect(try await Self.until { try await store.installedPorts().isEmpty })
    }
}
