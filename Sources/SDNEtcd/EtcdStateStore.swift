public import Foundation
public import SDNStore
import Synchronization

/// The cluster's store: the same `StateStore` contract as `SQLiteStateStore`, kept in etcd v3 under one
/// key prefix (`EtcdStoreKeys` lists the keys), so that every node's `sdnd` reads and writes one state.
///
/// - Every write that depends on what it read is one etcd transaction comparing the mod revision of the
///   key it read (the head, the audit counter, a token): two writers that read the same head race in etcd,
///   one commits and the other gets `headMoved` (or, writing unconditionally, reads again and retries).
/// - `changes()` comes from one etcd watch on the prefix, started at the newest revision this store had
///   seen, so it includes writes made by other nodes. A watch that breaks (etcd restarted, a member lost)
///   resumes after the last revision it delivered; one whose history was compacted meanwhile re-reads
///   what changed since (`EtcdChangeFeed`).
/// - When etcd is unreachable every call fails with `StateStoreError.storage` naming the endpoints and
///   what the system said; nothing is retried behind the caller's back except the watch.
public final class EtcdStateStore: StateStore {
    public let client: EtcdClient
    public var prefix: String { keys.prefix }
    let keys: EtcdStoreKeys
    private let feed: EtcdChangeFeed
    /// etcd's answer about a lease it does not have (expired or revoked): gRPC NOT_FOUND.
    static func isLeaseNotFound(_ error: EtcdError) -> Bool {
        guard case .rejected(_, let code, let message) = error else { return false }
        return code == 5 || message.contains("lease not found")
    }

    /// etcd's default `--max-txn-ops`.
    static let maximumTransactionOperations = 128
    /// The lease behind each liveness key this store keeps (normally one: its node's).
    private let leases = Mutex<[String: Int64]>([:])

    /// - Parameter prefix: where the state lives in etcd: starts and ends with `/` (`/sdn/`), so that
    ///   one etcd can hold several independent states (tests, staging).
    public init(client: EtcdClient, prefix: String = "/sdn/") throws {
        guard prefix.hasPrefix("/"), prefix.hasSuffix("/"), prefix.count >= 2 else {
            throw StateStoreError.storage("etcd key prefix \"\(prefix)\" must start and end with / and name something, like /sdn/")
        }
        self.client = client
        keys = EtcdStoreKeys(prefix: prefix)
        feed = EtcdChangeFeed(client: client, keys: keys)
    }

    public convenience init(endpoints: [String], prefix: String = "/sdn/") throws {
        let client: EtcdClient
        do {
            client = try EtcdClient(endpoints: endpoints)
        } catch {
            throw StateStoreError.storage("\(error)")
        }
        try self.init(client: client, prefix: prefix)
    }

    /// Opens the store and reads etcd once, so that a failure to reach it shows here and `changes()` starts
    /// at etcd's current revision. (`init` does not talk to etcd: a node must start while etcd is down.)
    public static func connect(endpoints: [String], prefix: String = "/sdn/") async throws -> EtcdStateStore {
        let store = try EtcdStateStore(endpoints: endpoints, prefix: prefix)
        _ = try await store.headNumber()
        return store
    }

    deinit {
        feed.stop()
    }

    /// Stops the watch behind `changes()` and ends every stream it feeds.
    public func close() {
        feed.stop()
    }

    // MARK: - Revisions

    public func createRevision(documents: [StoredDocument], author: String, message: String,
                               expectedHead: RevisionNumber??) async throws -> Revision {
        try await storage {
            while true {
                try Task.checkCancellation()
                let headKey = try await client.get(keys.head)
                let head = try headKey.map(headNumber)
                if let expected = expectedHead, expected != head {
                    throw StateStoreError.headMoved(expected: expected, actual: head)
                }
                var parentDocuments: [StoredDocument] = []
                if let head { parentDocuments = try await content(of: head).documents }
                let summary = RevisionSummary(number: (head ?? 0) + 1, parent: head, author: author, createdAt: Date(), message: message)
                let revision = Revision(summary: summary, documents: documents, diff: UnifiedDiff.between(old: parentDocuments, new: documents))
                let response = try await client.txn(EtcdTxnRequest(
                    compare: [headKey.map { .unchanged(keys.head, since: $0.modRevision) } ?? .absent(keys.head)],
                    success: [
                        .put(EtcdPutRequest(key: keys.head, value: Data(String(summary.number).utf8))),
                        .put(EtcdPutRequest(key: keys.summary(summary.number), value: try encode(summary))),
                        .put(EtcdPutRequest(key: keys.content(summary.number),
                                            value: try encode(EtcdRevisionContentRecord(documents: documents, diff: revision.diff)))),
                    ],
                    failure: [.range(EtcdRangeRequest(key: keys.head))]
                ))
                if response.succeeded { return revision }
                // Someone else's revision landed between the read and the write.
                if let expected = expectedHead {
                    let actual = try response.responses.first?.range?.kvs.first.map(headNumber)
                    throw StateStoreError.headMoved(expected: expected, actual: actual)
                }
            }
        }
    }

    public func revision(_ number: RevisionNumber) async throws -> Revision? {
        guard number >= 1 else { return nil }
        return try await storage { () async throws -> Revision? in
            let values = try await read([keys.summary(number), keys.content(number)])
            guard let summaryKey = values[0], let contentKey = values[1] else { return nil }
            let summary: RevisionSummary = try decode(summaryKey)
            let stored: EtcdRevisionContentRecord = try decode(contentKey)
            if let diff = stored.diff { return Revision(summary: summary, documents: stored.documents, diff: diff) }
            var parentDocuments: [StoredDocument] = []
            if let parent = summary.parent { parentDocuments = try await content(of: parent).documents }
            return Revision(summary: summary, documents: stored.documents, diff: UnifiedDiff.between(old: parentDocuments, new: stored.documents))
        }
    }

    /// One key read: a revision whose diff was not stored is not worked out again for a node that only
    /// applies it.
    public func documents(of number: RevisionNumber) async throws -> [StoredDocument]? {
        guard number >= 1 else { return nil }
        return try await storage { () async throws -> [StoredDocument]? in
            guard let stored = try await client.get(keys.content(number)) else { return nil }
            let content: EtcdRevisionContentRecord = try decode(stored)
            return content.documents
        }
    }

    public func head() async throws -> Revision? {
        guard let number = try await headNumber() else { return nil }
        // Revisions are never removed: the head read a moment ago is still there.
        return try await revision(number)
    }

    public func headNumber() async throws -> RevisionNumber? {
        try await storage { try await client.get(keys.head).map(headNumber) }
    }

    public func history(limit: Int, before: RevisionNumber?) async throws -> [RevisionSummary] {
        guard limit > 0 else { return [] }
        if let before, before <= 1 { return [] }
        return try await storage {
            var request = EtcdRangeRequest(key: keys.historyPrefix,
                                           rangeEnd: before.map(keys.summary) ?? EtcdKeyRange.end(ofPrefix: keys.historyPrefix))
            request.limit = Int64(limit)
            request.sortOrder = .descend
            request.sortTarget = .key
            return try await client.range(request).kvs.map { try decode($0) as RevisionSummary }
        }
    }

    // MARK: - Target

    public func target() async throws -> RevisionNumber? {
        try await targetState()?.revision
    }

    public func targetState() async throws -> TargetState? {
        try await storage {
            try await client.get(keys.target).map { stored in
                let record: EtcdTargetRecord = try decode(stored)
                return TargetState(revision: record.revision, generation: record.generation ?? 1, setBy: record.setBy,
                                   setAt: Date(timeIntervalSinceReferenceDate: record.setAt))
            }
        }
    }

    public func setTarget(_ number: RevisionNumber, author: String) async throws {
        guard number >= 1 else { throw StateStoreError.noSuchRevision(number) }
        try await storage {
            while true {
                try Task.checkCancellation()
                // The generation is read, then written comparing the target's mod revision: two nodes
                // choosing targets at once get consecutive generations, never the same one.
                let current = try await client.get(keys.target)
                let generation = try current.map { (try decode($0) as EtcdTargetRecord).generation ?? 1 } ?? 0
                let record = EtcdTargetRecord(revision: number, generation: generation + 1, setBy: author,
                                              setAt: Date().timeIntervalSinceReferenceDate)
                let unchanged: EtcdCompare = current.map { .unchanged(keys.target, since: $0.modRevision) } ?? .absent(keys.target)
                let response = try await client.txn(EtcdTxnRequest(
                    compare: [.present(keys.summary(number)), unchanged],
                    success: [.put(EtcdPutRequest(key: keys.target, value: try encode(record)))],
                    failure: [.range(EtcdRangeRequest(key: keys.summary(number)))]
                ))
                if response.succeeded { return }
                if response.responses.first?.range?.kvs.isEmpty ?? true { throw StateStoreError.noSuchRevision(number) }
            }
        }
    }

    // MARK: - Nodes

    public func recordNodeStatus(_ status: NodeApplyStatus) async throws {
        try await storage {
            _ = try await client.put(EtcdPutRequest(key: keys.nodeStatus(status.node), value: try encode(status)))
        }
    }

    public func nodeStatuses() async throws -> [NodeApplyStatus] {
        try await storage {
            // Key order is the nodes' names in byte order, as SQLite's ORDER BY node.
            try await client.range(.prefix(keys.nodeStatusPrefix)).kvs.map { try decode($0) as NodeApplyStatus }
        }
    }

    /// The first call grants a lease of `ttl` and puts the node's liveness key on it; later calls renew
    /// the lease. A lease that expired meanwhile (the node was cut off from etcd longer than `ttl`) took
    /// the key with it: a new lease and key are made. Renewals are not writes to etcd's key space, so a
    /// large cluster keeping alive costs its leader little.
    public func keepNodeAlive(_ node: String, ttl: Duration) async throws {
        let seconds = max(1, ttl.components.seconds + (ttl.components.attoseconds > 0 ? 1 : 0))
        try await storage {
            if let lease = leases.withLock({ $0[node] }) {
                // A stream through the gateway, with no timeout of its own: a member that takes the
                // request and never answers must not stall the node's liveness loop.
                let client = self.client
                let ttl = try await withThrowingTaskGroup(of: Int64?.self) { group in
                    group.addTask {
                        do {
                            return try await client.keepAlive(lease: lease)
                        } catch let error as EtcdError where Self.isLeaseNotFound(error) {
                            // Expired (the node was paused or cut off longer than its TTL) or revoked:
                            // as a renewal answering 0, a new lease is granted below.
                            return 0
                        }
                    }
                    group.addTask {
                        try await Task.sleep(for: client.requestTimeout)
                        return nil
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? nil
                }
                guard let ttl else {
                    throw StateStoreError.storage("etcd did not renew the lease of node \(node)'s liveness within \(client.requestTimeout)")
                }
                if ttl > 0 { return }
                leases.withLock { $0[node] = nil }
            }
            // A lease can expire between its grant and the put that uses it (a process stalled longer than
            // the TTL): then a new one.
            for attempt in 1...3 {
                let lease = try await client.grantLease(ttl: seconds)
                let record = EtcdLivenessRecord(node: node, since: Date().timeIntervalSinceReferenceDate, ttlSeconds: lease.ttl)
                do {
                    _ = try await client.put(EtcdPutRequest(key: keys.liveness(node), value: try encode(record), lease: lease.id))
                } catch let error as EtcdError where Self.isLeaseNotFound(error) && attempt < 3 {
                    continue
                }
                leases.withLock { $0[node] = lease.id }
                return
            }
        }
    }

    public func endNodeLiveness(_ node: String) async throws {
        try await storage {
            if let lease = leases.withLock({ $0.removeValue(forKey: node) }) {
                do {
                    try await client.revokeLease(lease)
                } catch let error as EtcdError where Self.isLeaseNotFound(error) {
                    // Expired already: the key went with it.
                }
            }
            _ = try await client.deleteRange(EtcdDeleteRangeRequest(key: keys.liveness(node)))
        }
    }

    public func liveNodes() async throws -> Set<String> {
        try await storage {
            var request = EtcdRangeRequest.prefix(keys.livenessPrefix)
            request.keysOnly = true
            let names = try await client.range(request).kvs.map { String($0.keyString.dropFirst(prefix.count + "nodes/alive/".count)) }
            return Set(names)
        }
    }

    /// One transaction: the ports that went are deleted, the new or changed ones put, the rest untouched
    /// (a node reporting the same ports again writes nothing).
    public func recordInstalledPorts(_ ports: [InstalledPort], node: String) async throws {
        try await storage {
            let current = try await client.range(.prefix(keys.ports(of: node))).kvs
            var stored: [String: Data] = [:]
            for value in current { stored[value.keyString] = value.value }
            var operations: [EtcdRequestOp] = []
            var wanted: Set<String> = []
            for port in ports {
                let key = keys.port(port.port, of: node)
                let name = String(decoding: key, as: UTF8.self)
                wanted.insert(name)
                // A port installed again at another generation keeps the time it was first installed.
                let value = try encode(port)
                if let existing = stored[name], let old = try? JSONDecoder().decode(InstalledPort.self, from: existing),
                   old.guest == port.guest, old.generation == port.generation { continue }
                operations.append(.put(EtcdPutRequest(key: key, value: value)))
            }
            for name in stored.keys where !wanted.contains(name) {
                operations.append(.deleteRange(EtcdDeleteRangeRequest(key: Data(name.utf8))))
            }
            // etcd refuses a transaction of more than 128 operations (`--max-txn-ops`): a node with more
            // ports writes them in several. Each record stands alone; a reader may see some of a change.
            for start in stride(from: 0, to: operations.count, by: Self.maximumTransactionOperations) {
                let batch = Array(operations[start..<min(start + Self.maximumTransactionOperations, operations.count)])
                _ = try await client.txn(EtcdTxnRequest(compare: [], success: batch))
            }
        }
    }

    public func installedPorts() async throws -> [InstalledPort] {
        try await storage {
            try await client.range(.prefix(keys.portsPrefix)).kvs.map { try decode($0) as InstalledPort }
        }
    }

    public func forgetNode(_ node: String) async throws {
        try await storage {
            if let lease = leases.withLock({ $0.removeValue(forKey: node) }) { try? await client.revokeLease(lease) }
            _ = try await client.txn(EtcdTxnRequest(compare: [], success: [
                .deleteRange(EtcdDeleteRangeRequest(key: keys.nodeStatus(node))),
                .deleteRange(EtcdDeleteRangeRequest(key: keys.liveness(node))),
                .deleteRange(EtcdDeleteRangeRequest(key: keys.ports(of: node), rangeEnd: EtcdKeyRange.end(ofPrefix: keys.ports(of: node)))),
            ]))
        }
    }

    // MARK: - Audit

    @discardableResult
    public func appendAudit(_ entry: AuditEntry) async throws -> AuditEntry {
        try await storage {
            while true {
                try Task.checkCancellation()
                let counter = try await client.get(keys.auditSequence)
                let last = try counter.map { try number($0, what: "the audit sequence") } ?? 0
                var stored = entry
                stored.sequence = last + 1
                let response = try await client.txn(EtcdTxnRequest(
                    compare: [counter.map { .unchanged(keys.auditSequence, since: $0.modRevision) } ?? .absent(keys.auditSequence)],
                    success: [
                        .put(EtcdPutRequest(key: keys.auditSequence, value: Data(String(stored.sequence).utf8))),
                        .put(EtcdPutRequest(key: keys.audit(stored.sequence), value: try encode(stored))),
                    ]
                ))
                // Lost the number to a concurrent append: take the next one.
                if response.succeeded { return stored }
            }
        }
    }

    public func audit(after: Int64, limit: Int) async throws -> [AuditEntry] {
        guard limit > 0, after < Int64.max else { return [] }
        return try await storage {
            var request = EtcdRangeRequest(key: keys.audit(max(after, 0) + 1), rangeEnd: EtcdKeyRange.end(ofPrefix: keys.auditPrefix))
            request.limit = Int64(limit)
            return try await client.range(request).kvs.map { try decode($0) as AuditEntry }
        }
    }

    // MARK: - Tokens

    public func addToken(_ token: APIToken, secretHash: [UInt8]) async throws {
        try await storage {
            let idKey = keys.token(id: token.id)
            let hashKey = keys.token(hash: secretHash)
            let response = try await client.txn(EtcdTxnRequest(
                compare: [.absent(idKey), .absent(hashKey)],
                success: [
                    .put(EtcdPutRequest(key: hashKey, value: try encode(token))),
                    .put(EtcdPutRequest(key: idKey, value: Data(secretHash.map { String(format: "%02x", $0) }.joined().utf8))),
                ],
                failure: [.range(EtcdRangeRequest(key: idKey))]
            ))
            guard response.succeeded else {
                if response.responses.first?.range?.kvs.isEmpty == false {
                    throw StateStoreError.storage("a token with id \(token.id) already exists; choose another id")
                }
                throw StateStoreError.storage("a token with the same secret already exists; generate a new secret")
            }
        }
    }

    public func token(secretHash: [UInt8]) async throws -> APIToken? {
        try await storage {
            try await client.get(keys.token(hash: secretHash)).map { try decode($0) as APIToken }
        }
    }

    public func tokens() async throws -> [APIToken] {
        try await storage {
            let tokens = try await client.range(.prefix(keys.tokensByHashPrefix)).kvs.map { try decode($0) as APIToken }
            // As SQLite orders them: by creation time, then id.
            return tokens.sorted {
                $0.createdAt != $1.createdAt ? $0.createdAt < $1.createdAt : $0.id.utf8.lexicographicallyPrecedes($1.id.utf8)
            }
        }
    }

    public func revokeToken(id: String, at time: Date) async throws {
        try await storage {
            while true {
                try Task.checkCancellation()
                guard let hashName = try await client.get(keys.token(id: id)) else { throw StateStoreError.noSuchToken(id) }
                let hashKey = Data((prefix + "tokens/by-hash/").utf8) + hashName.value
                guard let stored = try await client.get(hashKey) else { throw StateStoreError.noSuchToken(id) }
                var record: APIToken = try decode(stored)
                // A token revoked twice keeps the time it was first revoked.
                guard record.revokedAt == nil else { return }
                record.revokedAt = time
                let response = try await client.txn(EtcdTxnRequest(
                    compare: [.unchanged(hashKey, since: stored.modRevision)],
                    success: [.put(EtcdPutRequest(key: hashKey, value: try encode(record)))]
                ))
                if response.succeeded { return }
            }
        }
    }

    // MARK: - Changes

    public func changes() -> AsyncStream<StoreChange> {
        feed.subscribe()
    }

    // MARK: - Access

    /// Several keys at one etcd revision (one transaction of reads); nil for those missing.
    private func read(_ keyList: [Data]) async throws -> [EtcdKeyValue?] {
        let response = try await client.txn(EtcdTxnRequest(compare: [], success: keyList.map { .range(EtcdRangeRequest(key: $0)) }))
        guard response.responses.count == keyList.count else {
            throw StateStoreError.storage("etcd answered \(response.responses.count) reads for \(keyList.count) keys")
        }
        return response.responses.map { $0.range?.kvs.first }
    }

    private func content(of number: RevisionNumber) async throws -> EtcdRevisionContentRecord {
        guard let stored = try await client.get(keys.content(number)) else {
            throw StateStoreError.storage("revision \(number) has no documents in etcd (key \(String(decoding: keys.content(number), as: UTF8.self)))")
        }
        return try decode(stored)
    }

    private func headNumber(_ stored: EtcdKeyValue) throws -> RevisionNumber {
        try number(stored, what: "the head revision")
    }

    private func number(_ stored: EtcdKeyValue, what: String) throws -> Int64 {
        guard let value = Int64(String(decoding: stored.value, as: UTF8.self)) else {
            throw StateStoreError.storage("etcd key \(stored.keyString) (\(what)) holds \(String(decoding: stored.value.prefix(40), as: UTF8.self).debugDescription), not a number")
        }
        return value
    }

    func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    private func decode<T: Decodable>(_ stored: EtcdKeyValue) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: stored.value)
        } catch {
            throw StateStoreError.storage("etcd key \(stored.keyString) does not hold what this sdnd expects (\(T.self)): \(error)")
        }
    }

    /// Our own errors pass through; etcd's become `storage` errors that name the endpoints.
    func storage<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StateStoreError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw StateStoreError.storage("\(error)")
        }
    }
}
