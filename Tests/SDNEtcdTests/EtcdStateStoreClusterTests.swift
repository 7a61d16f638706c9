import Foundation
import SDNEtcd
import SDNStore
import SDNTesting
import Testing

/// What the contract cannot show with one store: several nodes' stores on one etcd prefix, and etcd
/// going away and coming back under them.
@Suite(.etcd) struct EtcdStateStoreClusterTests {
    static let document = StoredDocument(path: "Topologies/demo.yaml", text: "zones:\n  - name: lab\n")

    /// Two stores (each with its own client and connections, as two nodes' sdnd) on one prefix.
    static func twoNodes(_ server: EtcdTestServer) async throws -> (EtcdStateStore, EtcdStateStore) {
        let prefix = "/sdn-cluster/\(UUID().uuidString)/"
        return (try await EtcdStateStore.connect(endpoints: [server.clientURL], prefix: prefix),
                try await EtcdStateStore.connect(endpoints: [server.clientURL], prefix: prefix))
    }

    /// `alive` kept live and pve3's status recorded by `writer`; then `watcher`'s change feed, started after
    /// those (they are what it knows), once it has seen revision 1 arrive. The leases outlast the tests: a
    /// member restarted beside booting VMs took most of a minute, and a lease expiring on its own is not
    /// what they test (the full run once saw a 60 s one go).
    static func watchAfterSeeding(writer: EtcdStateStore, watcher: EtcdStateStore, alive: [String]) async throws -> AsyncStream<StoreChange> {
        for node in alive { try await writer.keepNodeAlive(node, ttl: .seconds(900)) }
        try await writer.recordNodeStatus(NodeApplyStatus(node: "pve3", appliedRevision: nil, lastError: nil, updatedAt: Date()))
        _ = try await watcher.liveNodes()
        let changes = watcher.changes()
        _ = try await writer.createRevision(documents: [Self.document], author: "t", message: "1", expectedHead: .some(nil))
        #expect(await StateStoreContract.firstChanges(changes, count: 1) == [.revisionCreated(1)])
        return changes
    }

    static func attempt(_ store: EtcdStateStore, message: String, expectedHead: RevisionNumber?) async -> Result<String, StateStoreError> {
        do {
            let document = StoredDocument(path: "w.yaml", text: "\(message)\n")
            _ = try await store.createRevision(documents: [document], author: message, message: message, expectedHead: .some(expectedHead))
            return .success(message)
        } catch let error as StateStoreError {
            return .failure(error)
        } catch {
            return .failure(.storage("\(error)"))
        }
    }

    @Test func conditionalWritesFromTwoNodesConflictPairwiseAndLoseNothing() async throws {
        let (first, second) = try await Self.twoNodes(try EtcdTestServer.shared())
        _ = try await first.createRevision(documents: [], author: "setup", message: "setup", expectedHead: .some(nil))
        var winners: [String] = []
        for round in 1...25 {
            // Both nodes expect the head they both read: exactly one may build on it.
            let head = try #require(try await second.headNumber())
            async let fromFirst = Self.attempt(first, message: "first \(round)", expectedHead: head)
            async let fromSecond = Self.attempt(second, message: "second \(round)", expectedHead: head)
            let outcomes = await [fromFirst, fromSecond]
            let wins = outcomes.compactMap { try? $0.get() }
            let refusals = outcomes.compactMap { outcome -> StateStoreError? in
                if case .failure(let error) = outcome { return error }
                return nil
            }
            #expect(wins.count == 1, "round \(round): \(outcomes)")
            #expect(refusals == [.headMoved(expected: head, actual: head + 1)], "round \(round)")
            winners += wins
        }
        let history = try await first.history(limit: 100, before: nil)
        #expect(history.map(\.number) == Array((1...26).reversed()))
        #expect(history.reversed().dropFirst().map(\.message) == winners)
        #expect(history.allSatisfy { $0.parent == ($0.number == 1 ? nil : $0.number - 1) })

        // Unconditional writes from both nodes at once: each retries on the head it finds, and all land.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<10 {
                for (name, store) in [("first", first), ("second", second)] {
                    group.addTask {
                        _ = try await store.createRevision(documents: [Self.document], author: name, message: "\(name) any \(writer)", expectedHead: nil)
                    }
                }
            }
            try await group.waitForAll()
        }
        let all = try await second.history(limit: 100, before: nil)
        #expect(all.map(\.number) == Array((1...46).reversed()))
        #expect(Set(all.prefix(20).map(\.message)) == Set((0..<10).flatMap { ["first any \($0)", "second any \($0)"] }))
        #expect(all.allSatisfy { $0.parent == ($0.number == 1 ? nil : $0.number - 1) })
    }

    @Test func changesMadeOnOneNodeReachAnother() async throws {
        let (writer, watcher) = try await Self.twoNodes(try EtcdTestServer.shared())
        let changes = watcher.changes()
        _ = try await writer.createRevision(documents: [Self.document], author: "t", message: "1", expectedHead: .some(nil))
        try await writer.setTarget(1, author: "t")
        try await writer.recordNodeStatus(NodeApplyStatus(node: "pve1", appliedRevision: 1, lastError: nil, updatedAt: Date()))
        #expect(await StateStoreContract.firstChanges(changes, count: 3) == [.revisionCreated(1), .targetChanged(1), .nodeStatus("pve1")])
        // The watcher reads what the writer wrote.
        #expect(try await watcher.head()?.documents == [Self.document])
        #expect(try await watcher.nodeStatuses().map(\.node) == ["pve1"])
    }

    @Test func aWatcherBehindCompactionCatchesUpByReading() async throws {
        // An etcd of its own: compaction would cut short other tests' watches.
        let server = try EtcdTestServer()
        defer { server.stop() }
        let (writer, late) = try await Self.twoNodes(server)
        let replaying = try await EtcdStateStore.connect(endpoints: [server.clientURL], prefix: writer.prefix)
        for number in 1...3 {
            _ = try await writer.createRevision(documents: [StoredDocument(path: "a.yaml", text: "\(number)\n")], author: "t",
                                                message: "\(number)", expectedHead: nil)
        }
        try await writer.setTarget(2, author: "t")
        try await writer.recordNodeStatus(NodeApplyStatus(node: "pve1", appliedRevision: 2, lastError: nil, updatedAt: Date()))
        try await writer.recordNodeStatus(NodeApplyStatus(node: "pve2", appliedRevision: nil, lastError: "nft: busy", updatedAt: Date()))
        let expected: [StoreChange] = [.revisionCreated(1), .revisionCreated(2), .revisionCreated(3), .targetChanged(2),
                                       .nodeStatus("pve1"), .nodeStatus("pve2")]

        // Both stores last saw etcd before those writes, so their changes start there. Uncompacted, etcd
        // replays the history.
        let replay = replaying.changes()
        #expect(await StateStoreContract.firstChanges(replay, count: expected.count) == expected)

        // Compacted, the store reads what changed since and sends the same.
        try await writer.client.compact(revision: writer.client.newestRevisionSeen)
        let caughtUp = late.changes()
        #expect(await StateStoreContract.firstChanges(caughtUp, count: expected.count) == expected)

        // And both watch on from there.
        _ = try await writer.createRevision(documents: [], author: "t", message: "4", expectedHead: 3)
        #expect(await StateStoreContract.firstChanges(caughtUp, count: 1) == [.revisionCreated(4)])
        #expect(await StateStoreContract.firstChanges(replay, count: 1) == [.revisionCreated(4)])
    }

    @Test func etcdRestartedUnderTheStore() async throws {
        let server = try EtcdTestServer()
        defer { server.stop() }
        let (store, otherNode) = try await Self.twoNodes(server)
        let changes = otherNode.changes()
        _ = try await store.createRevision(documents: [Self.document], author: "t", message: "1", expectedHead: .some(nil))
        #expect(await StateStoreContract.firstChanges(changes, count: 1) == [.revisionCreated(1)])

        server.kill()
        // During the outage, every call fails saying etcd is unreachable where, and why.
        for call in ["createRevision", "headNumber", "appendAudit"] {
            do {
                switch call {
                case "createRevision": _ = try await store.createRevision(documents: [], author: "t", message: "lost", expectedHead: 1)
                case "headNumber": _ = try await store.headNumber()
                default: try await store.appendAudit(AuditEntry(actor: "t", action: "apply", object: "/", outcome: "ok"))
                }
                Issue.record("\(call) succeeded while etcd was down")
            } catch let error as StateStoreError {
                guard case .storage(let message) = error else {
                    Issue.record("\(call): \(error)")
                    continue
                }
                #expect(message.contains("etcd is unreachable at \(server.clientURL)"), "\(call): \(message)")
                #expect(message.contains("connection refused"), "\(call): \(message)")
            }
        }

        try server.start()
        // Back: what was written before is there, and writing works again without reopening the store.
        let second = try await store.createRevision(documents: [], author: "t", message: "2", expectedHead: 1)
        #expect(second.number == 2)
        #expect(try await store.revision(1)?.documents == [Self.document])
        #expect(try await store.history(limit: 10, before: nil).map(\.message) == ["2", "1"])
        // The other node's watch resumed by itself and missed nothing.
        #expect(await StateStoreContract.firstChanges(changes, count: 1) == [.revisionCreated(2)])
    }

    @Test func nodesThatDiedOrWereForgottenWhileTheWatchWasAwayAreStillSeen() async throws {
        let server = try EtcdTestServer()
        defer { server.stop() }
        let (writer, watcher) = try await Self.twoNodes(server)
        let changes = try await Self.watchAfterSeeding(writer: writer, watcher: watcher, alive: ["pve1"])

        // The watch breaks and backs off; meanwhile pve1 dies, pve3 is forgotten, and etcd compacts that
        // history away. Whether the watch comes back before the compaction (and sees the deletions) or
        // after (and must infer them from what it knew), both are delivered.
        server.kill()
        try await Task.sleep(for: .seconds(4))
        try server.start()
        try await writer.endNodeLiveness("pve1")
        try await writer.forgetNode("pve3")
        _ = try await writer.createRevision(documents: [], author: "t", message: "2", expectedHead: 1)
        try await writer.client.compact(revision: writer.client.newestRevisionSeen)
        let received = await StateStoreContract.firstChanges(changes, count: 3)
        #expect(Set(received) == [.nodeLiveness("pve1"), .nodeStatus("pve3"), .revisionCreated(2)], "\(received)")
    }

    @Test func aWatchResumedAfterCompactionInfersTheNodesThatDiedOrWereForgotten() async throws {
        // The watcher talks to one member only; the writer to the other two, which keep a quorum while
        // that member is down. What the watcher missed is compacted before the member returns, so its watch
        // can only resume by re-listing: the deletions must be inferred from what it knew.
        let cluster = try EtcdTestCluster()
        defer { cluster.stop() }
        // Not the leader: the writes go on without an election (a write cut by one is not resent).
        let leader = try #require(cluster.leader, "no leader: \(cluster.logTails())")
        let watched = (leader + 1) % cluster.memberCount
        let prefix = "/sdn-compacted/\(UUID().uuidString)/"
        let writer = try await EtcdStateStore.connect(endpoints: cluster.endpoints.enumerated().filter { $0.offset != watched }.map(\.element), prefix: prefix)
        let watcher = try await EtcdStateStore.connect(endpoints: [cluster.endpoints[watched]], prefix: prefix)
        defer { writer.close(); watcher.close() }
        let changes = try await Self.watchAfterSeeding(writer: writer, watcher: watcher, alive: ["pve1", "pve2"])

        cluster.kill(member: watched)
        try await writer.endNodeLiveness("pve1")
        try await writer.forgetNode("pve3")
        _ = try await writer.createRevision(documents: [], author: "t", message: "2", expectedHead: 1)
        try await writer.client.compact(revision: writer.client.newestRevisionSeen)
        try cluster.start(member: watched)
        let received = await StateStoreContract.firstChanges(changes, count: 3)
        #expect(Set(received) == [.nodeLiveness("pve1"), .nodeStatus("pve3"), .revisionCreated(2)], "\(received)")
        #expect(try await watcher.liveNodes() == ["pve2"])
    }

    @Test func aRevisionTooLargeForEtcdIsRefusedSayingWhy() async throws {
        let store = try await EtcdStateStore.connect(endpoints: [try EtcdTestServer.shared().clientURL], prefix: "/sdn-large/\(UUID().uuidString)/")
        // 1.6 MiB: over etcd's request limit (1.5 MiB), under the gateway's (2 MiB), which answers differently.
        let large = StoredDocument(path: "Policies/huge.yaml", text: String(repeating: "# padding line\n", count: 105_000))
        do {
            _ = try await store.createRevision(documents: [large], author: "t", message: "large", expectedHead: .some(nil))
            Issue.record("etcd accepted a 1.6 MiB revision")
        } catch StateStoreError.storage(let message) {
            #expect(message.contains("etcdserver: request is too large"), "\(message)")
            #expect(message.contains("--max-request-bytes"), "\(message)")
        }
        #expect(try await store.headNumber() == nil)
    }
}
