import Foundation

// The API's JSON as the CLI reads and writes it. These mirror the daemon's types (SDNStore, SDNDaemon)
// without depending on them: the `sdn` binary links neither GRDB nor the server. Fields a person does
// not need to act on are optional, so that a newer daemon adding or dropping one breaks nothing.

/// `{"error":{"code","message","field"?}}`
struct APIErrorBody: Decodable {
    struct Detail: Decodable {
        var code: String
        var message: String
        var field: String?
    }

    var error: Detail
}

/// A 422: `{"diagnostics":[…]}`, the diagnostics `sdn validate` prints.
struct DiagnosticsBody: Decodable {
    var diagnostics: [RemoteDiagnostic]
}

struct RemoteDiagnostic: Decodable {
    var severity: String
    var code: String
    var message: String
    var file: String?
    var line: Int?
    var column: Int?
    var path: String?
    var hint: String?
}

/// One configuration file: its path relative to where it was pushed from, and its text byte for byte.
struct RemoteDocument: Codable, Hashable {
    var path: String
    var text: String
}

/// `GET /v1/config`
struct ConfigSnapshot: Decodable {
    var revision: Int64
    var etag: String?
    var documents: [RemoteDocument]
}

/// `PUT /v1/config`
struct ConfigPush: Encodable {
    var documents: [RemoteDocument]
    var message: String
}

/// `PUT /v1/config` → 201
struct CreatedRevision: Decodable {
    var revision: Int64
}

struct RemoteRevisionSummary: Decodable {
    var number: Int64
    var parent: Int64?
    var author: String
    var createdAt: Date
    var message: String
}

/// `GET /v1/plan` (one per node)
struct RemoteNodePlan: Decodable {
    var node: String
    var revision: Int64
    var text: String
    var steps: Int
    var firewallChanges: Int
    var conflicts: [String]
    var diagnostics: [String]

    var isEmpty: Bool { steps == 0 && firewallChanges == 0 }
}

/// `POST /v1/apply {revision?}`
struct ApplyRequest: Encodable {
    var revision: Int64?
}

struct RemoteApplyResult: Decodable {
    var node: String
    var revision: Int64
    var converged: Bool
    var outcome: String
    var errors: [String]
    var stepsApplied: Int
    var linkWrites: Int
    var firewallMessages: Int
    var milliseconds: Double
    var generation: Int64?
}

/// `GET /v1/status`
struct RemoteStatus: Decodable {
    var head: Int64?
    var target: Int64?
    var pending: Bool?
    var nodes: [RemoteNodeStatus]
}

struct RemoteNodeStatus: Decodable {
    var node: String
    var targetRevision: Int64?
    var appliedRevision: Int64?
    var headRevision: Int64?
    var pendingChanges: Bool
    var drift: Bool
    var lastError: String?
    var lastReconcile: Date?
    var portsPlugged: [String]
    var portsMissing: [String]
    var driftMode: String?
    var targetGeneration: Int64?
    var appliedGeneration: Int64?
    var storeError: String?
}

/// `GET /v1/cluster`
struct RemoteClusterReport: Decodable {
    var targetRevision: Int64?
    var generation: Int64?
    var headRevision: Int64?
    var nodes: [RemoteClusterNode]
    var converged: Bool
}

struct RemoteClusterNode: Decodable {
    var name: String
    var declared: Bool
    var address: String?
    var live: Bool
    /// applied, pending, failed or dead.
    var state: String
    var appliedRevision: Int64?
    var appliedGeneration: Int64?
    var lastError: String?
    var drift: Bool
    var updatedAt: Date?
    var ports: Int
}

/// The `data:` of one event on `GET /v1/events`.
struct RemoteEvent: Decodable {
    var sequence: Int64
    var time: Date
    var kind: String
    var node: String
    var revision: Int64?
    var message: String
    var figures: [String: Double]?
}

/// `POST /v1/tokens`
struct TokenRequest: Encodable {
    var role: String
    var pathPrefix: String?
    var expiresInSeconds: Int64?
    var comment: String?
}

struct CreatedToken: Decodable {
    var id: String
    var secret: String
    var role: String
    var expiresAt: Date?
}

/// `GET /v1/tokens`
struct RemoteToken: Decodable {
    var id: String
    var role: String
    var pathPrefix: String?
    var comment: String?
    var createdAt: Date?
    var expiresAt: Date?
    var revokedAt: Date?
}

/// A firewall rule with its stable id.
struct RemoteRule: Decodable {
    var id: String
    var text: String
    var position: Int
    var etag: String?
}

/// `POST /v1/policies/{policy}/rules`
struct RuleAddition: Encodable {
    var rule: String
    var id: String?
    var before: String?
    var after: String?
}

/// `POST /v1/policies/{policy}/rules/{id}/move`
struct RuleMove: Encodable {
    var before: String?
    var after: String?
}

/// `POST /v1/ipsets/{name}/entries`
struct IPSetEntryChange: Encodable {
    var add: [String]
    var remove: [String]
}
