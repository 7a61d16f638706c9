import Foundation
import Hummingbird
import SDNConfig
import SDNFirewall
import SDNModel
import SDNStore

extension APIServer {
    /// One read-modify-write of the head: `change` edits the model of the current head (checking its
    /// preconditions against it, so a retry re-checks them), the state is rendered as written, checked,
    /// and stored as a revision whose parent is that head. When another write moved the head in between,
    /// the edit is made again on the new head.
    ///
    /// An edit of guests' policies alone is checked incrementally (those policies validated and
    /// compiled against the unchanged rest, as `sdn validate` would find them), so its cost follows the
    /// policy, not the cluster; anything else, and any edit that finds a problem, is checked as a whole
    /// (the rendered documents parsed again, so diagnostics name their lines). Where the time went is
    /// answered in `Server-Timing`.
    func edit<T: Sendable>(_ call: inout APICall, action: String, object: String,
                           _ change: (inout DesiredState) throws -> T) async throws -> (result: T, revision: Revision) {
        call.audit.object = object
        for _ in 0..<options.editAttempts {
            let head = try await call.timed("read") { try await headValidatedState() }
            var state: DesiredState
            if let validated = head?.validated {
                state = validated.value
            } else if let number = head?.number, let revision = try await store.revision(number) {
                state = try self.state(of: revision)
            } else {
                state = DesiredState()
            }
            let result = try change(&state)
            let documents = try await call.timed("render") { try ConfigWorkspace.render(state) }
            var validated = await call.timed("check-incremental") { Self.checkGuestPolicies(of: state, over: head?.validated) }
            if validated == nil {
                let (checked, diagnostics) = await call.timed("check") { await ConfigWorkspace.check(ConfigWorkspace.configDocuments(documents)) }
                guard let checked else {
                    var error = APIError(.unprocessableContent, code: "invalid-config",
                                         "the edit would make the configuration invalid (\(diagnostics.errors.first.map(\.message) ?? "see diagnostics")); nothing was stored")
                    error.diagnostics = diagnostics.map { DiagnosticJSON($0) }
                    throw error
                }
                validated = checked
            }
            do {
                let author = call.caller.actor
                let revision = try await call.timed("store") {
                    try await store.createRevision(documents: documents, author: author, message: "\(action) \(object)",
                                                   expectedHead: .some(head?.number))
                }
                if let validated { stateCache.remember(validated, for: revision.number) }
                call.audit.revision = revision.number
                return (result, revision)
            } catch StateStoreError.headMoved {
                continue
            }
        }
        throw APIError.conflict("other writes kept changing the configuration; retry the edit")
    }

    /// `state` validated incrementally over `base` when it differs from it only in guests' firewall
    /// policies and those check out clean: nil when the edit is of another kind, or when any changed
    /// policy has an error (the whole check then reports it, with its line in the documents).
    static func checkGuestPolicies(of state: DesiredState, over base: Validated<DesiredState>?) -> Validated<DesiredState>? {
        guard let base, let changed = state.guestPolicyChanges(since: base.value), !changed.isEmpty else { return nil }
        var validated = base
        for id in changed.sorted() {
            let outcome = if let policy = state.firewall.guests.first(where: { $0.scope == .guest(id) }) {
                validated.replacingGuestPolicy(policy)
            } else {
                validated.removingGuestPolicy(of: id)
            }
            guard let next = outcome.validated else { return nil }
            validated = next
        }
        // What the firewall compiler would refuse for these guests on their node (the whole check
        // compiles every node).
        for guest in validated.value.guests where changed.contains(guest.id) {
            if FirewallCompiler.compileGuests([guest.id], of: validated, node: guest.node, features: .full).diagnostics.hasErrors { return nil }
        }
        // The policies' order in the documents is the state's: keep the edited state's.
        return validated.value == state ? validated : nil
    }

    /// The rule's position in a policy, 404 when absent.
    static func ruleIndex(_ id: String, in rules: [FirewallRule], policy: PolicyReference) throws(APIError) -> Int {
        guard let index = rules.firstIndex(where: { $0.id == id }) else {
            throw APIError.notFound("\(policy) has no rule '\(id)'; GET /v1/policies/\(policy)/rules lists them", field: "id")
        }
        return index
    }

    static func checkIfMatch(_ request: Request, etag: String, what: String) throws(APIError) {
        guard let header = request.headers[.ifMatch] else { return }
        let tags = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "W/", with: "") }
        guard tags.contains("*") || tags.contains(etag) else {
            throw APIError.stale("\(what) changed since you read it (its ETag is now \(etag)); read it again and redo your edit")
        }
    }

    /// Where `before`/`after` put a rule in `rules` (which no longer holds it).
    static func insertionIndex(before: String?, after: String?, in rules: [FirewallRule], policy: PolicyReference) throws(APIError) -> Int {
        if before != nil && after != nil { throw APIError.badRequest("give before or after, not both", field: "before") }
        if let before {
            guard let index = rules.firstIndex(where: { $0.id == before }) else {
                throw APIError.badRequest("\(policy) has no rule '\(before)' to insert before", field: "before")
            }
            return index
        }
        if let after {
            guard let index = rules.firstIndex(where: { $0.id == after }) else {
                throw APIError.badRequest("\(policy) has no rule '\(after)' to insert after", field: "after")
            }
            return index + 1
        }
        return rules.count
    }

    func addRule(_ call: inout APICall) async throws -> Response {
        let policy = try Self.policyReference(call.parameter("policy"))
        struct Body: Decodable {
            var rule: String
            var id: String?
            var before: String?
            var after: String?
        }
        try call.require(.write, on: policy.objectPath + "/rules")
        let body = try await call.decode(Body.self)
        var parsed = try ConfigWorkspace.parseRule(body.rule)
        if let id = body.id {
            if let problem = Identifier.ruleIDProblem(with: id) { throw APIError.badRequest("invalid rule id '\(id)': \(problem)", field: "id") }
            if parsed.hasExplicitID && parsed.id != id {
                throw APIError.badRequest("the rule text says 'id \(parsed.id)' and the body says id '\(id)'; give it once", field: "id")
            }
            parsed.id = id
        } else if !parsed.hasExplicitID {
            parsed.id = "api-" + (0..<4).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max)) }.joined()
        }
        parsed.hasExplicitID = true
        let rule = parsed
        let objectPath = policy.objectPath + "/rules/" + rule.id
        try call.require(.write, on: objectPath)
        let (position, revision) = try await edit(&call, action: "add", object: objectPath) { state throws -> Int in
            guard policy.exists(in: state) else { throw APIError.notFound("\(policy) does not exist in the head revision", field: "policy") }
            var rules = policy.rules(in: state)
            if rules.contains(where: { $0.id == rule.id }) {
                throw APIError(.conflict, code: "conflict", "\(policy) already has a rule '\(rule.id)'; choose another id or edit that rule with PUT", field: "id")
            }
            let index = try Self.insertionIndex(before: body.before, after: body.after, in: rules, policy: policy)
            rules.insert(rule, at: index)
            policy.setRules(rules, in: &state)
            return index
        }
        var headers: HTTPFields = [:]
        headers[.eTag] = ConfigWorkspace.ruleETag(rule)
        return try Self.json(ConfigWorkspace.ruleJSON(rule, policy: policy, position: position, revision: revision.number), status: .created, headers: headers)
    }

    func replaceRule(_ call: inout APICall) async throws -> Response {
        let policy = try Self.policyReference(call.parameter("policy"))
        let id = call.parameter("id")
        let objectPath = policy.objectPath + "/rules/" + id
        try call.require(.write, on: objectPath)
        struct Body: Decodable { var rule: String }
        let body = try await call.decode(Body.self)
        var parsed = try ConfigWorkspace.parseRule(body.rule)
        if parsed.hasExplicitID && parsed.id != id {
            throw APIError.badRequest("the rule text says 'id \(parsed.id)' but this is rule '\(id)'; leave the id out of the text", field: "rule")
        }
        // The rule keeps its id across the edit, so it becomes explicit.
        parsed.id = id
        parsed.hasExplicitID = true
        let rule = parsed
        let request = call.request
        let (position, revision) = try await edit(&call, action: "replace", object: objectPath) { state throws -> Int in
            var rules = policy.rules(in: state)
            let index = try Self.ruleIndex(id, in: rules, policy: policy)
            try Self.checkIfMatch(request, etag: ConfigWorkspace.ruleETag(rules[index]), what: "rule \(id)")
            rules[index] = rule
            policy.setRules(rules, in: &state)
            return index
        }
        var headers: HTTPFields = [:]
        headers[.eTag] = ConfigWorkspace.ruleETag(rule)
        return try Self.json(ConfigWorkspace.ruleJSON(rule, policy: policy, position: position, revision: revision.number), headers: headers)
    }

    func deleteRule(_ call: inout APICall) async throws -> Response {
        let policy = try Self.policyReference(call.parameter("policy"))
        let id = call.parameter("id")
        let objectPath = policy.objectPath + "/rules/" + id
        try call.require(.write, on: objectPath)
        let request = call.request
        let (_, revision) = try await edit(&call, action: "delete", object: objectPath) { state throws in
            var rules = policy.rules(in: state)
            let index = try Self.ruleIndex(id, in: rules, policy: policy)
            try Self.checkIfMatch(request, etag: ConfigWorkspace.ruleETag(rules[index]), what: "rule \(id)")
            rules.remove(at: index)
            policy.setRules(rules, in: &state)
        }
        return try Self.json(["revision": revision.number])
    }

    func moveRule(_ call: inout APICall) async throws -> Response {
        let policy = try Self.policyReference(call.parameter("policy"))
        let id = call.parameter("id")
        let objectPath = policy.objectPath + "/rules/" + id
        try call.require(.write, on: objectPath)
        struct Body: Decodable {
            var before: String?
            var after: String?
        }
        let body = try await call.decode(Body.self)
        guard body.before != nil || body.after != nil else {
            throw APIError.badRequest("say where to move the rule: before or after another rule's id", field: "before")
        }
        if body.before == id || body.after == id { throw APIError.badRequest("a rule cannot move relative to itself", field: body.before == id ? "before" : "after") }
        let request = call.request
        let ((rule, position), revision) = try await edit(&call, action: "move", object: objectPath) { state throws -> (FirewallRule, Int) in
            var rules = policy.rules(in: state)
            let index = try Self.ruleIndex(id, in: rules, policy: policy)
            try Self.checkIfMatch(request, etag: ConfigWorkspace.ruleETag(rules[index]), what: "rule \(id)")
            let rule = rules.remove(at: index)
            let target = try Self.insertionIndex(before: body.before, after: body.after, in: rules, policy: policy)
            rules.insert(rule, at: target)
            policy.setRules(rules, in: &state)
            return (rule, target)
        }
        return try Self.json(ConfigWorkspace.ruleJSON(rule, policy: policy, position: position, revision: revision.number))
    }

    func editIPSet(_ call: inout APICall) async throws -> Response {
        let name = call.parameter("name")
        let objectPath = "/firewall/ipsets/\(name)"
        try call.require(.write, on: objectPath)
        struct Body: Decodable {
            var add: [String]?
            var remove: [String]?
        }
        let body = try await call.decode(Body.self)
        func parse(_ texts: [String], _ field: String) throws(APIError) -> [IPSet.Entry] {
            var entries: [IPSet.Entry] = []
            for (index, text) in texts.enumerated() {
                do { entries.append(try IPSet.Entry(text)) } catch {
                    throw APIError.badRequest("\(field)[\(index)]: \(error.reason)", field: "\(field).\(index)")
                }
            }
            return entries
        }
        let additions = try parse(body.add ?? [], "add"), removals = try parse(body.remove ?? [], "remove")
        guard !additions.isEmpty || !removals.isEmpty else { throw APIError.badRequest("give entries to add or remove", field: "add") }
        let request = call.request
        let (set, revision) = try await edit(&call, action: "edit", object: objectPath) { state throws -> IPSet in
            guard let index = state.firewall.ipsets.firstIndex(where: { $0.name == name }) else {
                throw APIError.notFound("no IP set '\(name)'; GET /v1/objects/ipsets lists them", field: "name")
            }
            let current = RenderedDocuments(state).object(at: .named(.ipsets, name)).map { ObjectAddress.named(.ipsets, name).object($0) }
            try Self.checkIfMatch(request, etag: current?.etag ?? "", what: "IP set \(name)")
            var set = state.firewall.ipsets[index]
            let removedTexts = Set(removals.map(\.description))
            let missing = removedTexts.subtracting(set.entries.map(\.description))
            if let entry = missing.sorted().first {
                throw APIError.badRequest("IP set \(name) has no entry \(entry) to remove", field: "remove")
            }
            set.entries.removeAll { removedTexts.contains($0.description) }
            for entry in additions where !set.entries.contains(where: { $0.description == entry.description }) { set.entries.append(entry) }
            state.firewall.ipsets[index] = set
            return set
        }
        let state = try self.state(of: revision)
        let etag = RenderedDocuments(state).object(at: .named(.ipsets, name)).map { ObjectAddress.named(.ipsets, name).object($0).etag } ?? ""
        var headers: HTTPFields = [:]
        headers[.eTag] = etag
        return try Self.json(IPSetJSON(name: name, entries: set.entries.map(\.description), etag: etag, revision: revision.number), headers: headers)
    }
}

struct IPSetJSON: Encodable {
    var name: String
    var entries: [String]
    var etag: String
    var revision: RevisionNumber
}
