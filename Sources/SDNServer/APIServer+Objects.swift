import Foundation
import Hummingbird
import SDNConfig
import SDNModel
import SDNStore

extension APIServer {
    func getObject(_ call: inout APICall) async throws -> Response {
        let address = try ObjectAddress(kind: Self.objectKind(call.parameter("kind")), id: call.parameter("id"))
        try call.require(.read, on: address.path)
        let documents = RenderedDocuments(try await headState()?.state ?? DesiredState())
        guard let tree = documents.object(at: address) else {
            throw APIError.notFound("no \(address.description); GET /v1/objects/\(address.kind.rawValue) lists them", field: "id")
        }
        let object = address.object(tree)
        var headers: HTTPFields = [:]
        headers[.eTag] = object.etag
        return Self.json(text: object.json(), headers: headers)
    }

    /// Creates or replaces one object. The body is what GET returns (`kind`, `id`, `path` and `etag` are
    /// optional; `kind` and `id` must name this object when given); only `object` is written.
    func putObject(_ call: inout APICall) async throws -> Response {
        let address = try ObjectAddress(kind: Self.objectKind(call.parameter("kind")), id: call.parameter("id"))
        try call.require(.write, on: address.path)
        let preconditions = try ObjectPreconditions(call.request)
        let value = try Self.objectValue(try await call.body(), for: address, urlID: call.parameter("id"))
        let write = try await writeObject(&call, address, value, preconditions: preconditions)
        let object = write.object ?? address.object(RenderedDocuments.emptyPolicy)
        var headers: HTTPFields = [:]
        headers[.eTag] = object.etag
        // The revision that holds the object: the one the write made, or the head when nothing changed.
        let extra = write.revision.map { [("revision", String($0))] } ?? []
        return Self.json(text: object.json(extra: extra + [("unchanged", write.outcome == .unchanged ? "true" : "false")]),
                         status: write.outcome == .created ? .created : .ok, headers: headers)
    }

    func deleteObject(_ call: inout APICall) async throws -> Response {
        let address = try ObjectAddress(kind: Self.objectKind(call.parameter("kind")), id: call.parameter("id"))
        try call.require(.write, on: address.path)
        let preconditions = try ObjectPreconditions(call.request)
        let write = try await writeObject(&call, address, nil, preconditions: preconditions)
        return try Self.json(ObjectDeletedJSON(kind: address.kind.rawValue, id: address.id, path: address.path, revision: write.revision,
                                               unchanged: write.outcome == .unchanged))
    }

    enum ObjectWriteOutcome: String { case created, replaced, deleted, unchanged }

    /// One read-modify-write of the head for one object: the head's documents are rendered as trees, the
    /// object's entry is replaced (or removed), and the documents are checked exactly as PUT /v1/config
    /// checks them and stored as a revision whose parent is that head. The preconditions are checked
    /// against the object in each head tried, so a write that lost a race to an edit of another object
    /// is made again on the new head, and one that lost it to an edit of this object is refused with 412.
    /// A write that changes nothing stores nothing.
    func writeObject(_ call: inout APICall, _ address: ObjectAddress, _ value: RenderedTree?,
                     preconditions: ObjectPreconditions) async throws -> (outcome: ObjectWriteOutcome, revision: RevisionNumber?, object: ModelObject?) {
        call.audit.object = address.path
        for _ in 0..<options.editAttempts {
            let head = try await store.head()
            let old = try head.map { try self.state(of: $0) } ?? DesiredState()
            var documents = RenderedDocuments(old)
            let current = documents.object(at: address)
            try preconditions.check(current: current.map { address.object($0).etag }, address: address, replacing: value != nil)
            if value == nil && current == nil {
                throw APIError.notFound("no \(address.description) to delete; GET /v1/objects/\(address.kind.rawValue) lists them", field: "id")
            }
            let outcome: ObjectWriteOutcome = value == nil ? .deleted : current == nil ? .created : .replaced
            if let current, let value, current.json() == value.json() {
                call.audit.detail = "unchanged; no revision"
                return (.unchanged, head?.number, address.object(current))
            }
            guard documents.set(value, at: address) else {
                let (section, _) = address.kind.parentSection ?? ("", "")
                throw APIError.notFound("there is no \(section.dropLast()) '\(address.keys[1])' to hold \(address.description); create it first", field: "id")
            }
            let stored = try documents.stored()
            let configDocuments = ConfigWorkspace.configDocuments(stored)
            let loaded = ConfigLoader.load(configDocuments)
            if !loaded.diagnostics.hasErrors {
                let changed = ConfigWorkspace.changedPaths(from: old, to: loaded.state)
                if changed.isEmpty {
                    call.audit.detail = "unchanged; no revision"
                    return (.unchanged, head?.number, RenderedDocuments(loaded.state).object(at: address).map { address.object($0) })
                }
                // An edit of one object changes only it, what contains it and what it contains; anything
                // else would be a change the caller's privilege on this path does not cover.
                for path in changed where !address.encloses(path) && !AccessPolicy.permits(call.caller, .write, on: path) {
                    call.audit.object = path
                    throw APIError.forbidden(AccessPolicy.refusal(call.caller, .write, on: path) + " (writing \(address.path) changes \(path))")
                }
                if value != nil, RenderedDocuments(loaded.state).object(at: address) == nil, !address.isClusterPolicy {
                    let known = Set((ConfigWorkspace.objects(of: old)[address.kind] ?? []).map(\.id))
                    let stored = (ConfigWorkspace.objects(of: loaded.state)[address.kind] ?? []).map(\.id).filter { !known.contains($0) }
                    throw APIError.badRequest("'\(call.parameter("id"))' is not how the configuration writes this id" + (stored.first.map { "; it would be stored as '\($0)': use that id" } ?? ""),
                                              field: "id")
                }
            }
            // The documents were loaded once above; validation reads that result (parsing is most of a write's cost).
            let (validated, diagnostics) = await ConfigWorkspace.check(loaded: loaded)
            guard validated != nil else {
                let error = Self.refusal(of: address, deleting: value == nil, diagnostics: diagnostics)
                call.audit.detail = error.message
                throw error
            }
            let verb = outcome == .created ? "create" : outcome == .deleted ? "delete" : "replace"
            let revision: Revision
            do {
                revision = try await store.createRevision(documents: stored, author: call.caller.actor, message: "\(verb) \(address.path)",
                                                          expectedHead: .some(head?.number))
            } catch StateStoreError.headMoved {
                continue
            }
            // The model of exactly the documents stored: the next edit, read or reconcile need not parse them again.
            if let validated { stateCache.remember(validated, for: revision.number) }
            call.audit.revision = revision.number
            call.audit.detail = outcome.rawValue
            return (outcome, revision.number, RenderedDocuments(loaded.state).object(at: address).map { address.object($0) })
        }
        throw APIError.conflict("other writes kept changing the configuration; retry the edit")
    }

    /// A refused object write: 409 naming what still uses a deleted object, else 422; every diagnostic
    /// inside the object gets a JSON pointer into the request body (`/object/...`).
    static func refusal(of address: ObjectAddress, deleting: Bool, diagnostics: [Diagnostic]) -> APIError {
        let prefix = ConfigWorkspace.jsonPointer(address.configPath.description)
        let mapped = diagnostics.map { diagnostic in
            var pointer: String?
            let full = ConfigWorkspace.jsonPointer(diagnostic.path)
            let sameDocument = diagnostic.location.map { $0.file == address.documentPath } ?? true
            if sameDocument, full == prefix || full.hasPrefix(prefix + "/") { pointer = "/object" + full.dropFirst(prefix.count) }
            var json = DiagnosticJSON(diagnostic, pointer: pointer)
            // The places are in documents the caller did not send and that were not stored.
            (json.file, json.line, json.column, json.related) = (nil, nil, nil, [])
            return json
        }
        let errors = mapped.filter { $0.severity == "error" }
        func place(_ diagnostic: DiagnosticJSON) -> String { diagnostic.path.isEmpty ? diagnostic.message : "\(diagnostic.path): \(diagnostic.message)" }
        var error: APIError
        if deleting {
            let shown = errors.prefix(5).map(place).joined(separator: "; ")
            let more = errors.count > 5 ? " and \(errors.count - 5) more" : ""
            error = APIError(.conflict, code: "in-use",
                             "\(address.description) is still used: \(shown)\(more); change or delete those first. Nothing was deleted")
        } else {
            let first = errors.first { $0.pointer != nil } ?? errors.first
            let field = first?.pointer.map { pointer in
                (["object"] + pointer.split(separator: "/").dropFirst().map { $0.replacing("~1", with: "/").replacing("~0", with: "~") }).joined(separator: ".")
            }
            error = APIError(.unprocessableContent, code: "invalid-config",
                             "the \(address.kind.singular) would make the configuration invalid (\(first.map(place) ?? "see diagnostics")\(errors.count > 1 ? ", and \(errors.count - 1) more" : "")); nothing was stored",
                             field: field)
        }
        error.diagnostics = mapped
        return error
    }

    /// The `object` member of a PUT body, as a tree keeping the client's order of members.
    static func objectValue(_ buffer: ByteBuffer, for address: ObjectAddress, urlID: String) throws(APIError) -> RenderedTree {
        let data = Data(buffer.readableBytesView)
        let example = "send the object as GET /v1/objects/\(address.kind.rawValue)/\(address.id) returns it: {\"object\": {…}}"
        do { _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw APIError.badRequest("the body is not valid JSON; \(example)")
        }
        let tree: RenderedTree?
        do { tree = try RenderedTree.read(String(decoding: data, as: UTF8.self)) } catch {
            let field = error.pointer.split(separator: "/").map { $0.replacing("~1", with: "/").replacing("~0", with: "~") }.joined(separator: ".")
            throw APIError.badRequest("\(error.message) (at \(error.pointer.isEmpty ? "the top" : error.pointer)); \(example)", field: error.pointer.isEmpty ? nil : field)
        }
        guard case .map(let members)? = tree else { throw APIError.badRequest("the body must be a JSON object; \(example)") }
        func member(_ name: String) -> RenderedTree? { members.first { $0.0 == name }?.1 }
        if let kind = member("kind"), kind != .string(address.kind.rawValue) {
            throw APIError.badRequest("the body's kind is \(kind.json()) but the URL names \(address.kind.rawValue); leave kind out or make them agree", field: "kind")
        }
        if let id = member("id"), id != .string(address.id), id != .string(urlID) {
            throw APIError.badRequest("the body's id is \(id.json()) but the URL names \(address.id); rename an object by creating the new one and deleting the old", field: "id")
        }
        guard let object = member("object") else {
            throw APIError.badRequest("the body lacks 'object' (null is no object: DELETE removes one); \(example)", field: "object")
        }
        return object
    }
}

/// The conditions of an object write: `If-Match` (the ETags the client read, or `*`), `If-None-Match: *`
/// (create only).
struct ObjectPreconditions {
    var ifMatch: [String]?
    var createOnly: Bool

    init(_ request: Request) throws(APIError) {
        func tags(_ header: String) -> [String] {
            header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "W/", with: "") }
        }
        ifMatch = request.headers[.ifMatch].map(tags)
        createOnly = false
        if let header = request.headers[.ifNoneMatch] {
            guard tags(header) == ["*"] else {
                throw APIError.badRequest("writes understand only If-None-Match: * (create, refused when the object exists); for a replace send If-Match with its ETag",
                                          field: "If-None-Match")
            }
            createOnly = true
        }
    }

    /// `current` is the object's ETag, nil when it does not exist. Replacing an existing object needs
    /// `If-Match`, so that a client cannot overwrite a change it never saw.
    func check(current: String?, address: ObjectAddress, replacing: Bool) throws(APIError) {
        if let ifMatch {
            guard let current else {
                throw APIError.stale("there is no \(address.description), and If-Match needs it to exist; leave If-Match out (or send If-None-Match: *) to create it")
            }
            guard ifMatch.contains("*") || ifMatch.contains(current) else {
                throw APIError.stale("\(address.description) changed since you read it (its ETag is now \(current)); read it again and redo your edit")
            }
        }
        if createOnly, let current {
            throw APIError(.preconditionFailed, code: "precondition-failed",
                           "\(address.description) already exists (ETag \(current)); to replace it, send If-Match: \(current) instead of If-None-Match: *",
                           field: "If-None-Match")
        }
        if replacing, let current, ifMatch == nil, !createOnly {
            throw APIError(.preconditionRequired, code: "precondition-required",
                           "\(address.description) exists: replacing it needs If-Match with the ETag you read (now \(current)), or If-Match: * to overwrite whatever is there",
                           field: "If-Match")
        }
    }
}

struct ObjectDeletedJSON: Encodable {
    var kind: String
    var id: String
    var path: String
    var revision: RevisionNumber?
    var unchanged: Bool
}
