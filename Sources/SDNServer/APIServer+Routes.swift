import Crypto
import Foundation
import Hummingbird
import NIOCore
import SDNConfig
import SDNDaemon
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNStore

extension APIServer {
    static let routeTable: [Route] = [
        Route(.get, "/openapi.yaml", requiresToken: false) { _, _ in
            var headers: HTTPFields = [:]
            headers[.contentType] = "application/yaml"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: try APIServer.openAPIDocument())))
        },
        Route(.get, "/metrics") { server, call in
            try call.require(.read, on: "/")
            var headers: HTTPFields = [:]
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: await server.metrics.exposition())))
        },
        Route(.get, "/v1/config") { server, call in try await server.getConfig(&call) },
        Route(.put, "/v1/config") { server, call in try await server.putConfig(&call) },
        Route(.get, "/v1/revisions") { server, call in
            try call.require(.read, on: "/")
            let limit = try call.integer("limit", in: 1...1000) ?? 50
            let before = try call.integer("before", in: 1...Int64.max)
            return try APIServer.json(try await server.store.history(limit: Int(limit), before: before))
        },
        Route(.get, "/v1/revisions/{number}") { server, call in
            try call.require(.read, on: "/")
            guard let number = Int64(call.parameter("number")), number >= 1 else {
                throw APIError.badRequest("the revision number must be a positive integer, not '\(call.parameter("number"))'", field: "number")
            }
            guard let revision = try await server.store.revision(number) else { throw APIError.notFound("no revision \(number); GET /v1/revisions lists them") }
            return try APIServer.json(RevisionJSON(revision))
        },
        Route(.get, "/v1/plan") { server, call in
            try call.require(.read, on: "/")
            let revision = try await server.existingRevision(try call.integer("revision", in: 1...Int64.max))
            return try APIServer.json([try await server.control.plan(revision: revision)])
        },
        Route(.post, "/v1/apply") { server, call in
            try call.require(.operate, on: "/")
            struct Body: Decodable { var revision: Int64? }
            let body = try await call.decode(Body.self, empty: Body(revision: nil))
            if let number = body.revision, number < 1 { throw APIError.badRequest("revision must be a positive integer", field: "revision") }
            let revision = try await server.existingRevision(body.revision)
            let result = try await server.control.apply(revision: revision, author: call.caller.actor)
            call.audit.revision = result.revision
            call.audit.detail = result.outcome
            return try APIServer.json(result)
        },
        Route(.get, "/v1/status") { server, call in
            try call.require(.read, on: "/")
            let head = try await server.store.headNumber()
            let target = try await server.store.target()
            return try server.statusResponse(StatusJSON(head: head, target: target, pending: head != target && head != nil, nodes: [try await server.control.status()]))
        },
        Route(.get, "/v1/cluster") { server, call in
            try call.require(.read, on: "/")
            return try APIServer.json(try await server.clusterReport())
        },
        Route(.delete, "/v1/cluster/nodes/{name}") { server, call in try await server.forgetNode(&call) },
        Route(.get, "/v1/events") { server, call in
            try call.require(.read, on: "/")
            return server.eventStream()
        },
        Route(.get, "/v1/audit") { server, call in
            try call.require(.read, on: "/")
            let after = try call.integer("after", in: 0...Int64.max) ?? 0
            let limit = try call.integer("limit", in: 1...10000) ?? 100
            return try APIServer.json(try await server.store.audit(after: after, limit: Int(limit)))
        },
        Route(.post, "/v1/trace") { server, call in try await server.trace(&call) },
        // The guest hooks (`sdn hook qemu`, `sdn hook lxc`): they block a guest's start until its ports
        // carry its firewall, so they answer only when the ports are ready (or say why not).
        Route(.get, "/v1/guests") { server, call in
            try call.require(.read, on: "/topology/guests")
            return try APIServer.json(try await server.control.guests())
        },
        Route(.post, "/v1/guests/{id}/ports/prepare") { server, call in
            let guest = try call.guestID()
            try call.require(.operate, on: "/topology/guests/\(guest)")
            call.audit.object = "guest \(guest)"
            return try APIServer.json(try await server.control.preparePorts(guest: guest))
        },
        Route(.post, "/v1/guests/{id}/ports/release") { server, call in
            let guest = try call.guestID()
            try call.require(.operate, on: "/topology/guests/\(guest)")
            call.audit.object = "guest \(guest)"
            return try APIServer.json(try await server.control.releasePorts(guest: guest))
        },
        Route(.post, "/v1/ports/{name}/plug") { server, call in
            let name = call.parameter("name")
            guard (1...15).contains(name.utf8.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw APIError.badRequest("'\(name)' is not an interface name (1 to 15 letters, digits, '.', '_' or '-')", field: "name")
            }
            try call.require(.operate, on: "/topology/guests")
            call.audit.object = name
            return try APIServer.json(try await server.control.plugPort(named: name))
        },
        Route(.get, "/v1/tokens") { server, call in
            try call.require(.tokens, on: "/tokens")
            return try APIServer.json(try await server.store.tokens())
        },
        Route(.post, "/v1/tokens") { server, call in try await server.createToken(&call) },
        Route(.delete, "/v1/tokens/{id}") { server, call in
            let id = call.parameter("id")
            try call.require(.tokens, on: "/tokens/\(id)")
            guard var token = try await server.store.tokens().first(where: { $0.id == id }) else {
                throw APIError.notFound("no token \(id); GET /v1/tokens lists them", field: "id")
            }
            let now = Date()
            try await server.store.revokeToken(id: id, at: now)
            token.revokedAt = token.revokedAt ?? now
            return try APIServer.json(token)
        },
        Route(.get, "/v1/objects/{kind}") { server, call in
            let kind = try APIServer.objectKind(call.parameter("kind"))
            try call.require(.read, on: "/")
            let caller = call.caller
            let objects = (try await server.headObjects()[kind] ?? []).filter { AccessPolicy.permits(caller, .read, on: $0.path) }
            return APIServer.json(text: objects.isEmpty ? "[]" : "[\n" + objects.map { $0.json() }.joined(separator: ",\n") + "\n]")
        },
        Route(.get, "/v1/objects/{kind}/{id}") { server, call in try await server.getObject(&call) },
        Route(.put, "/v1/objects/{kind}/{id}") { server, call in try await server.putObject(&call) },
        Route(.delete, "/v1/objects/{kind}/{id}") { server, call in try await server.deleteObject(&call) },
        Route(.get, "/v1/policies/{policy}/rules") { server, call in
            let policy = try APIServer.policyReference(call.parameter("policy"))
            try call.require(.read, on: policy.objectPath)
            let state = try await server.headState()?.state ?? DesiredState()
            guard policy.exists(in: state) else { throw APIError.notFound("\(policy) does not exist in the head revision", field: "policy") }
            return try APIServer.json(policy.rules(in: state).enumerated().map { ConfigWorkspace.ruleJSON($1, policy: policy, position: $0) })
        },
        Route(.post, "/v1/policies/{policy}/rules") { server, call in try await server.addRule(&call) },
        Route(.put, "/v1/policies/{policy}/rules/{id}") { server, call in try await server.replaceRule(&call) },
        Route(.delete, "/v1/policies/{policy}/rules/{id}") { server, call in try await server.deleteRule(&call) },
        Route(.post, "/v1/policies/{policy}/rules/{id}/move") { server, call in try await server.moveRule(&call) },
        Route(.post, "/v1/ipsets/{name}/entries") { server, call in try await server.editIPSet(&call) },
    ]

    static func objectKind(_ text: String) throws(APIError) -> ObjectKind {
        guard let kind = ObjectKind(rawValue: text) else {
            throw APIError.badRequest("'\(text)' is not an object kind; use one of \(ObjectKind.allCases.map(\.rawValue).joined(separator: ", "))", field: "kind")
        }
        return kind
    }

    static func policyReference(_ text: String) throws(APIError) -> PolicyReference {
        guard let reference = PolicyReference(text) else {
            throw APIError.badRequest("'\(text)' is not a policy id; write cluster, node:NAME, vnet:NAME, guest:ID or group:NAME", field: "policy")
        }
        return reference
    }

    /// The head revision and its model, nil when nothing was written yet.
    func headState() async throws -> (number: RevisionNumber, state: DesiredState)? {
        guard let head = try await headValidatedState() else { return nil }
        if let validated = head.validated { return (head.number, validated.value) }
        // Written by an older version and no longer valid: still readable.
        guard let revision = try await store.revision(head.number) else { return nil }
        return (head.number, try ConfigWorkspace.state(of: revision))
    }

    /// The status as JSON, encoded again only when it changed: status pages poll it, and at 1,000 guests
    /// it lists 2,000 ports (encoding them took more than the rest of the request).
    func statusResponse(_ status: StatusJSON) throws -> Response {
        let body: ByteBuffer
        if let cached = statusCache.withLock({ $0 }), cached.status == status {
            body = cached.body
        } else {
            body = ByteBuffer(bytes: try Self.encoder.encode(status))
            statusCache.withLock { $0 = (status, body) }
        }
        var headers: HTTPFields = [:]
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// The head's objects with their ETags, made once per revision (at 1,000 guests, rendering and
    /// hashing every object takes longer than a read may).
    func headObjects() async throws -> [ObjectKind: [ModelObject]] {
        guard let (number, state) = try await headState() else { return [:] }
        if let cached = objectsCache.withLock({ $0 }), cached.number == number { return cached.objects }
        let objects = ConfigWorkspace.objects(of: state)
        objectsCache.withLock { $0 = (number, objects) }
        return objects
    }

    /// The head's validated model, from the cache when it holds it (without reading the head's
    /// documents from the store: they can be megabytes); nil when there is no head or it no longer
    /// validates.
    func headValidatedState() async throws -> (number: RevisionNumber, validated: Validated<DesiredState>?)? {
        guard let number = try await store.headNumber() else { return nil }
        if let cached = stateCache.state(of: number) { return (number, cached) }
        guard let head = try await store.revision(number) else { return nil }
        return (number, validatedState(of: head))
    }

    /// `number` if that revision exists (404 otherwise); with nil, the head (409 when there is none).
    func existingRevision(_ number: RevisionNumber?) async throws -> RevisionNumber {
        if let number {
            guard try await store.revision(number) != nil else { throw APIError.notFound("no revision \(number); GET /v1/revisions lists them", field: "revision") }
            return number
        }
        guard let head = try await store.head() else {
            throw APIError.conflict("there is no revision yet; push a configuration first (PUT /v1/config or 'sdn push')")
        }
        return head.number
    }

    // MARK: config

    func getConfig(_ call: inout APICall) async throws -> Response {
        try call.require(.read, on: "/")
        let revision: Revision
        if let number = try call.integer("revision", in: 1...Int64.max) {
            guard let found = try await store.revision(number) else { throw APIError.notFound("no revision \(number); GET /v1/revisions lists them", field: "revision") }
            revision = found
        } else {
            guard let head = try await store.head() else {
                throw APIError.notFound("there is no revision yet; push a configuration first (PUT /v1/config or 'sdn push')")
            }
            revision = head
        }
        let etag = "\"rev-\(revision.number)\""
        var headers: HTTPFields = [:]
        headers[.eTag] = etag
        return try Self.json(ConfigJSON(revision: revision.number, etag: etag, documents: revision.documents), headers: headers)
    }

    /// Why a document path cannot be stored, or nil. Paths are written back under a directory by
    /// `sdn pull`: one that is absolute or climbs out (`..`) would make the revision unpullable.
    static func documentPathProblem(_ path: String) -> String? {
        if path.isEmpty { return "is empty; name the file (e.g. Topologies/site.yaml)" }
        if path.hasPrefix("/") { return "'\(path)' is absolute; send it relative to the configuration's directory (e.g. Topologies/site.yaml)" }
        if path.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return "contains a control character" }
        if path.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." || $0.isEmpty }) {
            return "'\(path)' has an empty or '..' component; send a plain relative path (e.g. Topologies/site.yaml)"
        }
        return nil
    }

    func putConfig(_ call: inout APICall) async throws -> Response {
        struct Body: Decodable {
            var documents: [StoredDocument]
            var message: String?
        }
        call.audit.object = "/"
        let body = try await call.decode(Body.self)
        for (index, document) in body.documents.enumerated() {
            if let problem = Self.documentPathProblem(document.path) {
                throw APIError.badRequest("documents[\(index)].path \(problem)", field: "documents.\(index).path")
            }
        }
        if let duplicate = Dictionary(grouping: body.documents, by: \.path).first(where: { $0.value.count > 1 })?.key {
            throw APIError.badRequest("two documents have the path '\(duplicate)'; each path appears once", field: "documents")
        }
        let expected = try Self.expectedRevision(call.request)
        let documents = ConfigWorkspace.configDocuments(body.documents)
        let (validated, diagnostics) = await ConfigWorkspace.check(documents)
        guard let validated else {
            var error = APIError(.unprocessableContent, code: "invalid-config",
                                 "the configuration has \(diagnostics.errors.count) error(s); nothing was stored. Fix them (see diagnostics) and send it again")
            let jsonIndex = Dictionary(uniqueKeysWithValues: body.documents.enumerated().compactMap { index, document in
                document.text.drop(while: \.isWhitespace).first == "{" ? (document.path, index) : nil
            })
            error.diagnostics = diagnostics.map { diagnostic in
                let pointer = diagnostic.location.flatMap { jsonIndex[$0.file] }.map { "/documents/\($0)/text" + ConfigWorkspace.jsonPointer(diagnostic.path) }
                return DiagnosticJSON(diagnostic, pointer: pointer)
            }
            call.audit.detail = "\(diagnostics.errors.count) error(s)"
            throw error
        }
        let head = try await store.head()
        if let expected, expected != head?.number {
            throw APIError.stale("If-Match names revision \(expected) but the head is \(head.map { String($0.number) } ?? "none"); GET /v1/config and merge your change into it")
        }
        // Every object the change touches needs the write privilege.
        let old = try head.map { try self.state(of: $0) } ?? DesiredState()
        let changed = ConfigWorkspace.changedPaths(from: old, to: validated.value)
        for path in changed where !AccessPolicy.permits(call.caller, .write, on: path) {
            call.audit.object = path
            throw APIError.forbidden(AccessPolicy.refusal(call.caller, .write, on: path) + " (the new configuration changes \(path))")
        }
        let revision = try await store.createRevision(documents: body.documents, author: call.caller.actor, message: body.message ?? "PUT /v1/config",
                                                      expectedHead: .some(head?.number))
        stateCache.remember(validated, for: revision.number)
        call.audit.revision = revision.number
        call.audit.detail = changed.isEmpty ? "no object changed" : "changed " + changed.joined(separator: ", ")
        var headers: HTTPFields = [:]
        headers[.eTag] = "\"rev-\(revision.number)\""
        return try Self.json(["revision": revision.number], status: .created, headers: headers)
    }

    /// `If-Match: "rev-N"` → N.
    static func expectedRevision(_ request: Request) throws(APIError) -> RevisionNumber? {
        guard let header = request.headers[.ifMatch] else { return nil }
        let text = header.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "W/", with: "")
        guard text.hasPrefix("\"rev-"), text.hasSuffix("\""), let number = Int64(text.dropFirst(5).dropLast()) else {
            throw APIError.badRequest("If-Match must be the ETag GET /v1/config returned, e.g. \"rev-12\"", field: "If-Match")
        }
        return number
    }

    // MARK: tokens

    /// Ten years, in seconds: `expiresInSeconds`' maximum in the spec.
    static let longestTokenLifetime = 315_360_000

    func createToken(_ call: inout APICall) async throws -> Response {
        try call.require(.tokens, on: "/tokens")
        struct Body: Decodable {
            var role: String
            var pathPrefix: String?
            var expiresInSeconds: Int?
            var comment: String?
        }
        let body = try await call.decode(Body.self)
        guard let role = Role(rawValue: body.role) else {
            throw APIError.badRequest("'\(body.role)' is not a role; use one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))", field: "role")
        }
        let prefix = body.pathPrefix ?? "/"
        guard prefix.hasPrefix("/") else { throw APIError.badRequest("pathPrefix must start with '/', e.g. /vnets/web", field: "pathPrefix") }
        // Bounded so that the expiry stays a four-digit-year RFC 3339 time (the spec's date-time).
        if let seconds = body.expiresInSeconds, !(1...Self.longestTokenLifetime).contains(seconds) {
            throw APIError.badRequest("expiresInSeconds must be from 1 to \(Self.longestTokenLifetime) (ten years), not \(seconds); leave it out for a token that does not expire",
                                      field: "expiresInSeconds")
        }
        var random = SystemRandomNumberGenerator()
        let secretBytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        let secret = "sdn_" + Data(secretBytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let id = (0..<6).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &random)) }.joined()
        let now = Date()
        let token = APIToken(id: id, role: role, pathPrefix: prefix, comment: body.comment ?? "", createdAt: now,
                             expiresAt: body.expiresInSeconds.map { now.addingTimeInterval(TimeInterval($0)) })
        try await store.addToken(token, secretHash: Array(SHA256.hash(data: Data(secret.utf8))))
        call.audit.object = "/tokens/\(id)"
        call.audit.detail = "role \(role.rawValue), prefix \(prefix)"
        return try Self.json(CreatedTokenJSON(id: id, secret: secret, role: role, pathPrefix: prefix, comment: token.comment,
                                              createdAt: now, expiresAt: token.expiresAt), status: .created)
    }
}

struct ConfigJSON: Encodable {
    var revision: RevisionNumber
    var etag: String
    var documents: [StoredDocument]
}

struct StatusJSON: Encodable, Equatable {
    var head: RevisionNumber?
    var target: RevisionNumber?
    var pending: Bool
    var nodes: [NodeStatusReport]
}

struct CreatedTokenJSON: Encodable {
    var id: String
    var secret: String
    var role: Role
    var pathPrefix: String
    var comment: String
    var createdAt: Date
    var expiresAt: Date?
}

/// A revision flattened as the spec's `Revision`.
struct RevisionJSON: Encodable {
    var number: RevisionNumber
    var parent: RevisionNumber?
    var author: String
    var createdAt: Date
    var message: String
    var documents: [StoredDocument]
    var diff: String

    init(_ revision: Revision) {
        number = revision.number
        parent = revision.summary.parent
        author = revision.summary.author
        createdAt = revision.summary.createdAt
        message = revision.summary.message
        documents = revision.documents
        diff = revision.diff
    }
}
