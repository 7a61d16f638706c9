public import Foundation
public import SDNStore

/// What `importHistory` copied.
public struct StoreImportSummary: Sendable, CustomStringConvertible {
    public var revisions: Int
    public var target: RevisionNumber?
    public var auditEntries: Int
    public var tokens: Int

    public var description: String {
        "\(revisions) revision\(revisions == 1 ? "" : "s"), target \(target.map(String.init) ?? "none"), \(auditEntries) audit entr\(auditEntries == 1 ? "y" : "ies"), \(tokens) token\(tokens == 1 ? "" : "s")"
    }
}

extension EtcdStateStore {
    /// Moves a single node's history into this cluster store (`sdn cluster init --from-sqlite`): every
    /// revision with its number, parent, author, time, message and diff; the target (as generation 1); the
    /// audit log with its sequence numbers; the tokens by the hashes of their secrets, so that every token
    /// keeps working. Refuses a prefix that holds a state already: two histories are not merged.
    public func importHistory(from source: SQLiteStateStore) async throws -> StoreImportSummary {
        if let head = try await headNumber() {
            throw StateStoreError.storage("etcd prefix \(prefix) holds a state already (head revision \(head)); import into an empty prefix (--etcd-prefix) or remove that one first")
        }
        var summary = StoreImportSummary(revisions: 0, target: nil, auditEntries: 0, tokens: 0)
        let sourceHead = try await source.headNumber() ?? 0
        if sourceHead > 0 {
            for number in 1...sourceHead {
                guard let revision = try await source.revision(number) else {
                    throw StateStoreError.storage("\(source.path) has no revision \(number) below its head \(sourceHead): check it with sqlite3's PRAGMA integrity_check")
                }
                try await importRevision(revision)
                summary.revisions += 1
            }
        }
        if let target = try await source.target() {
            try await setTarget(target, author: "sdn cluster init")
            summary.target = target
        }
        var after: Int64 = 0
        while true {
            let page = try await source.audit(after: after, limit: 500)
            guard let last = page.last else { break }
            try await importAudit(page)
            summary.auditEntries += page.count
            after = last.sequence
        }
        for (token, hash) in try await source.tokensWithHashes() {
            try await addToken(token, secretHash: hash)
            summary.tokens += 1
        }
        return summary
    }

    /// Writes `revision` as it is, on top of its parent (which must be the head).
    func importRevision(_ revision: Revision) async throws {
        let response = try await storage {
            try await client.txn(EtcdTxnRequest(
                compare: [revision.summary.parent == nil ? .absent(keys.head)
                          : .value(keys.head, equals: Data(String(revision.summary.parent!).utf8))],
                success: [
                    .put(EtcdPutRequest(key: keys.head, value: Data(String(revision.number).utf8))),
                    .put(EtcdPutRequest(key: keys.summary(revision.number), value: try encode(revision.summary))),
                    .put(EtcdPutRequest(key: keys.content(revision.number),
                                        value: try encode(EtcdRevisionContentRecord(documents: revision.documents, diff: revision.diff)))),
                ]
            ))
        }
        guard response.succeeded else {
            throw StateStoreError.storage("revision \(revision.number) was not imported: etcd's head is not its parent \(revision.summary.parent.map(String.init) ?? "none") (is another writer using prefix \(prefix)?)")
        }
    }

    /// Appends entries with their own sequence numbers, moving the audit counter to the last.
    func importAudit(_ entries: [AuditEntry]) async throws {
        guard let last = entries.last else { return }
        var operations: [EtcdRequestOp] = try entries.map { .put(EtcdPutRequest(key: keys.audit($0.sequence), value: try encode($0))) }
        operations.append(.put(EtcdPutRequest(key: keys.auditSequence, value: Data(String(last.sequence).utf8))))
        _ = try await storage { try await client.txn(EtcdTxnRequest(compare: [], success: operations)) }
    }
}
