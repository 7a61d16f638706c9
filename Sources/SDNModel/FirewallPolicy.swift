/// Which object a firewall policy belongs to.
public enum PolicyScope: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    case cluster
    case node(String)
    case vnet(String)
    case guest(Int)

    public var description: String {
        switch self {
        case .cluster: "cluster"
        case .node(let name): "node \(name)"
        case .vnet(let name): "vnet \(name)"
        case .guest(let id): "guest \(id)"
        }
    }

    private var sortKey: (Int, String) {
        switch self {
        case .cluster: (0, "")
        case .node(let name): (1, name)
        case .vnet(let name): (2, name)
        case .guest(let id): (3, String(repeating: "0", count: max(0, 10 - String(id).count)) + String(id))
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.sortKey < rhs.sortKey }
}

/// A conntrack rate limit for log statements, like Proxmox's `log_ratelimit: rate=1/second,burst=5`.
public struct LogRateLimit: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Unit: String, Hashable, Sendable, Codable, CaseIterable {
        case second, minute, hour, day

        var nanoseconds: UInt64 {
            let seconds: UInt64 = switch self {
            case .second: 1
            case .minute: 60
            case .hour: 3600
            case .day: 86400
            }
            return seconds * 1_000_000_000
        }
    }
    public var rate: Int
    public var unit: Unit
    public var burst: Int

    public static let `default` = LogRateLimit(rate: 1, unit: .second, burst: 5)

    public init(rate: Int, unit: Unit, burst: Int) {
        self.rate = rate
        self.unit = unit
        self.burst = burst
    }

    /// Parses `1/second` or `10/minute burst 20`.
    public init(_ text: String) throws(ScalarParseError) {
        let syntax = ScalarParseError(kind: "log rate limit", text: text, reason: "'\(text)' is not a rate limit; write RATE/UNIT [burst N], e.g. 1/second burst 5")
        let words = text.split(separator: " ")
        let rateParts = words.first?.split(separator: "/") ?? []
        guard rateParts.count == 2, !rateParts[0].isEmpty, rateParts[0].allSatisfy(\.isASCIIDigit), let unit = Unit(rawValue: String(rateParts[1])) else { throw syntax }
        guard let rate = Int(rateParts[0]) else {
            throw ScalarParseError(kind: "log rate limit", text: text, reason: "rate \(rateParts[0]) is out of range; use 1-\(UInt32.max) per \(unit.rawValue)")
        }
        var burst = 5
        var burstOffset = 0
        if words.count == 3, words[1] == "burst", words[2].allSatisfy(\.isASCIIDigit) {
            burstOffset = text.distance(from: text.startIndex, to: words[2].startIndex)
            guard let value = Int(words[2]) else {
                throw ScalarParseError(kind: "log rate limit", text: text, reason: "burst \(words[2]) is out of range; the kernel accepts at most \(UInt32.max)", offset: burstOffset)
            }
            burst = value
        } else if words.count != 1 {
            throw syntax
        }
        self.init(rate: rate, unit: unit, burst: burst)
        if let problem = rateProblem ?? burstProblem {
            throw ScalarParseError(kind: "log rate limit", text: text, reason: problem, offset: rateProblem == nil ? burstOffset : 0)
        }
    }

    /// The largest burst the kernel accepts: at most 2^32 - 1 (a 32-bit field), and nft_limit keeps
    /// `burst` periods of `unit / rate` nanoseconds in a 64-bit token count, which must not overflow
    /// (1/day allows 213503, 1/hour 5124095, 1/minute 307445734).
    public var maximumBurst: Int {
        guard rate > 0 else { return 0 }
        let period = unit.nanoseconds / UInt64(rate)
        guard period > 0 else { return Int(UInt32.max) }
        return Int(min(UInt64(UInt32.max), UInt64.max / period))
    }

    /// Why the kernel would refuse this limit, or nil. The rate is at most 2^32 - 1 per unit, so the
    /// kernel's rate + burst cannot overflow either.
    public var problem: String? { rateProblem ?? burstProblem }

    private var rateProblem: String? {
        (1...Int(UInt32.max)).contains(rate) ? nil : "rate \(rate) is out of range; use 1-\(UInt32.max) per \(unit.rawValue)"
    }

    private var burstProblem: String? {
        guard rateProblem == nil, !(1...maximumBurst).contains(burst) else { return nil }
        return "burst \(burst) is out of range; at \(rate)/\(unit.rawValue) the kernel accepts a burst of 1-\(maximumBurst)"
    }

    public var description: String { "\(rate)/\(unit.rawValue) burst \(burst)" }
}

/// Firewall options of one policy as written. Every option is optional: unset means inherited from the level
/// above (cluster → node / vnet / guest) or the documented default (see `ResolvedFirewallOptions`).
public struct FirewallOptions: Hashable, Sendable, Codable {
    public var enable: Bool?
    public var policyIn: DefaultPolicy?
    public var policyOut: DefaultPolicy?
    public var policyForward: DefaultPolicy?
    /// Drop frames from a guest NIC whose source MAC is not the NIC's.
    public var macfilter: Bool?
    /// Drop packets from a guest NIC whose source IP is not one of its declared IPs (IPv4, IPv6 and ARP).
    public var ipfilter: Bool?
    /// Allow DHCP (client side) through the NIC.
    public var dhcp: Bool?
    /// Allow IPv6 neighbour discovery.
    public var ndp: Bool?
    /// Allow the guest to send router advertisements (off: RA guard).
    public var radv: Bool?
    /// Allow the guest to answer as a DHCP server (off: DHCP-server guard).
    public var dhcpServer: Bool?
    public var logLevelIn: LogLevel?
    public var logLevelOut: LogLevel?
    public var logLevelForward: LogLevel?
    public var logRateLimit: LogRateLimit?
    /// Drop packets with a broadcast or multicast source address.
    public var nosmurfs: Bool?
    /// Drop packets with illegal TCP flag combinations.
    public var tcpflags: Bool?
    /// Accept packets conntrack marks invalid instead of dropping them.
    public var allowInvalid: Bool?
    /// Keep SSH and the API reachable from management networks whatever the rules say. Only a node or
    /// cluster policy can turn it off, and only explicitly.
    public var failsafe: Bool?

    public init() {}
}

/// The rules and options attached to one object (cluster, node, vnet or guest).
public struct FirewallPolicy: Hashable, Sendable, Codable {
    public var scope: PolicyScope
    public var options: FirewallOptions
    public var rules: [FirewallRule]

    public init(scope: PolicyScope, options: FirewallOptions = FirewallOptions(), rules: [FirewallRule] = []) {
        self.scope = scope
        self.options = options
        self.rules = rules
    }
}

/// Rules shared by many guests; compiled once into their own chain, however many guests use them.
public struct SecurityGroup: Hashable, Sendable, Codable {
    public var name: String
    public var comment: String?
    public var rules: [FirewallRule]

    public init(name: String, comment: String? = nil, rules: [FirewallRule] = []) {
        self.name = name
        self.comment = comment
        self.rules = rules
    }
}

/// A named address or network, usable in rules as `@name`.
public struct Alias: Hashable, Sendable, Codable {
    public var name: String
    public var cidr: IPPrefix
    public var comment: String?

    public init(name: String, cidr: IPPrefix, comment: String? = nil) {
        self.name = name
        self.cidr = cidr
        self.comment = comment
    }
}

/// A named set of networks, usable in rules as `@name`; entries written `!cidr` are carved out.
public struct IPSet: Hashable, Sendable, Codable {
    public struct Entry: Hashable, Sendable, Codable, CustomStringConvertible {
        public enum Value: Hashable, Sendable, Codable {
            case prefix(IPPrefix)
            case range(IPRange)
            /// Another alias by name (Proxmox allows aliases inside IP sets).
            case alias(String)
        }

        public var value: Value
        public var excluded: Bool
        public var comment: String?

        public init(value: Value, excluded: Bool = false, comment: String? = nil) {
            self.value = value
            self.excluded = excluded
            self.comment = comment
        }

        /// Parses `10.0.0.0/8`, `!10.1.0.0/16`, `10.0.0.5-10.0.0.9` or `@alias`.
        public init(_ text: String) throws(ScalarParseError) {
            var body = Substring(text)
            let excluded = body.first == "!"
            if excluded { body = body.dropFirst() }
            let match: AddressMatch
            do { match = try AddressMatch(String(body)) } catch {
                var shifted = error
                shifted.text = text
                shifted.offset += excluded ? 1 : 0
                throw shifted
            }
            switch match {
            case .prefix(let prefix): value = .prefix(prefix)
            case .range(let range): value = .range(range)
            case .reference(let name): value = .alias(name)
            }
            self.excluded = excluded
            comment = nil
        }

        public var description: String {
            let body = switch value {
            case .prefix(let prefix): prefix.compactDescription
            case .range(let range): range.description
            case .alias(let name): "@\(name)"
            }
            return (excluded ? "!" : "") + body
        }
    }

    public var name: String
    public var comment: String?
    public var entries: [Entry]

    public init(name: String, comment: String? = nil, entries: [Entry] = []) {
        self.name = name
        self.comment = comment
        self.entries = entries
    }
}

/// All firewall configuration of the cluster.
public struct FirewallConfig: Hashable, Sendable, Codable {
    public var cluster: FirewallPolicy
    public var nodes: [FirewallPolicy]
    public var vnets: [FirewallPolicy]
    public var guests: [FirewallPolicy]
    public var groups: [SecurityGroup]
    public var aliases: [Alias]
    public var ipsets: [IPSet]

    public init(cluster: FirewallPolicy = FirewallPolicy(scope: .cluster), nodes: [FirewallPolicy] = [], vnets: [FirewallPolicy] = [],
                guests: [FirewallPolicy] = [], groups: [SecurityGroup] = [], aliases: [Alias] = [], ipsets: [IPSet] = []) {
        self.cluster = cluster
        self.nodes = nodes
        self.vnets = vnets
        self.guests = guests
        self.groups = groups
        self.aliases = aliases
        self.ipsets = ipsets
    }

    /// Every policy, cluster first, then nodes, vnets and guests.
    public var allPolicies: [FirewallPolicy] { [cluster] + nodes + vnets + guests }

    public func policy(for scope: PolicyScope) -> FirewallPolicy? { allPolicies.first { $0.scope == scope } }

    /// The options in force for a scope: its own, then the cluster's, then the defaults.
    public func resolvedOptions(for scope: PolicyScope) -> ResolvedFirewallOptions {
        let clusterOptions = ResolvedFirewallOptions.defaults.applying(cluster.options)
        if scope == .cluster { return clusterOptions }
        return clusterOptions.applying(policy(for: scope)?.options ?? FirewallOptions())
    }

    /// `resolvedOptions(for:)` with every option set, in the form policies are written.
    public func effectiveOptions(for scope: PolicyScope) -> FirewallOptions {
        FirewallOptions(resolvedOptions(for: scope))
    }
}
