import SDNConfig
import SDNModel
import SDNStore

/// Where one object of the model lives: its kind and stable id as the API names them, the object path
/// privileges are checked on, and the key path of its entry in the rendered documents.
///
/// Parts of an object (a node's uplinks, a vnet's subnets, a guest's NICs) are objects of their own, with
/// ids `PARENT:KEY` and paths under the parent's (`/vnets/web/subnets/10.0.0.0-24`): two clients editing
/// two NICs of one guest do not conflict, and a token limited to a vnet covers its subnets. A subnet's
/// prefix is written with `-` for `/` in its id and path (`web:10.0.0.0-24`, as Proxmox names subnets),
/// so that the id is one URL path segment; `web:10.0.0.0/24` (with `%2F`) is read too.
struct ObjectAddress: Hashable, Sendable {
    var kind: ObjectKind
    /// The canonical id, as listings show it.
    var id: String
    /// The object path privileges are checked on.
    var path: String
    var document: ConfigDocument.Kind
    /// The key path of the object's entry in its document's tree.
    var keys: [String]

    private init(kind: ObjectKind, id: String, path: String, document: ConfigDocument.Kind, keys: [String]) {
        (self.kind, self.id, self.path, self.document, self.keys) = (kind, id, path, document, keys)
    }

    /// A top-level object of every kind but policies.
    static func named(_ kind: ObjectKind, _ name: String) -> ObjectAddress {
        switch kind {
        case .groups, .ipsets, .aliases:
            ObjectAddress(kind: kind, id: name, path: "/firewall/\(kind.rawValue)/\(name)", document: .policy, keys: [kind.rawValue, name])
        default:
            ObjectAddress(kind: kind, id: name, path: "/\(kind.rawValue)/\(name)", document: .topology, keys: [kind.rawValue, name])
        }
    }

    /// A part of a topology object: an uplink of a node, a subnet of a vnet, a NIC of a guest. `key` is
    /// the part's key in its parent's tree (a subnet's prefix with its `/`).
    static func part(_ kind: ObjectKind, of parent: String, key: String) -> ObjectAddress {
        let (section, member) = kind.parentSection!
        let segment = key.replacing("/", with: "-")
        return ObjectAddress(kind: kind, id: "\(parent):\(segment)", path: "/\(section)/\(parent)/\(member)/\(segment)", document: .topology,
                             keys: [section, parent, member, key])
    }

    static func policy(_ reference: PolicyReference) -> ObjectAddress {
        let keys: [String] = switch reference {
        case .scope(.cluster): ["cluster"]
        case .scope(.node(let name)): ["nodes", name]
        case .scope(.vnet(let name)): ["vnets", name]
        case .scope(.guest(let id)): ["guests", String(id)]
        case .group(let name): ["groups", name]
        }
        return ObjectAddress(kind: .policies, id: reference.description, path: reference.objectPath, document: .policy, keys: keys)
    }

    /// The address an id of the URL names; 400 naming `id` when it is not an id of that kind.
    init(kind: ObjectKind, id text: String) throws(APIError) {
        guard !text.isEmpty else { throw APIError.badRequest("the object id is empty", field: "id") }
        switch kind {
        case .policies:
            guard let reference = PolicyReference(text) else {
                throw APIError.badRequest("'\(text)' is not a policy id; write cluster, node:NAME, vnet:NAME or guest:ID", field: "id")
            }
            if case .group(let name) = reference {
                throw APIError.badRequest("a security group's rules are the groups object: use /v1/objects/groups/\(name)", field: "id")
            }
            self = Self.policy(reference)
        case .uplinks, .subnets, .nics:
            let example = switch kind {
            case .uplinks: "demo1:eth0"
            case .subnets: "web:10.0.0.0-24"
            default: "101:net0"
            }
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex, text.index(after: colon) != text.endIndex else {
                throw APIError.badRequest("'\(text)' is not an id of \(kind.rawValue); write \(kind.idForm), e.g. \(example)", field: "id")
            }
            let parent = String(text[..<colon])
            var key = String(text[text.index(after: colon)...])
            if kind == .subnets, !key.contains("/"), let dash = key.lastIndex(of: "-") {
                key.replaceSubrange(dash...dash, with: "/")
            }
            self = Self.part(kind, of: parent, key: key)
        default:
            self = Self.named(kind, text)
        }
    }

    /// The file of the documents an edit writes that holds the object.
    var documentPath: String { document == .topology ? ConfigWorkspace.topologyPath : ConfigWorkspace.policyPath }

    /// The object's key path as diagnostics print it (`vnets.web.subnets["10.0.0.0/24"]`).
    var configPath: ConfigPath {
        ConfigPath(domain: document == .topology ? .topology : .policy, keys.map { .key($0) })
    }

    /// Whether writing this object may change the object at `other` as a consequence: the objects that
    /// contain it (a subnet's vnet) and those it contains (a vnet's subnets).
    func encloses(_ other: String) -> Bool {
        other == path || path.hasPrefix(other + "/") || other.hasPrefix(path + "/")
    }

    /// The cluster policy always exists: unwritten, it is empty (and writing it empty unwrites it).
    var isClusterPolicy: Bool { kind == .policies && keys == ["cluster"] }

    /// How the API shows the object with this tree.
    func object(_ tree: RenderedTree) -> ModelObject {
        ModelObject(kind: kind.rawValue, id: id, path: path, etag: ConfigWorkspace.etag(of: tree.json()), object: tree)
    }

    /// "vnet web", "subnet web:10.0.0.0-24", "policy guest:101": for messages.
    var description: String { "\(kind.singular) \(id)" }
}

extension ObjectKind {
    /// For parts: the parent's section and the parent's member that holds them.
    var parentSection: (String, String)? {
        switch self {
        case .uplinks: ("nodes", "uplinks")
        case .subnets: ("vnets", "subnets")
        case .nics: ("guests", "nics")
        default: nil
        }
    }

    var idForm: String {
        switch self {
        case .uplinks: "NODE:INTERFACE"
        case .subnets: "VNET:PREFIX (the prefix with '-' for '/')"
        case .nics: "GUEST:NIC"
        case .policies: "cluster, node:NAME, vnet:NAME or guest:ID"
        case .guests: "the guest's VMID"
        default: "its name"
        }
    }

    var singular: String {
        switch self {
        case .nodes: "node"
        case .uplinks: "uplink"
        case .zones: "zone"
        case .vnets: "vnet"
        case .subnets: "subnet"
        case .guests: "guest"
        case .nics: "NIC"
        case .policies: "policy"
        case .groups: "security group"
        case .ipsets: "IP set"
        case .aliases: "alias"
        }
    }
}

/// The two documents an edit writes, as trees: the topology, and the policy as written (options inherited
/// from the cluster stay inherited).
struct RenderedDocuments {
    var topology: RenderedTree
    var policy: RenderedTree

    init(_ state: DesiredState) {
        topology = ConfigRenderer.topology(state)
        policy = ConfigRenderer.policy(state, style: .asWritten)
    }

    /// An unwritten cluster policy as the cluster object shows it.
    static let emptyPolicy = RenderedTree.map([("rules", .list([]))])

    /// The object's tree, nil when it does not exist.
    func object(at address: ObjectAddress) -> RenderedTree? {
        let tree = address.document == .topology ? topology : policy
        if address.isClusterPolicy { return tree.value(at: address.keys[...]) ?? Self.emptyPolicy }
        return tree.value(at: address.keys[...])
    }

    /// Puts `value` at the object's place (nil removes it); false when its parent does not exist.
    mutating func set(_ value: RenderedTree?, at address: ObjectAddress) -> Bool {
        let tree = address.document == .topology ? topology : policy
        guard let changed = tree.setting(value, at: address.keys[...]) else { return false }
        if address.document == .topology { topology = changed } else { policy = changed }
        return true
    }

    /// The documents of a revision.
    func stored() throws -> [StoredDocument] {
        [StoredDocument(path: ConfigWorkspace.topologyPath, text: try topology.yaml()),
         StoredDocument(path: ConfigWorkspace.policyPath, text: try policy.yaml())]
    }
}

extension RenderedTree {
    /// The value at a key path of nested maps.
    func value(at keys: ArraySlice<String>) -> RenderedTree? {
        guard let first = keys.first else { return self }
        guard case .map(let pairs) = self, let child = pairs.first(where: { $0.0 == first })?.1 else { return nil }
        return child.value(at: keys.dropFirst())
    }

    /// The tree with `value` at a key path (appended when the last key is new; removed when nil), or nil
    /// when a key before the last is missing.
    func setting(_ value: RenderedTree?, at keys: ArraySlice<String>) -> RenderedTree? {
        guard let first = keys.first, case .map(var pairs) = self else { return nil }
        let index = pairs.firstIndex { $0.0 == first }
        if keys.count == 1 {
            switch (index, value) {
            case (let index?, let value?): pairs[index].1 = value
            case (let index?, nil): pairs.remove(at: index)
            case (nil, let value?): pairs.append((first, value))
            case (nil, nil): break
            }
            return .map(pairs)
        }
        guard let index, let child = pairs[index].1.setting(value, at: keys.dropFirst()) else { return nil }
        pairs[index].1 = child
        return .map(pairs)
    }

    /// The members of a map (none for anything else).
    var members: [(String, RenderedTree)] {
        if case .map(let pairs) = self { return pairs }
        return []
    }
}
