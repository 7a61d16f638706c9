import Foundation
import SDNStore

/// Where `EtcdStateStore` keeps what, under one prefix (`/sdn/`):
///
///     head                         the newest revision's number ("12")
///     history/<number>             a revision's summary (JSON), one key per revision
///     ~documents/<number>          a revision's documents and diff (JSON); `~` sorts after every other
///                                  key, so that the change feed's watch ends before them: a watcher is
///                                  not sent each revision's megabytes (it reads the one it needs)
///     target                       the revision nodes should run, its generation (one more per choice),
///                                  who chose it and when (JSON)
///     nodes/applied/<node>         what the node last applied: revision, generation, errors, drift, time (JSON)
///     nodes/alive/<node>           the node's liveness: attached to a lease the node keeps alive, so it
///                                  disappears a TTL after the node stops (JSON: when it began, the TTL)
///     ports/<node>/<port>          a guest port the node has installed: the guest, the generation (JSON)
///     audit-sequence               the last audit sequence number given ("41")
///     audit/<sequence>             one audit entry (JSON)
///     tokens/by-hash/<hex sha256>  a token (JSON), found by the hash of its secret
///     tokens/by-id/<id>            the hex hash of that token's secret
///
/// Numbers in keys are zero-padded to 20 digits, so that etcd's key order is numeric order and a range
/// read pages through history or the audit log. Summaries and documents are separate keys so that history
/// listings never read documents (megabytes, for a large site).
struct EtcdStoreKeys: Sendable {
    let prefix: String

    var prefixData: Data { Data(prefix.utf8) }
    var head: Data { key("head") }
    var target: Data { key("target") }
    var auditSequence: Data { key("audit-sequence") }
    var historyPrefix: Data { key("history/") }
    var nodesPrefix: Data { key("nodes/") }
    var nodeStatusPrefix: Data { key("nodes/applied/") }
    var livenessPrefix: Data { key("nodes/alive/") }
    var portsPrefix: Data { key("ports/") }
    var auditPrefix: Data { key("audit/") }
    var tokensByHashPrefix: Data { key("tokens/by-hash/") }

    func summary(_ number: RevisionNumber) -> Data { key("history/" + Self.padded(number)) }
    func content(_ number: RevisionNumber) -> Data { key(Self.documentsDirectory + Self.padded(number)) }
    static let documentsDirectory = "~documents/"
    /// The end of what the change feed watches: every key of the prefix but the documents.
    var watchedRangeEnd: Data { key("~") }
    func nodeStatus(_ node: String) -> Data { key("nodes/applied/" + node) }
    func liveness(_ node: String) -> Data { key("nodes/alive/" + node) }
    /// Node names are identifiers (no `/`), so a node's ports are one prefix.
    func ports(of node: String) -> Data { key("ports/" + node + "/") }
    func port(_ port: String, of node: String) -> Data { key("ports/" + node + "/" + port) }
    func audit(_ sequence: Int64) -> Data { key("audit/" + Self.padded(sequence)) }
    func token(hash: [UInt8]) -> Data { key("tokens/by-hash/" + hash.map { String(format: "%02x", $0) }.joined()) }
    func token(id: String) -> Data { key("tokens/by-id/" + id) }

    private func key(_ suffix: String) -> Data { Data((prefix + suffix).utf8) }

    /// Non-negative numbers only (callers check): 20 digits hold any Int64.
    static func padded(_ number: Int64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// What a change of this key means to watchers, or nil for keys nobody watches (contents, audit, tokens).
    func change(for event: EtcdEvent) -> StoreChange? {
        let name = event.keyValue.keyString
        guard name.hasPrefix(prefix) else { return nil }
        let suffix = name.dropFirst(prefix.count)
        // A lease that expires deletes the key: the node died.
        if suffix.hasPrefix("nodes/alive/") {
            return .nodeLiveness(String(suffix.dropFirst("nodes/alive/".count)))
        }
        // A node forgotten (`sdn node remove`): its applied record is gone.
        if event.kind == .delete, suffix.hasPrefix("nodes/applied/") {
            return .nodeStatus(String(suffix.dropFirst("nodes/applied/".count)))
        }
        guard event.kind == .put else { return nil }
        if suffix.hasPrefix("history/"), event.keyValue.version == 1, let number = RevisionNumber(suffix.dropFirst("history/".count)) {
            return .revisionCreated(number)
        }
        if suffix == "target", let record = try? JSONDecoder().decode(EtcdTargetRecord.self, from: event.keyValue.value) {
            return .targetChanged(record.revision)
        }
        if suffix.hasPrefix("nodes/applied/") {
            return .nodeStatus(String(suffix.dropFirst("nodes/applied/".count)))
        }
        return nil
    }
}

// The values, as JSON. The store's own types (`RevisionSummary`, `NodeApplyStatus`, `AuditEntry`,
// `APIToken`) are written as they encode: JSONEncoder's default writes a `Date` as seconds since
// Foundation's reference date (2001-01-01), as the SQLite store keeps them, so it comes back bit for bit.
// Only what has no type of its own is declared here.

struct EtcdRevisionContentRecord: Codable {
    var documents: [StoredDocument]
    /// The unified diff to the parent, absent when larger than `largestStoredDiff`: then it is worked out
    /// again when read, from these documents and the parent's (the same inputs give the same diff). A
    /// site's first revision, or a rewrite of it, has a diff as large as its documents; stored, it would
    /// double the request, and etcd takes at most 1.5 MiB (a 1,000-guest site's 1.28 MB of YAML was
    /// refused as 2.56 MB).
    var diff: String?

    static let largestStoredDiff = 64 << 10

    init(documents: [StoredDocument], diff: String) {
        self.documents = documents
        self.diff = diff.utf8.count <= Self.largestStoredDiff ? diff : nil
    }
}

struct EtcdTargetRecord: Codable {
    var revision: RevisionNumber
    /// Absent in records written before generations: those count as generation 1.
    var generation: Int64?
    var setBy: String
    var setAt: Double
}

struct EtcdLivenessRecord: Codable {
    var node: String
    var since: Double
    var ttlSeconds: Int64
}
