public import Foundation
public import SDNStore

/// The store's semantics in memory, for tests of what uses a store (the reconcile loop, the API). It passes
/// the same contract (`StateStoreContract`) as `SQLiteStateStore`; being an actor, every call is atomic.
public actor InMemoryStateStore: StateStore {
    private var revisions: [Revision] = []
    private var currentTarget: TargetState?
    private var statuses: [String: NodeApplyStatus] = [:]
    private var liveUntil: [String: ContinuousClock.Instant] = [:]
    private var ports: [String: [InstalledPort]] = [:]
    private var auditLog: [AuditEntry] = []
    private var storedTokens: [(token: APIToken, secretHash: [UInt8])] = []
    private let broadcaster = StoreChangeBroadcaster()

    public init() {}

    public func createRevision(documents: [StoredDocument], author: String, message: String,
                               expectedHead: RevisionNumber??) async throws -> Revision {
        let head = revisions.last
        if let expected = expectedHead, expected != head?.number {
            throw StateStoreError.headMoved(expected: expected, actual: head?.number)
        }
        let summary = RevisionSummary(number: (head?.number ?? 0) + 1, parent: head?.number, author: author, createdAt: Date(), message: message)
        let revision = Revision(summary: summary, documents: documents, diff: UnifiedDiff.between(old: head?.documents ?? [], new: documents))
        revisions.append(revision)
        broadcaster.send(.revisionCreated(summary.number))
        return revision
    }

    public func revision(_ number: RevisionNumber) async throws -> Revision? {
        // Numbers are 1, 2, 3, ...: revision n is at index n - 1.
        guard number >= 1, number <= revisions.count else { return nil }
        return revisions[Int(number - 1)]
    }

    public func head() async throws -> Revision? {
        revisions.last
    }

    public func history(limit: Int, before: RevisionNumber?) async throws -> [RevisionSummary] {
        guard limit > 0 else { return [] }
        return Array(revisions.reversed().lazy.filter { before == nil || $0.number < before! }.prefix(limit).map(\.summary))
    }

    public func target() async throws -> RevisionNumber? {
        currentTarget?.revision
    }

    public func targetState() async throws -> TargetState? {
        currentTarget
    }

    public func setTarget(_ number: RevisionNumber, author: String) async throws {
        guard number >= 1, number <= revisions.count else { throw StateStoreError.noSuchRevision(number) }
        currentTarget = TargetState(revision: number, generation: (currentTarget?.generation ?? 0) + 1, setBy: author, setAt: Date())
        broadcaster.send(.targetChanged(number))
    }

    public func keepNodeAlive(_ node: String, ttl: Duration) async throws {
        let now = ContinuousClock.now
        let wasLive = liveUntil[node].map { $0 > now } ?? false
        liveUntil[node] = now + ttl
        if !wasLive { broadcaster.send(.nodeLiveness(node)) }
    }

    public func endNodeLiveness(_ node: String) async throws {
        if liveUntil.removeValue(forKey: node) != nil { broadcaster.send(.nodeLiveness(node)) }
    }

    public func liveNodes() async throws -> Set<String> {
        let now = ContinuousClock.now
        return Set(liveUntil.filter { $0.value > now }.keys)
    }

    public func recordInstalledPorts(_ installed: [InstalledPort], node: String) async throws {
        ports[node] = installed.sorted { $0.port.utf8.lexicographicallyPrecedes($1.port.utf8) }
    }

    public func installedPorts() async throws -> [InstalledPort] {
        ports.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.flatMap { ports[$0] ?? [] }
    }

    public func forgetNode(_ node: String) async throws {
        statuses[node] = nil
        liveUntil[node] = nil
        ports[node] = nil
        broadcaster.send(.nodeStatus(node))
        broadcaster.send(.nodeLiveness(node))
    }

    public func recordNodeStatus(_ status: NodeApplyStatus) async throws {
        statuses[status.node] = status
        broadcaster.send(.nodeStatus(status.node))
    }

    public func nodeStatuses() async throws -> [NodeApplyStatus] {
        statuses.values.sorted { $0.node.utf8.lexicographicallyPrecedes($1.node.utf8) }
    }

    @discardableResult
    public func appendAudit(_ entry: AuditEntry) async throws -> AuditEntry {
        var stored = entry
        stored.sequence = Int64(auditLog.count + 1)
        auditLog.append(stored)
        return stored
    }

    public func audit(after: Int64, limit: Int) async throws -> [AuditEntry] {
        guard limit > 0 else { return [] }
        return Array(auditLog.lazy.filter { $0.sequence > after }.prefix(limit))
    }

    public func addToken(_ token: APIToken, secretHash: [UInt8]) async throws {
        if storedTokens.contains(where: { $0.token.id == token.id }) {
            throw StateStoreError.storage("a token with id \(token.id) already exists; choose another id")
        }
        if storedTokens.contains(where: { $0.secretHash == secretHash }) {
            throw StateStoreError.storage("a token with the same secret already exists; generate a new secret")
        }
        storedTokens.append((token, secretHash))
    }

    public func token(secretHash: [UInt8]) async throws -> APIToken? {
        storedTokens.first { $0.secretHash == secretHash }?.token
    }

    public func tokens() async throws -> [APIToken] {
        // As SQLite orders them: by creation time, then id.
        storedTokens.map(\.token).sorted {
            $0.createdAt != $1.createdAt ? $0.createdAt < $1.createdAt : $0.id.utf8.lexicographicallyPrecedes($1.id.utf8)
        }
    }

    public func revokeToken(id: String, at time: Date) async throws {
        guard let index = storedTokens.firstIndex(where: { $0.token.id == id }) else { throw StateStoreError.noSuchToken(id) }
        // A token revoked twice keeps the time it was first revoked.
        if storedTokens[index].token.revokedAt == nil { storedTokens[index].token.revokedAt = time }
    }

    public nonisolated func changes() -> AsyncStream<StoreChange> {
        broadcaster.subscribe()
    }
}
