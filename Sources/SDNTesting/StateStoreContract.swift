import Foundation
public import SDNStore
public import Testing

/// One behaviour every `StateStore` must have, checked on stores made by a factory (each call a new,
/// empty store).
public struct StateStoreContractCheck: Sendable, CustomTestStringConvertible {
    public typealias Factory = @Sendable () async throws -> any StateStore

    public let name: String
    public let run: @Sendable (_ makeStore: Factory) async throws -> Void

    public var testDescription: String { name }
}

/// The contract of `StateStore`: SQLite, the in-memory store and any later implementation (etcd) run
/// every check, so that they can stand in for one another.
///
///     @Test(arguments: StateStoreContract.checks)
///     func sqlite(_ check: StateStoreContractCheck) async throws {
///         try await check.run { try SQLiteStateStore(path: ...) }
///     }
public enum StateStoreContract {
    public typealias Factory = StateStoreContractCheck.Factory

    public static let checks: [StateStoreContractCheck] = [
        .init(name: "first revision is 1 without parent", run: firstRevisionIsOneWithoutParent),
        .init(name: "revision numbers increase by one", run: revisionNumbersIncrease),
        .init(name: "expected head matches or refuses writing nothing", run: expectedHeadMatchOrMismatch),
        .init(name: "history is newest first and pages backwards", run: historyOrderAndPaging),
        .init(name: "documents round-trip byte for byte", run: documentsRoundTripByteForByte),
        .init(name: "diff names the changed paths", run: diffNamesChangedPaths),
        .init(name: "target is set and read back", run: targetSetAndRead),
        .init(name: "target of a missing revision is refused", run: targetOfMissingRevisionRefused),
        .init(name: "node status is upserted", run: nodeStatusUpsert),
        .init(name: "every target choice makes the next generation", run: targetGenerations),
        .init(name: "node status keeps generations and drift", run: nodeStatusGenerations),
        .init(name: "liveness holds while kept, ends, and expires", run: livenessLifecycle),
        .init(name: "installed ports are replaced per node", run: installedPortsPerNode),
        .init(name: "a forgotten node leaves nothing behind", run: forgottenNode),
        .init(name: "audit appends in order and pages", run: auditAppendOrderAndPaging),
        .init(name: "tokens add, look up, list and revoke", run: tokensLifecycle),
        .init(name: "changes reach every subscriber", run: changesReachEverySubscriber),
        .init(name: "concurrent conditional writes: one wins per head, none lost", run: concurrentConditionalWrites),
    ]

    /// A liveness that outlasts any test, however loaded the machine.
    static let longTTL: Duration = .seconds(3600)

    static let demo = StoredDocument(path: "Topologies/demo.yaml", text: "zones:\n  - name: lab\n    vnets: [a, b]\n")

    public static func firstRevisionIsOneWithoutParent(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        #expect(try await store.head() == nil)
        #expect(try await store.headNumber() == nil)
        #expect(try await store.history(limit: 10, before: nil).isEmpty)
        let first = try await store.createRevision(documents: [demo], author: "unix:uid=0", message: "first", expectedHead: nil)
        #expect(first.number == 1)
        #expect(first.summary.parent == nil)
        #expect(first.summary.author == "unix:uid=0")
        #expect(first.summary.message == "first")
        #expect(try await store.head() == first)
        #expect(try await store.revision(1) == first)
        #expect(try await store.revision(2) == nil)
    }

    public static func revisionNumbersIncrease(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        for expected in RevisionNumber(1)...5 {
            let revision = try await store.createRevision(
                documents: [StoredDocument(path: "a.yaml", text: "n: \(expected)\n")], author: "test", message: "r\(expected)", expectedHead: nil
            )
            #expect(revision.number == expected)
            #expect(revision.summary.parent == (expected == 1 ? nil : expected - 1))
        }
        #expect(try await store.head()?.number == 5)
        #expect(try await store.headNumber() == 5)
    }

    public static func expectedHeadMatchOrMismatch(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        // Expecting an empty store on an empty store, then the head it made.
        _ = try await store.createRevision(documents: [demo], author: "a", message: "1", expectedHead: .some(nil))
        let second = try await store.createRevision(documents: [], author: "a", message: "2", expectedHead: 1)
        #expect(second.number == 2)

        await #expect(throws: StateStoreError.headMoved(expected: 1, actual: 2)) {
            try await store.createRevision(documents: [demo], author: "b", message: "stale", expectedHead: 1)
        }
        await #expect(throws: StateStoreError.headMoved(expected: nil, actual: 2)) {
            try await store.createRevision(documents: [demo], author: "b", message: "stale", expectedHead: .some(nil))
        }
        await #expect(throws: StateStoreError.headMoved(expected: 7, actual: 2)) {
            try await store.createRevision(documents: [demo], author: "b", message: "ahead", expectedHead: 7)
        }
        // Nothing written by the refused ones.
        #expect(try await store.head()?.number == 2)
        #expect(try await store.history(limit: 10, before: nil).map(\.message) == ["2", "1"])

        let empty = try await makeStore()
        await #expect(throws: StateStoreError.headMoved(expected: 3, actual: nil)) {
            try await empty.createRevision(documents: [demo], author: "b", message: "x", expectedHead: 3)
        }
        #expect(try await empty.head() == nil)
    }

    public static func historyOrderAndPaging(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        for index in 1...7 {
            _ = try await store.createRevision(documents: [], author: "author\(index)", message: "m\(index)", expectedHead: nil)
        }
        let all = try await store.history(limit: 100, before: nil)
        #expect(all.map(\.number) == [7, 6, 5, 4, 3, 2, 1])
        #expect(all.map(\.message) == ["m7", "m6", "m5", "m4", "m3", "m2", "m1"])
        #expect(all.map(\.author) == ["author7", "author6", "author5", "author4", "author3", "author2", "author1"])

        let firstPage = try await store.history(limit: 3, before: nil)
        #expect(firstPage.map(\.number) == [7, 6, 5])
        let secondPage = try await store.history(limit: 3, before: firstPage.last?.number)
        #expect(secondPage.map(\.number) == [4, 3, 2])
        let lastPage = try await store.history(limit: 3, before: secondPage.last?.number)
        #expect(lastPage.map(\.number) == [1])
        #expect(try await store.history(limit: 3, before: 1).isEmpty)
        #expect(try await store.history(limit: 0, before: nil).isEmpty)
        #expect(try await store.history(limit: 2, before: 100).map(\.number) == [7, 6])
    }

    public static func documentsRoundTripByteForByte(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        let documents = [
            StoredDocument(path: "Topologies/zürich.yaml", text: "zones:\r\n  - name: Zürich 🇨🇭\r\n    comment: \"日本語\"\r\n"),
            StoredDocument(path: "Policies/empty.yaml", text: ""),
            // Decomposed é (e + U+0301): equal to the precomposed one as a Swift String, not as bytes.
            StoredDocument(path: "Policies/decomposed.yaml", text: "name: Cafe\u{301}\nno final newline"),
            StoredDocument(path: "Policies/control.yaml", text: "tab:\tnul:\u{0}bell:\u{7}\n"),
            StoredDocument(path: "A.yaml", text: "\n\n\n"),
        ]
        let created = try await store.createRevision(documents: documents, author: "t", message: "bytes", expectedHead: nil)
        let read = try #require(try await store.revision(created.number))
        let head = try #require(try await store.head())
        for revision in [created, read, head] {
            // In the order given, not sorted.
            #expect(revision.documents.map(\.path) == documents.map(\.path))
            #expect(revision.documents.map { Array($0.text.utf8) } == documents.map { Array($0.text.utf8) })
            #expect(revision.documents.map { Array($0.path.utf8) } == documents.map { Array($0.path.utf8) })
        }
        #expect(read.diff == created.diff)
        let documentsAlone = try #require(try await store.documents(of: created.number))
        #expect(documentsAlone.map { Array($0.text.utf8) } == documents.map { Array($0.text.utf8) })

        let none = try await store.createRevision(documents: [], author: "t", message: "no documents", expectedHead: nil)
        #expect(try await store.revision(none.number)?.documents == [])
        #expect(try await store.documents(of: none.number) == [])
        #expect(try await store.documents(of: none.number + 1) == nil)
    }

    public static func diffNamesChangedPaths(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        let first = try await store.createRevision(documents: [demo], author: "t", message: "1", expectedHead: nil)
        #expect(first.diff.contains("--- /dev/null"))
        #expect(first.diff.contains("+++ b/Topologies/demo.yaml"))
        #expect(first.diff.contains("+  - name: lab"))

        let changed = StoredDocument(path: demo.path, text: demo.text.replacingOccurrences(of: "[a, b]", with: "[a, b, c]"))
        let added = StoredDocument(path: "Policies/web.yaml", text: "rules: []\n")
        let second = try await store.createRevision(documents: [changed, added], author: "t", message: "2", expectedHead: nil)
        #expect(second.diff.contains("--- a/Topologies/demo.yaml\n+++ b/Topologies/demo.yaml\n"))
        #expect(second.diff.contains("-    vnets: [a, b]\n+    vnets: [a, b, c]\n"))
        #expect(second.diff.contains("--- /dev/null\n+++ b/Policies/web.yaml\n"))
        #expect(try await store.revision(2)?.diff == second.diff)

        let same = try await store.createRevision(documents: [changed, added], author: "t", message: "3", expectedHead: nil)
        #expect(same.diff == "")

        let removed = try await store.createRevision(documents: [changed], author: "t", message: "4", expectedHead: nil)
        #expect(removed.diff.contains("--- a/Policies/web.yaml\n+++ /dev/null\n"))
        #expect(!removed.diff.contains("demo.yaml"))
    }

    public static func targetSetAndRead(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        #expect(try await store.target() == nil)
        _ = try await store.createRevision(documents: [demo], author: "t", message: "1", expectedHead: nil)
        _ = try await store.createRevision(documents: [], author: "t", message: "2", expectedHead: nil)
        try await store.setTarget(2, author: "unix:uid=0")
        #expect(try await store.target() == 2)
        // A rollback chooses an older one.
        try await store.setTarget(1, author: "unix:uid=0")
        #expect(try await store.target() == 1)
    }

    public static func targetOfMissingRevisionRefused(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        await #expect(throws: StateStoreError.noSuchRevision(1)) { try await store.setTarget(1, author: "t") }
        _ = try await store.createRevision(documents: [demo], author: "t", message: "1", expectedHead: nil)
        try await store.setTarget(1, author: "t")
        await #expect(throws: StateStoreError.noSuchRevision(2)) { try await store.setTarget(2, author: "t") }
        await #expect(throws: StateStoreError.noSuchRevision(0)) { try await store.setTarget(0, author: "t") }
        #expect(try await store.target() == 1)
    }

    public static func nodeStatusUpsert(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        #expect(try await store.nodeStatuses().isEmpty)
        let time = Date(timeIntervalSinceReferenceDate: 820_000_000.123456)
        let failed = NodeApplyStatus(node: "pve2", appliedRevision: nil, lastError: "nft: no such table", updatedAt: time)
        let applied = NodeApplyStatus(node: "pve1", appliedRevision: 3, lastError: nil, updatedAt: time)
        try await store.recordNodeStatus(failed)
        try await store.recordNodeStatus(applied)
        #expect(try await store.nodeStatuses() == [applied, failed])

        let recovered = NodeApplyStatus(node: "pve2", appliedRevision: 4, lastError: nil, updatedAt: time.addingTimeInterval(60))
        try await store.recordNodeStatus(recovered)
        #expect(try await store.nodeStatuses() == [applied, recovered])
    }

    public static func targetGenerations(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        #expect(try await store.targetState() == nil)
        _ = try await store.createRevision(documents: [demo], author: "t", message: "1", expectedHead: nil)
        _ = try await store.createRevision(documents: [], author: "t", message: "2", expectedHead: 1)
        let before = Date().addingTimeInterval(-1)
        try await store.setTarget(2, author: "alice")
        let first = try #require(try await store.targetState())
        #expect(first.revision == 2 && first.generation == 1 && first.setBy == "alice")
        #expect(first.setAt >= before && first.setAt <= Date().addingTimeInterval(1))
        // A rollback goes back in revisions, forward in generations; choosing the same revision again counts too.
        try await store.setTarget(1, author: "bob")
        try await store.setTarget(1, author: "bob")
        let third = try #require(try await store.targetState())
        #expect(third.revision == 1 && third.generation == 3 && third.setBy == "bob")
        #expect(try await store.target() == 1)
        await #expect(throws: StateStoreError.noSuchRevision(9)) { try await store.setTarget(9, author: "t") }
        #expect(try await store.targetState()?.generation == 3)
    }

    public static func nodeStatusGenerations(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        let time = Date(timeIntervalSinceReferenceDate: 820_000_000.5)
        let failing = NodeApplyStatus(node: "pve1", appliedRevision: 3, appliedGeneration: 4, generation: 5, lastError: "netlink: busy",
                                      drift: true, updatedAt: time)
        try await store.recordNodeStatus(failing)
        #expect(try await store.nodeStatuses() == [failing])
        let applied = NodeApplyStatus(node: "pve1", appliedRevision: 4, appliedGeneration: 5, generation: 5, lastError: nil, updatedAt: time)
        try await store.recordNodeStatus(applied)
        #expect(try await store.nodeStatuses() == [applied])
    }

    public static func livenessLifecycle(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        #expect(try await store.liveNodes().isEmpty)
        try await store.keepNodeAlive("pve1", ttl: Self.longTTL)
        try await store.keepNodeAlive("pve2", ttl: Self.longTTL)
        #expect(try await store.liveNodes() == ["pve1", "pve2"])
        // Kept alive again: still one liveness, not two.
        try await store.keepNodeAlive("pve1", ttl: Self.longTTL)
        try await store.endNodeLiveness("pve1")
        #expect(try await store.liveNodes() == ["pve2"])
        try await store.endNodeLiveness("pve1")
        // pve3 is not kept alive: it expires (etcd rounds a lease's TTL up to its minimum, about 2 s, and
        // expires it on its leader's clock). The others' TTLs are long: a loaded machine must not expire them.
        try await store.keepNodeAlive("pve3", ttl: .seconds(2))
        let deadline = ContinuousClock.now + .seconds(15)
        while try await store.liveNodes().contains("pve3"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await store.liveNodes() == ["pve2"])
        // A node that expired becomes live again when it is kept alive again (in etcd: its lease is gone,
        // and the renewal that finds so grants a new one).
        try await store.keepNodeAlive("pve3", ttl: Self.longTTL)
        #expect(try await store.liveNodes() == ["pve2", "pve3"])
        try await store.endNodeLiveness("pve2")
        try await store.endNodeLiveness("pve3")
    }

    public static func installedPortsPerNode(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        #expect(try await store.installedPorts().isEmpty)
        let time = Date(timeIntervalSinceReferenceDate: 820_000_000.25)
        let tap = InstalledPort(port: "tap101i0", node: "pve1", guest: 101, generation: 2, installedAt: time)
        let tap2 = InstalledPort(port: "tap101i1", node: "pve1", guest: 101, generation: 2, installedAt: time)
        let veth = InstalledPort(port: "veth201i0", node: "pve2", guest: 201, generation: nil, installedAt: time)
        try await store.recordInstalledPorts([tap2, tap], node: "pve1")
        try await store.recordInstalledPorts([veth], node: "pve2")
        #expect(try await store.installedPorts() == [tap, tap2, veth])
        // The guest left pve1 (moved to pve2): pve1's list replaces its own ports only.
        let moved = InstalledPort(port: "tap101i0", node: "pve2", guest: 101, generation: 3, installedAt: time)
        try await store.recordInstalledPorts([], node: "pve1")
        try await store.recordInstalledPorts([moved, veth], node: "pve2")
        #expect(try await store.installedPorts() == [moved, veth])
        // A node with many guests (more than etcd takes in one transaction), then most of them gone.
        let many = (1...300).map { InstalledPort(port: "tap\(1000 + $0)i0", node: "pve3", guest: 1000 + $0, generation: 4, installedAt: time) }
        try await store.recordInstalledPorts(many, node: "pve3")
        #expect(try await store.installedPorts().filter { $0.node == "pve3" } == many)
        try await store.recordInstalledPorts(Array(many.prefix(10)), node: "pve3")
        #expect(try await store.installedPorts().filter { $0.node == "pve3" } == Array(many.prefix(10)))
    }

    public static func forgottenNode(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        let time = Date(timeIntervalSinceReferenceDate: 820_000_000)
        for node in ["pve1", "pve2"] {
            try await store.recordNodeStatus(NodeApplyStatus(node: node, appliedRevision: nil, lastError: nil, updatedAt: time))
            try await store.keepNodeAlive(node, ttl: Self.longTTL)
            try await store.recordInstalledPorts([InstalledPort(port: "tap1i0", node: node, guest: 1, generation: 1, installedAt: time)], node: node)
        }
        try await store.forgetNode("pve2")
        #expect(try await store.nodeStatuses().map(\.node) == ["pve1"])
        #expect(try await store.liveNodes() == ["pve1"])
        #expect(try await store.installedPorts().map(\.node) == ["pve1"])
        try await store.forgetNode("pve3")
        try await store.endNodeLiveness("pve1")
    }

    public static func auditAppendOrderAndPaging(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        #expect(try await store.audit(after: 0, limit: 10).isEmpty)
        var appended: [AuditEntry] = []
        for index in 0..<6 {
            let entry = AuditEntry(
                time: Date(timeIntervalSinceReferenceDate: 820_000_000 + Double(index) / 3), actor: "token:t\(index)",
                action: "PUT /v1/config", object: "/firewall/guests/10\(index)", outcome: index == 2 ? "denied" : "ok",
                revision: index == 2 ? nil : RevisionNumber(index), detail: index == 4 ? "line 1\nline 2 — ünïcode" : ""
            )
            let stored = try await store.appendAudit(entry)
            var expected = entry
            expected.sequence = stored.sequence
            #expect(stored == expected)
            appended.append(stored)
        }
        let sequences = appended.map(\.sequence)
        #expect(sequences.first.map { $0 > 0 } == true)
        #expect(zip(sequences, sequences.dropFirst()).allSatisfy { $0 < $1 })

        #expect(try await store.audit(after: 0, limit: 100) == appended)
        let firstPage = try await store.audit(after: 0, limit: 4)
        #expect(firstPage == Array(appended.prefix(4)))
        let secondPage = try await store.audit(after: firstPage.last!.sequence, limit: 4)
        #expect(secondPage == Array(appended.suffix(2)))
        #expect(try await store.audit(after: appended.last!.sequence, limit: 4).isEmpty)
        #expect(try await store.audit(after: 0, limit: 0).isEmpty)
    }

    public static func tokensLifecycle(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        let created = Date(timeIntervalSinceReferenceDate: 820_000_000.5)
        let admin = APIToken(id: "admin1", role: .administrator, createdAt: created)
        let firewall = APIToken(id: "fw", role: .firewallAdmin, pathPrefix: "/firewall/guests/101", comment: "CI job",
                                createdAt: created.addingTimeInterval(1), expiresAt: created.addingTimeInterval(86_400))
        let adminHash: [UInt8] = Array(0..<32)
        let firewallHash: [UInt8] = (0..<32).map { UInt8(255 - $0) }
        try await store.addToken(admin, secretHash: adminHash)
        try await store.addToken(firewall, secretHash: firewallHash)

        #expect(try await store.token(secretHash: adminHash) == admin)
        #expect(try await store.token(secretHash: firewallHash) == firewall)
        #expect(try await store.token(secretHash: [UInt8](repeating: 7, count: 32)) == nil)
        #expect(try await store.token(secretHash: []) == nil)
        #expect(try await store.tokens() == [admin, firewall])

        let revokedAt = created.addingTimeInterval(3600)
        try await store.revokeToken(id: "fw", at: revokedAt)
        let revoked = try #require(try await store.token(secretHash: firewallHash))
        #expect(revoked.revokedAt == revokedAt)
        #expect(!revoked.isValid(at: revokedAt))
        #expect(try await store.tokens().map(\.revokedAt) == [nil, revokedAt])
        await #expect(throws: StateStoreError.noSuchToken("nobody")) { try await store.revokeToken(id: "nobody", at: revokedAt) }

        // The same id or the same secret twice is refused.
        await #expect(throws: StateStoreError.self) {
            try await store.addToken(APIToken(id: "admin1", role: .auditor), secretHash: [UInt8](repeating: 1, count: 32))
        }
        await #expect(throws: StateStoreError.self) {
            try await store.addToken(APIToken(id: "other", role: .auditor), secretHash: adminHash)
        }
        #expect(try await store.tokens().count == 2)
    }

    public static func changesReachEverySubscriber(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        let first = store.changes()
        let second = store.changes()
        _ = try await store.createRevision(documents: [demo], author: "t", message: "1", expectedHead: nil)
        try await store.setTarget(1, author: "t")
        try await store.recordNodeStatus(NodeApplyStatus(node: "pve1", appliedRevision: 1, lastError: nil, updatedAt: Date()))
        let expected: [StoreChange] = [.revisionCreated(1), .targetChanged(1), .nodeStatus("pve1")]
        #expect(await firstChanges(first, count: 3) == expected)
        #expect(await firstChanges(second, count: 3) == expected)

        // A subscriber gets what happens after it subscribed.
        let late = store.changes()
        _ = try await store.createRevision(documents: [], author: "t", message: "2", expectedHead: nil)
        #expect(await firstChanges(late, count: 1) == [.revisionCreated(2)])
        #expect(await firstChanges(first, count: 1) == [.revisionCreated(2)])
    }

    /// The first `count` elements, or fewer if the stream ends or stays silent for a minute (so that a store
    /// that never sends fails the check instead of hanging the test run).
    public static func firstChanges(_ stream: AsyncStream<StoreChange>, count: Int) async -> [StoreChange] {
        await withTaskGroup(of: [StoreChange]?.self) { group in
            group.addTask {
                var received: [StoreChange] = []
                for await change in stream {
                    received.append(change)
                    if received.count == count { break }
                }
                return received
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return nil
            }
            var result: [StoreChange] = []
            for await value in group {
                if let value { result = value }
                group.cancelAll()
                break
            }
            return result
        }
    }

    public static func concurrentConditionalWrites(_ makeStore: Factory) async throws {
        let store = try await makeStore()
        let writers = 20

        // Every writer expects the empty store: exactly one wins.
        let outcomes = await withTaskGroup(of: Result<RevisionNumber, StateStoreError>.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    do {
                        let document = StoredDocument(path: "w.yaml", text: "writer: \(writer)\n")
                        return .success(try await store.createRevision(documents: [document], author: "w\(writer)", message: "w\(writer)",
                                                                       expectedHead: .some(nil)).number)
                    } catch let error as StateStoreError {
                        return .failure(error)
                    } catch {
                        return .failure(.storage("\(error)"))
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let wins = outcomes.compactMap { try? $0.get() }
        #expect(wins == [1])
        let failures = outcomes.compactMap { outcome -> StateStoreError? in
            if case .failure(let error) = outcome { return error }
            return nil
        }
        #expect(failures == Array(repeating: .headMoved(expected: nil, actual: 1), count: writers - 1))

        // Every writer retries on the head it reads until its write lands: all land, one per head.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    while true {
                        let head = try await store.head()?.number
                        do {
                            let document = StoredDocument(path: "w.yaml", text: "round 2 writer: \(writer)\n")
                            _ = try await store.createRevision(documents: [document], author: "r\(writer)", message: "r\(writer)",
                                                               expectedHead: .some(head))
                            return
                        } catch StateStoreError.headMoved {
                            continue
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let history = try await store.history(limit: 1000, before: nil)
        let total = RevisionNumber(writers + 1)
        #expect(history.map(\.number) == Array((1...total).reversed()))
        #expect(history.allSatisfy { $0.parent == ($0.number == 1 ? nil : $0.number - 1) })
        #expect(Set(history.dropLast().map(\.message)) == Set((0..<writers).map { "r\($0)" }))
        #expect(history.dropLast().count == writers)
    }
}
