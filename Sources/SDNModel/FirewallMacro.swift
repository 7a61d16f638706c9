/// A named service macro (Proxmox VE's firewall macros, e.g. `SSH`, `HTTPS`, `DNS`): a rule written
/// `in accept SSH` expands to one match per entry, each with the rule's own direction, action, source
/// and destination.
public struct FirewallMacro: Hashable, Sendable {
    /// One protocol/port combination of a macro.
    public struct Entry: Hashable, Sendable {
        /// Protocol name as nftables spells it: "tcp", "udp", "icmp", "icmpv6", or an IP protocol
        /// number/name such as "gre", "esp", "ah", "47".
        public var proto: String
        /// Destination ports (empty: any).
        public var dport: [PortRange]
        /// Source ports (empty: any).
        public var sport: [PortRange]
        /// ICMP or ICMPv6 type name, for ICMP entries.
        public var icmpType: String?

        public init(proto: String, dport: [PortRange] = [], sport: [PortRange] = [], icmpType: String? = nil) {
            self.proto = proto
            self.dport = dport
            self.sport = sport
            self.icmpType = icmpType
        }
    }

    /// Canonical name as Proxmox spells it (`SSH`, `HTTPS`, `BitTorrent32`); lookups ignore case.
    public var name: String
    public var description: String
    public var entries: [Entry]

    public init(name: String, description: String, entries: [Entry]) {
        self.name = name
        self.description = description
        self.entries = entries
    }

    /// Finds a macro by name, ignoring case.
    public static func named(_ name: String) -> FirewallMacro? {
        catalogByLowercasedName[name.lowercased()]
    }

    static let catalogByLowercasedName: [String: FirewallMacro] = Dictionary(
        catalog.map { ($0.name.lowercased(), $0) }, uniquingKeysWith: { first, _ in first })
}
