public import SDNModel

/// The nftables IR: a value tree shaped like nft's JSON schema (tables → chains, sets → rules →
/// statements → expressions). Registers and netlink attributes exist only in the netlink encoder.
///
/// Every object carries our stable id (`id`): chains and sets by name, rules by the id the compiler
/// gives them (stored in the rule's comment / userdata), so diffs are exact and survive reordering.
public struct Ruleset: Hashable, Sendable {
    public var tables: [Table]

    public init(tables: [Table] = []) { self.tables = tables }

    public func table(_ family: TableFamily, _ name: String) -> Table? {
        tables.first { $0.family == family && $0.name == name }
    }
}

public enum TableFamily: String, Hashable, Sendable, CaseIterable, Codable {
    case ip, ip6, inet, arp, bridge, netdev
}

public struct Table: Hashable, Sendable {
    public var family: TableFamily
    public var name: String
    public var sets: [NamedSet]
    public var chains: [Chain]

    public init(family: TableFamily, name: String, sets: [NamedSet] = [], chains: [Chain] = []) {
        self.family = family
        self.name = name
        self.sets = sets
        self.chains = chains
    }

    public func chain(_ name: String) -> Chain? { chains.first { $0.name == name } }
    public func set(_ name: String) -> NamedSet? { sets.first { $0.name == name } }
}

public struct Chain: Hashable, Sendable {
    public var name: String
    /// Present for base chains (attached to a hook).
    public var base: BaseChain?
    public var rules: [Rule]

    public init(name: String, base: BaseChain? = nil, rules: [Rule] = []) {
        self.name = name
        self.base = base
        self.rules = rules
    }
}

public struct BaseChain: Hashable, Sendable {
    public enum ChainType: String, Hashable, Sendable, Codable { case filter, nat, route }
    public enum Hook: String, Hashable, Sendable, Codable { case prerouting, input, forward, output, postrouting, ingress }
    public enum Policy: String, Hashable, Sendable, Codable { case accept, drop }

    public var type: ChainType
    public var hook: Hook
    public var priority: Int
    public var policy: Policy

    public init(type: ChainType, hook: Hook, priority: Int, policy: Policy = .accept) {
        self.type = type
        self.hook = hook
        self.priority = priority
        self.policy = policy
    }
}

/// A named set or map (`set` / `map` in nft). A map with `data == .verdict` is a verdict map (vmap).
public struct NamedSet: Hashable, Sendable {
    public var name: String
    /// One type per component of a concatenated key (`ifname . ether_addr . ipv4_addr`).
    public var keyType: [SetKeyType]
    public var data: SetKeyType?
    public var flags: Set<Flag>
    public var elements: [SetElement]

    public enum Flag: String, Hashable, Sendable, Codable, Comparable {
        case constant, interval, timeout
        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public init(name: String, keyType: [SetKeyType], data: SetKeyType? = nil, flags: Set<Flag> = [], elements: [SetElement] = []) {
        self.name = name
        self.keyType = keyType
        self.data = data
        self.flags = flags
        self.elements = elements
    }

    public var isMap: Bool { data != nil }
}

/// Set key and data types, by nft's names.
public enum SetKeyType: String, Hashable, Sendable, Codable {
    case ipv4Address = "ipv4_addr"
    case ipv6Address = "ipv6_addr"
    case etherAddress = "ether_addr"
    case interfaceName = "ifname"
    case inetProtocol = "inet_proto"
    case inetService = "inet_service"
    case icmpv6Type = "icmpv6_type"
    case etherType = "ether_type"
    case mark
    case verdict
}

/// One element: a key (one value per component of a concatenation) and, in maps, its data.
public struct SetElement: Hashable, Sendable {
    public var key: [Value]
    public var data: Value?

    public init(key: [Value], data: Value? = nil) {
        self.key = key
        self.data = data
    }
}

/// A rule: statements evaluated left to right (matches first, then counter, log, verdict …).
public struct Rule: Hashable, Sendable {
    /// Stable id, kept in the kernel as the rule's comment (userdata) so the rule can be found again.
    public var id: String
    public var statements: [Statement]
    /// Where the policy line behind this rule was written, for traces and kernel error messages.
    public var origin: SourceLocation?

    public init(id: String, statements: [Statement], origin: SourceLocation? = nil) {
        self.id = id
        self.statements = statements
        self.origin = origin
    }

    // Where a rule came from is not part of what the kernel holds.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.id == rhs.id && lhs.statements == rhs.statements }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(statements)
    }
}
