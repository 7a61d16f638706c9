public import Foundation

/// A revision number: every write of the desired state makes the next one, starting at 1.
public typealias RevisionNumber = Int64

/// One configuration file as the user wrote it (`Topologies/demo.yaml`), kept byte for byte so that
/// `sdn pull` gives back exactly what `sdn push` sent.
public struct StoredDocument: Codable, Hashable, Sendable {
    public var path: String
    public var text: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}

/// A revision's metadata, without its documents (history listings).
public struct RevisionSummary: Codable, Hashable, Sendable {
    public var number: RevisionNumber
    /// The revision it was made from (nil for the first).
    public var parent: RevisionNumber?
    /// Who wrote it: `unix:uid=0`, `token:<id>`, a CLI user name.
    public var author: String
    public var createdAt: Date
    public var message: String

    public init(number: RevisionNumber, parent: RevisionNumber?, author: String, createdAt: Date, message: String) {
        self.number = number
        self.parent = parent
        self.author = author
        self.createdAt = createdAt
        self.message = message
    }
}

/// One revision of the desired state: the documents, and a unified diff from its parent's documents.
public struct Revision: Codable, Hashable, Sendable {
    public var summary: RevisionSummary
    public var documents: [StoredDocument]
    /// A unified diff of the documents against the parent's (empty for identical content).
    public var diff: String

    public var number: RevisionNumber { summary.number }

    public init(summary: RevisionSummary, documents: [StoredDocument], diff: String) {
        self.summary = summary
        self.documents = documents
        self.diff = diff
    }
}

/// The revision nodes should run, and which choice of it this is: every `setTarget` (an apply, a
/// rollback, the same revision chosen again) makes the next generation. A node that reports generation G
/// has applied that choice, so `sdn apply --wait` waits for generations, not revision numbers (a rollback
/// goes back in revisions but forward in generations).
public struct TargetState: Codable, Hashable, Sendable {
    public var revision: RevisionNumber
    /// 1 for the first target, then one more for each.
    public var generation: Int64
    public var setBy: String
    public var setAt: Date

    public init(revision: RevisionNumber, generation: Int64, setBy: String, setAt: Date) {
        self.revision = revision
        self.generation = generation
        self.setBy = setBy
        self.setAt = setAt
    }
}

/// What one node last did with the desired state (its `applied` record).
public struct NodeApplyStatus: Codable, Hashable, Sendable {
    public var node: String
    /// The revision the node's kernel holds (nil before its first successful apply).
    public var appliedRevision: RevisionNumber?
    /// The target generation the node holds (nil before its first successful apply).
    public var appliedGeneration: Int64?
    /// The target generation the node last worked on, applied or not: with `lastError`, the generation
    /// that failed.
    public var generation: Int64?
    /// The last apply's error, cleared by the next success.
    public var lastError: String?
    /// The kernel differs from the applied revision (drift mode `report`, or a repair that failed).
    public var drift: Bool
    /// When the node last reported.
    public var updatedAt: Date

    public init(node: String, appliedRevision: RevisionNumber?, appliedGeneration: Int64? = nil, generation: Int64? = nil,
                lastError: String?, drift: Bool = false, updatedAt: Date) {
        self.node = node
        self.appliedRevision = appliedRevision
        self.appliedGeneration = appliedGeneration
        self.generation = generation
        self.lastError = lastError
        self.drift = drift
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey { case node, appliedRevision, appliedGeneration, generation, lastError, drift, updatedAt }

    /// Records written before generations existed decode with none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        node = try container.decode(String.self, forKey: .node)
        appliedRevision = try container.decodeIfPresent(RevisionNumber.self, forKey: .appliedRevision)
        appliedGeneration = try container.decodeIfPresent(Int64.self, forKey: .appliedGeneration)
        generation = try container.decodeIfPresent(Int64.self, forKey: .generation)
        lastError = try container.decodeIfPresent(String.self, forKey: .lastError)
        drift = try container.decodeIfPresent(Bool.self, forKey: .drift) ?? false
        updatedAt = try container.decode(Date.self, forKey: .updatedAt)
    }
}

/// A guest port a node has installed: in its bridge, with its firewall in the kernel (the port's
/// `installed` record). A guest that moves shows on its target node's list before it runs there, and
/// leaves its source's list once its ports are gone there.
public struct InstalledPort: Codable, Hashable, Sendable {
    /// `tap101i0`, `veth201i0`.
    public var port: String
    public var node: String
    public var guest: Int
    /// The target generation the node held when it saw the port installed.
    public var generation: Int64?
    public var installedAt: Date

    public init(port: String, node: String, guest: Int, generation: Int64?, installedAt: Date) {
        self.port = port
        self.node = node
        self.guest = guest
        self.generation = generation
        self.installedAt = installedAt
    }
}

/// One line of the append-only audit log: every write and every refused request.
public struct AuditEntry: Codable, Hashable, Sendable {
    /// Assigned by the store, increasing (0 before it is appended).
    public var sequence: Int64
    public var time: Date
    /// Who: `unix:uid=0`, `token:<id>`, `daemon`.
    public var actor: String
    /// What was asked: `PUT /v1/config`, `apply`, `token.create`.
    public var action: String
    /// The object path it concerned (`/firewall/guests/101/rules/r1`), or `/` for the whole state.
    public var object: String
    /// `ok`, or why not: `denied`, `unauthenticated`, `conflict`, `invalid`, `too-large`, `failed`.
    public var outcome: String
    /// The revision the write made or applied, when there is one.
    public var revision: RevisionNumber?
    public var detail: String

    public init(sequence: Int64 = 0, time: Date = Date(), actor: String, action: String, object: String, outcome: String,
                revision: RevisionNumber? = nil, detail: String = "") {
        self.sequence = sequence
        self.time = time
        self.actor = actor
        self.action = action
        self.object = object
        self.outcome = outcome
        self.revision = revision
        self.detail = detail
    }
}

/// A role grants privileges on object paths, Proxmox-style.
public enum Role: String, Codable, Hashable, Sendable, CaseIterable {
    /// Everything, tokens included.
    case administrator = "Administrator"
    /// Topology (zones, vnets, subnets, uplinks, guests' NICs), plan and apply; firewall read only.
    case networkAdmin = "NetworkAdmin"
    /// Firewall (policies, rules, groups, ipsets, aliases), plan and apply; topology read only.
    case firewallAdmin = "FirewallAdmin"
    /// Reads everything but tokens; writes nothing.
    case auditor = "Auditor"
}

/// An API token as stored: the secret itself is never kept, only its SHA-256.
public struct APIToken: Codable, Hashable, Sendable {
    /// Public identifier (shown in lists and the audit log).
    public var id: String
    public var role: Role
    /// Privileges limited to object paths under this prefix (`/` for all).
    public var pathPrefix: String
    public var comment: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?

    public init(id: String, role: Role, pathPrefix: String = "/", comment: String = "", createdAt: Date = Date(),
                expiresAt: Date? = nil, revokedAt: Date? = nil) {
        self.id = id
        self.role = role
        self.pathPrefix = pathPrefix
        self.comment = comment
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    /// Usable at `now`: neither revoked nor expired.
    public func isValid(at now: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { now < $0 } ?? true)
    }
}

/// Something the store changed, for watchers (the daemon's reconcile loop, the event stream).
public enum StoreChange: Hashable, Sendable {
    case revisionCreated(RevisionNumber)
    /// The revision nodes should run changed (an apply or a rollback).
    case targetChanged(RevisionNumber)
    case nodeStatus(String)
    /// A node became live or dead (its liveness began, was ended, or expired).
    case nodeLiveness(String)
}

public enum StateStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A conditional write found another head: the caller read a state someone has since replaced.
    case headMoved(expected: RevisionNumber?, actual: RevisionNumber?)
    case noSuchRevision(RevisionNumber)
    case noSuchToken(String)
    /// The storage itself failed (I/O, corruption, a schema newer than this program).
    case storage(String)

    public var description: String {
        switch self {
        case .headMoved(let expected, let actual):
            "the desired state moved on: expected head revision \(expected.map(String.init) ?? "none"), found \(actual.map(String.init) ?? "none")"
        case .noSuchRevision(let number): "no revision \(number)"
        case .noSuchToken(let id): "no token \(id)"
        case .storage(let message): "store: \(message)"
        }
    }
}

/// Where the controller keeps the desired state, its history, what nodes applied, tokens and the audit
/// log. SQLite (`SQLiteStateStore`) is the embedded default; the cluster implements it again on etcd.
/// Every implementation passes the same contract tests (`StateStoreContract` in SDNTesting).
///
/// Revisions: `head` is the newest revision (what `sdn push` and API edits write); the `target` is the
/// revision nodes should run (what `apply` chose). Pending changes exist when head ≠ target.
public protocol StateStore: Sendable {
    /// Writes a new revision whose parent is the current head. With `expectedHead`, refuses
    /// (`headMoved`) unless the head is still that revision (nil: the store is empty). The diff to the
    /// parent is computed by the store.
    func createRevision(documents: [StoredDocument], author: String, message: String,
                        expectedHead: RevisionNumber??) async throws -> Revision
    func revision(_ number: RevisionNumber) async throws -> Revision?
    /// A revision's documents alone, for a node that applies it (it has no use for the diff or summary).
    func documents(of number: RevisionNumber) async throws -> [StoredDocument]?
    func head() async throws -> Revision?
    /// The head's number alone (status pages ask often; the documents can be megabytes).
    func headNumber() async throws -> RevisionNumber?
    /// Newest first; `before` pages backwards.
    func history(limit: Int, before: RevisionNumber?) async throws -> [RevisionSummary]

    /// The revision nodes should run, or nil before the first apply.
    func target() async throws -> RevisionNumber?
    /// Chooses the revision nodes should run (it must exist).
    func setTarget(_ number: RevisionNumber, author: String) async throws

    /// The target with its generation (`target()` is its revision).
    func targetState() async throws -> TargetState?

    func recordNodeStatus(_ status: NodeApplyStatus) async throws
    func nodeStatuses() async throws -> [NodeApplyStatus]

    /// Makes or refreshes the node's liveness for `ttl`. A node refreshes it well within `ttl` while it
    /// runs; when it stops (a crash, a partition from the store) it is dead once `ttl` passed (etcd: a
    /// lease-backed key).
    func keepNodeAlive(_ node: String, ttl: Duration) async throws
    /// Ends the node's liveness now (a graceful stop).
    func endNodeLiveness(_ node: String) async throws
    /// The nodes whose liveness holds now.
    func liveNodes() async throws -> Set<String>
    /// Replaces the node's installed ports with these.
    func recordInstalledPorts(_ ports: [InstalledPort], node: String) async throws
    /// Every node's installed ports, by node then port.
    func installedPorts() async throws -> [InstalledPort]
    /// Forgets what a node reported: its applied record, its liveness, its installed ports (`sdn node remove`).
    func forgetNode(_ node: String) async throws

    /// Appends and returns the entry with its sequence number.
    @discardableResult
    func appendAudit(_ entry: AuditEntry) async throws -> AuditEntry
    /// Oldest first, entries with a sequence above `after`.
    func audit(after: Int64, limit: Int) async throws -> [AuditEntry]

    /// Stores a token under the SHA-256 of its secret.
    func addToken(_ token: APIToken, secretHash: [UInt8]) async throws
    /// The token whose secret hashes to this, valid or not (the caller checks validity and says why).
    func token(secretHash: [UInt8]) async throws -> APIToken?
    func tokens() async throws -> [APIToken]
    func revokeToken(id: String, at: Date) async throws

    /// Changes made through this store (by this process, or by others sharing it where the
    /// implementation can see them), from now on.
    func changes() -> AsyncStream<StoreChange>
}

extension StateStore {
    public func documents(of number: RevisionNumber) async throws -> [StoredDocument]? { try await revision(number)?.documents }
    public func headNumber() async throws -> RevisionNumber? { try await head()?.number }
    public func target() async throws -> RevisionNumber? { try await targetState()?.revision }
}
