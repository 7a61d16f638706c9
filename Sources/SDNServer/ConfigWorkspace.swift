import Crypto
import Foundation
import SDNConfig
import SDNFirewall
import SDNModel
import SDNStore

/// A diagnostic as `sdn validate --output json` prints it, plus a JSON pointer for JSON documents.
struct DiagnosticJSON: Codable, Hashable, Sendable {
    var severity: String
    var code: String
    var message: String
    var file: String?
    var line: Int?
    var column: Int?
    var path: String
    var pointer: String?
    var hint: String?
    var related: [String]

    init(_ diagnostic: Diagnostic, pointer: String? = nil) {
        severity = diagnostic.severity.rawValue
        code = diagnostic.code.description
        message = diagnostic.message
        file = diagnostic.location?.file
        line = diagnostic.location?.line
        column = diagnostic.location?.column
        path = diagnostic.path
        self.pointer = pointer
        hint = diagnostic.hint
        related = diagnostic.related.map(\.description)
    }
}

/// The kinds of objects the API names by stable id (`ObjectAddress` says how each is addressed). Rules
/// have routes of their own (`/v1/policies/{policy}/rules/{id}`): their order inside a policy matters.
enum ObjectKind: String, CaseIterable, Sendable {
    case nodes, uplinks, zones, vnets, subnets, guests, nics, policies, groups, ipsets, aliases
}

/// A JSON value made from a rendered document tree (objects keep the documents' schema).
enum JSONValue: Encodable, Sendable {
    case tree(RenderedTree)

    func encode(to encoder: any Encoder) throws {
        guard case .tree(let tree) = self else { return }
        switch tree {
        case .string(let text): var c = encoder.singleValueContainer(); try c.encode(text)
        case .integer(let value): var c = encoder.singleValueContainer(); try c.encode(value)
        case .number(let value): var c = encoder.singleValueContainer(); try c.encode(value)
        case .bool(let value): var c = encoder.singleValueContainer(); try c.encode(value)
        case .list(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(JSONValue.tree(item)) }
        case .map(let pairs):
            var c = encoder.container(keyedBy: AnyKey.self)
            for (key, value) in pairs { try c.encode(JSONValue.tree(value), forKey: AnyKey(stringValue: key)) }
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// One object of the model with its stable id, object path and ETag.
struct ModelObject: Sendable {
    var kind: String
    var id: String
    var path: String
    var etag: String
    var object: RenderedTree

    /// The object as JSON, its members in document order: a JSONEncoder with sorted keys would sort
    /// them, and the order of a node's uplinks or a vnet's subnets is the order they are stored in (a
    /// client that writes back what it read must not reorder them). `extra` members are appended.
    func json(extra: [(String, String)] = []) -> String {
        let members = [("etag", etag.jsonLiteral), ("id", id.jsonLiteral), ("kind", kind.jsonLiteral),
                       ("object", object.json(indent: "  ")), ("path", path.jsonLiteral)] + extra
        return "{\n" + members.map { "  \($0.0.jsonLiteral): \($0.1)" }.joined(separator: ",\n") + "\n}"
    }
}

/// A policy as the rules routes name it: `cluster`, `node:NAME`, `vnet:NAME`, `guest:ID`, `group:NAME`.
enum PolicyReference: Hashable, Sendable, CustomStringConvertible {
    case scope(PolicyScope)
    case group(String)

    init?(_ text: String) {
        if text == "cluster" { self = .scope(.cluster); return }
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let kind = text[..<colon], name = String(text[text.index(after: colon)...])
        guard !name.isEmpty else { return nil }
        switch kind {
        case "node": self = .scope(.node(name))
        case "vnet": self = .scope(.vnet(name))
        case "guest":
            guard let id = Int(name), id >= 0 else { return nil }
            self = .scope(.guest(id))
        case "group": self = .group(name)
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .scope(.cluster): "cluster"
        case .scope(.node(let name)): "node:\(name)"
        case .scope(.vnet(let name)): "vnet:\(name)"
        case .scope(.guest(let id)): "guest:\(id)"
        case .group(let name): "group:\(name)"
        }
    }

    /// The object path privileges are checked on.
    var objectPath: String {
        switch self {
        case .scope(.cluster): "/firewall/cluster"
        case .scope(.node(let name)): "/firewall/nodes/\(name)"
        case .scope(.vnet(let name)): "/vnets/\(name)/firewall"
        case .scope(.guest(let id)): "/guests/\(id)/firewall"
        case .group(let name): "/firewall/groups/\(name)"
        }
    }

    /// Whether the object the policy belongs to exists (a policy nobody wrote yet is empty).
    func exists(in state: DesiredState) -> Bool {
        switch self {
        case .scope(.cluster): true
        case .scope(.node(let name)): state.nodes.contains { $0.name == name }
        case .scope(.vnet(let name)): state.vnets.contains { $0.name == name }
        case .scope(.guest(let id)): state.guests.contains { $0.id == id }
        case .group(let name): state.firewall.groups.contains { $0.name == name }
        }
    }

    func rules(in state: DesiredState) -> [FirewallRule] {
        switch self {
        case .scope(let scope): state.firewall.policy(for: scope)?.rules ?? []
        case .group(let name): state.firewall.groups.first { $0.name == name }?.rules ?? []
        }
    }

    func setRules(_ rules: [FirewallRule], in state: inout DesiredState) {
        switch self {
        case .scope(.cluster): state.firewall.cluster.rules = rules
        case .scope(let scope):
            func update(_ policies: inout [FirewallPolicy]) {
                if let index = policies.firstIndex(where: { $0.scope == scope }) {
                    policies[index].rules = rules
                } else {
                    policies.append(FirewallPolicy(scope: scope, rules: rules))
                }
            }
            switch scope {
            case .node: update(&state.firewall.nodes)
            case .vnet: update(&state.firewall.vnets)
            case .guest: update(&state.firewall.guests)
            case .cluster: break
            }
        case .group(let name):
            if let index = state.firewall.groups.firstIndex(where: { $0.name == name }) { state.firewall.groups[index].rules = rules }
        }
    }
}

/// A rule as the API shows it.
struct RuleJSON: Encodable, Sendable {
    var id: String
    var policy: String
    var text: String
    var position: Int
    var etag: String
    var explicitID: Bool
    var revision: RevisionNumber?
}

/// Loading, checking and rendering the desired state for the API.
enum ConfigWorkspace {
    static let topologyPath = "Topologies/sdn.yaml"
    static let policyPath = "Policies/sdn.yaml"

    static func configDocuments(_ documents: [StoredDocument]) -> [ConfigDocument] {
        documents.map { ConfigDocument(path: $0.path, text: $0.text, kind: ConfigDocument.kind(impliedBy: $0.path)) }
    }

    /// A stored revision as a model. Stored revisions were checked when written; one that does not
    /// load (written by an older version, or by hand into the database) is a conflict to report.
    static func state(of revision: Revision) throws(APIError) -> DesiredState {
        let loaded = ConfigLoader.load(configDocuments(revision.documents))
        if loaded.diagnostics.hasErrors {
            throw APIError.conflict("revision \(revision.number) does not load (\(loaded.diagnostics.errors.first!.description)); replace the configuration with PUT /v1/config")
        }
        return loaded.state
    }

    /// What `sdn validate` reports for these documents, plus the firewall compiler's errors for every
    /// node: the state is accepted only when none of them is an error.
    static func check(_ documents: [ConfigDocument]) async -> (validated: Validated<DesiredState>?, diagnostics: [Diagnostic]) {
        await check(loaded: ConfigLoader.load(documents))
    }

    /// `check` of documents already loaded.
    static func check(loaded: LoadResult) async -> (validated: Validated<DesiredState>?, diagnostics: [Diagnostic]) {
        let (validated, diagnostics) = ConfigLoader.validate(loaded)
        guard let validated else { return (nil, diagnostics) }
        var all = diagnostics + (await LockoutCheck.findings(in: validated))
        for node in validated.value.nodes {
            let compiled = await FirewallCompiler.compile(validated, node: node.name, features: .full, parallelism: .serial)
            all += compiled.diagnostics.errors
        }
        all = Array(Set(all)).sortedForDisplay()
        return (all.hasErrors ? nil : validated, all)
    }

    /// The state as the documents an edit writes: every option as written, explicit rule ids kept.
    static func render(_ state: DesiredState) throws -> [StoredDocument] {
        [
            StoredDocument(path: topologyPath, text: try ConfigRenderer.topology(state).yaml()),
            StoredDocument(path: policyPath, text: try ConfigRenderer.policy(state, style: .asWritten).yaml()),
        ]
    }

    static func etag(of text: String) -> String {
        let digest = SHA256.hash(data: Data(text.utf8))
        return "\"" + digest.prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
    }

    static func ruleETag(_ rule: FirewallRule) -> String { etag(of: ConfigRenderer.ruleLine(rule)) }

    static func ruleJSON(_ rule: FirewallRule, policy: PolicyReference, position: Int, revision: RevisionNumber? = nil) -> RuleJSON {
        RuleJSON(id: rule.id, policy: policy.description, text: ConfigRenderer.ruleLine(rule), position: position,
                 etag: ruleETag(rule), explicitID: rule.hasExplicitID, revision: revision)
    }

    /// Every object of the state with its path and ETag.
    static func objects(of state: DesiredState) -> [ObjectKind: [ModelObject]] {
        let documents = RenderedDocuments(state)
        var result: [ObjectKind: [ModelObject]] = [:]
        for kind in [ObjectKind.nodes, .zones, .vnets, .guests] {
            result[kind] = documents.topology.value(at: [kind.rawValue])?.members.map { ObjectAddress.named(kind, $0.0).object($0.1) } ?? []
        }
        for kind in [ObjectKind.uplinks, .subnets, .nics] {
            let (section, member) = kind.parentSection!
            result[kind] = (documents.topology.value(at: [section])?.members ?? []).flatMap { parent, tree in
                (tree.value(at: [member])?.members ?? []).map { ObjectAddress.part(kind, of: parent, key: $0.0).object($0.1) }
            }
        }
        let cluster = ObjectAddress.policy(.scope(.cluster))
        var policies = [cluster.object(documents.object(at: cluster)!)]
        for (section, prefix) in [("nodes", "node"), ("vnets", "vnet"), ("guests", "guest")] {
            for (key, tree) in documents.policy.value(at: [section])?.members ?? [] {
                guard let reference = PolicyReference("\(prefix):\(key)") else { continue }
                policies.append(ObjectAddress.policy(reference).object(tree))
            }
        }
        result[.policies] = policies
        for kind in [ObjectKind.groups, .ipsets, .aliases] {
            result[kind] = documents.policy.value(at: [kind.rawValue])?.members.map { ObjectAddress.named(kind, $0.0).object($0.1) } ?? []
        }
        return result
    }

    /// The object paths whose content differs between two states (added, removed or changed).
    static func changedPaths(from old: DesiredState, to new: DesiredState) -> [String] {
        func table(_ state: DesiredState) -> [String: String] {
            var table: [String: String] = [:]
            for list in objects(of: state).values { for object in list { table[object.path] = object.etag } }
            return table
        }
        let before = table(old), after = table(new)
        return Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
    }

    /// A JSON pointer from a diagnostic's key path (`vnets.web.subnets["10.0.0.0/24"].gateway` →
    /// `/vnets/web/subnets/10.0.0.0~124/gateway`).
    static func jsonPointer(_ keyPath: String) -> String {
        var components: [String] = []
        var current = ""
        var index = keyPath.startIndex
        func flush() { if !current.isEmpty { components.append(current); current = "" } }
        while index < keyPath.endIndex {
            let character = keyPath[index]
            if character == "." {
                flush()
                index = keyPath.index(after: index)
            } else if character == "[" {
                flush()
                guard let close = keyPath[index...].firstIndex(of: "]") else { current += String(keyPath[index...]); break }
                var inner = keyPath[keyPath.index(after: index)..<close]
                if inner.hasPrefix("\"") {
                    // A quoted key may contain `]`: find the closing quote first.
                    let afterQuote = keyPath.index(after: keyPath.index(after: index))
                    if let quote = keyPath[afterQuote...].firstIndex(of: "\""), let realClose = keyPath[quote...].firstIndex(of: "]") {
                        inner = keyPath[afterQuote..<quote]
                        components.append(String(inner))
                        index = keyPath.index(after: realClose)
                        continue
                    }
                }
                components.append(String(inner))
                index = keyPath.index(after: close)
            } else {
                current.append(character)
                index = keyPath.index(after: index)
            }
        }
        flush()
        return components.map { "/" + $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }.joined()
    }

    /// Parses one rule line on its own, to report a mistake in it against the request's `rule` field.
    static func parseRule(_ line: String) throws(APIError) -> FirewallRule {
        let quoted = line.jsonLiteral
        let prefix = "    - "
        let text = "kind: policy\ncluster:\n  rules:\n\(prefix)\(quoted)\n"
        let loaded = ConfigLoader.load([ConfigDocument(path: "rule", text: text, kind: .policy)])
        if let error = loaded.diagnostics.errors.first {
            var message = error.message
            if let location = error.location, location.line == 4 {
                // Column of the offending word inside the rule (1-based), past the list marker and quote.
                let column = max(1, location.column - prefix.count - 1)
                message += " (at character \(column) of the rule)"
            }
            var apiError = APIError(.unprocessableContent, code: "invalid-rule", message + (error.hint.map { "; \($0)" } ?? ""), field: "rule")
            // The spec's InvalidEdit always has diagnostics; the wrapper document's file and lines mean nothing to the caller.
            apiError.diagnostics = [DiagnosticJSON(error)].map { diagnostic in
                var diagnostic = diagnostic
                (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.message) = (nil, nil, nil, message)
                return diagnostic
            }
            throw apiError
        }
        guard var rule = loaded.state.firewall.cluster.rules.first, loaded.state.firewall.cluster.rules.count == 1 else {
            var apiError = APIError(.unprocessableContent, code: "invalid-rule", "'\(line)' is not one rule; write e.g. 'in accept tcp dport 22'", field: "rule")
            apiError.diagnostics = []
            throw apiError
        }
        rule.origin = nil
        rule.sourcePath = nil
        return rule
    }
}
