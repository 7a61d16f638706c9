/// The direction a rule applies to, seen from the object that owns the policy: `in` is traffic to the
/// node or guest, `out` from it, `forward` through it (vnet and node policies).
public enum Direction: String, Hashable, Sendable, Codable, CaseIterable {
    case `in`, out, forward
}

public enum RuleAction: String, Hashable, Sendable, Codable, CaseIterable {
    case accept, drop, reject
}

/// A chain's default verdict when no rule matched.
public enum DefaultPolicy: String, Hashable, Sendable, Codable, CaseIterable {
    case accept, drop, reject
}

/// syslog levels as nftables' `log level` knows them, plus `nolog`.
public enum LogLevel: String, Hashable, Sendable, Codable, CaseIterable {
    case emerg, alert, crit, err, warning, notice, info, debug, nolog
}

/// IP protocols a rule can match, by name; anything else by number. The names are nftables' except
/// `ipip`, which is protocol 4 (Linux's IP-in-IP tunnels, `ipencap` to nft); nft's `ipip` is 94.
/// The compiler hands nft the number's nft name, never this name.
public enum IPProtocolName: Hashable, Sendable, Codable, CustomStringConvertible {
    case tcp, udp, udplite, sctp, dccp, icmp, icmpv6, esp, ah, gre, ipip, ospf, vrrp, igmp
    case number(UInt8)

    public static let named: [String: IPProtocolName] = [
        "tcp": .tcp, "udp": .udp, "udplite": .udplite, "sctp": .sctp, "dccp": .dccp,
        "icmp": .icmp, "icmpv6": .icmpv6, "ipv6-icmp": .icmpv6, "esp": .esp, "ah": .ah, "gre": .gre,
        "ipip": .ipip, "ipencap": .ipip, "ospf": .ospf, "vrrp": .vrrp, "igmp": .igmp,
    ]

    public init?(_ text: String) {
        if let known = IPProtocolName.named[text.lowercased()] {
            self = known
        } else if let number = UInt8(text), text.allSatisfy(\.isASCIIDigit) {
            self = IPProtocolName.fromNumber(number)
        } else {
            return nil
        }
    }

    static func fromNumber(_ number: UInt8) -> IPProtocolName {
        switch number {
        case 6: .tcp
        case 17: .udp
        case 136: .udplite
        case 132: .sctp
        case 33: .dccp
        case 1: .icmp
        case 58: .icmpv6
        case 50: .esp
        case 51: .ah
        case 47: .gre
        case 4: .ipip
        case 89: .ospf
        case 112: .vrrp
        case 2: .igmp
        default: .number(number)
        }
    }

    public var number: UInt8 {
        switch self {
        case .tcp: 6
        case .udp: 17
        case .udplite: 136
        case .sctp: 132
        case .dccp: 33
        case .icmp: 1
        case .icmpv6: 58
        case .esp: 50
        case .ah: 51
        case .gre: 47
        case .ipip: 4
        case .ospf: 89
        case .vrrp: 112
        case .igmp: 2
        case .number(let value): value
        }
    }

    /// Protocols with source and destination ports.
    public var hasPorts: Bool { [.tcp, .udp, .udplite, .sctp, .dccp].contains(self) }
    public var isICMP: Bool { self == .icmp || self == .icmpv6 }

    public var description: String {
        switch self {
        case .tcp: "tcp"
        case .udp: "udp"
        case .udplite: "udplite"
        case .sctp: "sctp"
        case .dccp: "dccp"
        case .icmp: "icmp"
        case .icmpv6: "icmpv6"
        case .esp: "esp"
        case .ah: "ah"
        case .gre: "gre"
        case .ipip: "ipip"
        case .ospf: "ospf"
        case .vrrp: "vrrp"
        case .igmp: "igmp"
        case .number(let value): "\(value)"
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = IPProtocolName(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown protocol \(text)"))
        }
        self = value
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A source or destination of a rule: an address, prefix or range, or a reference to an alias or IP set
/// by name (written `@name`).
public enum AddressMatch: Hashable, Sendable, Codable, CustomStringConvertible {
    case prefix(IPPrefix)
    case range(IPRange)
    case reference(String)

    public init(_ text: String) throws(ScalarParseError) {
        if text.hasPrefix("@") || text.hasPrefix("+") {
            let name = String(text.dropFirst())
            guard Identifier.problem(with: name) == nil else {
                throw ScalarParseError(kind: "reference", text: text, reason: "'\(text)' is not a valid alias or IP set reference; write @name with letters, digits, '-' and '_'", offset: 1)
            }
            self = .reference(name)
        } else if text.contains("-") {
            self = .range(try IPRange(text))
        } else {
            self = .prefix(try IPPrefix(text))
        }
    }

    /// The address family, when the match itself fixes one (references resolve later).
    public var family: IPAddress.Family? {
        switch self {
        case .prefix(let prefix): prefix.family
        case .range(let range): range.family
        case .reference: nil
        }
    }

    public var description: String {
        switch self {
        case .prefix(let prefix): prefix.compactDescription
        case .range(let range): range.description
        case .reference(let name): "@\(name)"
        }
    }

    public init(from decoder: any Decoder) throws { try self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// One firewall rule, or a reference to a security group's rules.
public struct FirewallRule: Hashable, Sendable, Codable {
    /// Stable identity: the user's `id`, or a digest of the rule's content. It survives reordering,
    /// so diffs and counters follow the rule, not its position.
    public var id: String
    /// Whether `id` was written by the user (it then also survives edits of the rule).
    public var hasExplicitID: Bool
    public var body: Body
    /// Where the rule was written, for traces and kernel error messages.
    public var origin: SourceLocation?
    public var enabled: Bool
    public var comment: String?
    /// Where the rule sits in its document (`guests.100.rules[3]`), for diagnostics about its parts.
    public var sourcePath: ConfigPath?

    public enum Body: Hashable, Sendable, Codable {
        case match(RuleMatch)
        /// Jump into a security group's rules (Proxmox's `GROUP name`), optionally only for one interface.
        case group(name: String, iface: String?)
    }

    public init(id: String, hasExplicitID: Bool, body: Body, origin: SourceLocation? = nil, enabled: Bool = true, comment: String? = nil) {
        self.id = id
        self.hasExplicitID = hasExplicitID
        self.body = body
        self.origin = origin
        self.enabled = enabled
        self.comment = comment
    }

    public var match: RuleMatch? {
        if case .match(let match) = body { return match }
        return nil
    }

    // Where a rule was written is not part of what it is.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.id, lhs.hasExplicitID, lhs.body, lhs.enabled, lhs.comment) == (rhs.id, rhs.hasExplicitID, rhs.body, rhs.enabled, rhs.comment)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(body)
    }

    private enum CodingKeys: String, CodingKey { case id, hasExplicitID, body, origin, enabled, comment }
}

/// The matching part and the verdict of a rule.
public struct RuleMatch: Hashable, Sendable, Codable {
    public var direction: Direction
    public var action: RuleAction
    /// A service macro (`SSH`, `HTTPS`), expanded by the compiler into one match per macro entry.
    public var macro: String?
    public var proto: IPProtocolName?
    public var source: [AddressMatch]
    public var destination: [AddressMatch]
    public var sport: [PortRange]
    public var dport: [PortRange]
    /// An ICMP/ICMPv6 type by name (`echo-request`) or number.
    public var icmpType: String?
    /// Only packets entering (in) or leaving (out) through this interface / NIC key (`net0`).
    public var iface: String?
    public var log: LogLevel?

    public init(direction: Direction, action: RuleAction, macro: String? = nil, proto: IPProtocolName? = nil,
                source: [AddressMatch] = [], destination: [AddressMatch] = [], sport: [PortRange] = [], dport: [PortRange] = [],
                icmpType: String? = nil, iface: String? = nil, log: LogLevel? = nil) {
        self.direction = direction
        self.action = action
        self.macro = macro
        self.proto = proto
        self.source = source
        self.destination = destination
        self.sport = sport
        self.dport = dport
        self.icmpType = icmpType
        self.iface = iface
        self.log = log
    }

    /// The rule's canonical one-line form, e.g. `in accept tcp dport 80,443 from @office log info`.
    public var oneLine: String {
        var words = [direction.rawValue, action.rawValue]
        if let macro { words.append(macro) }
        if let proto { words.append(proto.description) }
        if !sport.isEmpty { words += ["sport", sport.map(\.description).joined(separator: ",")] }
        if !dport.isEmpty { words += ["dport", dport.map(\.description).joined(separator: ",")] }
        if let icmpType { words += ["type", icmpType] }
        if !source.isEmpty { words += ["from", source.map(\.description).joined(separator: ",")] }
        if !destination.isEmpty { words += ["to", destination.map(\.description).joined(separator: ",")] }
        if let iface { words += ["iface", iface] }
        if let log { words += ["log", log.rawValue] }
        return words.joined(separator: " ")
    }
}
