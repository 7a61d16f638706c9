/// The whole desired network of a cluster: topology and firewall, merged from every input file.
public struct DesiredState: Hashable, Sendable {
    public var nodes: [Node]
    public var zones: [Zone]
    public var vnets: [VNet]
    public var guests: [Guest]
    public var firewall: FirewallConfig
    /// Where everything was written (not part of equality: the same network written elsewhere is the same network).
    public var sources: SourceMap

    public init(nodes: [Node] = [], zones: [Zone] = [], vnets: [VNet] = [], guests: [Guest] = [],
                firewall: FirewallConfig = FirewallConfig(), sources: SourceMap = SourceMap()) {
        self.nodes = nodes
        self.zones = zones
        self.vnets = vnets
        self.guests = guests
        self.firewall = firewall
        self.sources = sources
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.nodes, lhs.zones, lhs.vnets, lhs.guests) == (rhs.nodes, rhs.zones, rhs.vnets, rhs.guests) && lhs.firewall == rhs.firewall
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(nodes)
        hasher.combine(zones)
        hasher.combine(vnets)
        hasher.combine(guests)
        hasher.combine(firewall)
    }

    public func node(named name: String) -> Node? { nodes.first { $0.name == name } }
    public func zone(named name: String) -> Zone? { zones.first { $0.name == name } }
    public func vnet(named name: String) -> VNet? { vnets.first { $0.name == name } }
    public func guest(id: Int) -> Guest? { guests.first { $0.id == id } }

    /// The nodes a zone exists on, in declaration order.
    public func nodes(of zone: Zone) -> [Node] { nodes.filter { zone.includes(node: $0.name) } }
}

extension DesiredState: Codable {
    private enum CodingKeys: String, CodingKey { case nodes, zones, vnets, guests, firewall }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            nodes: try container.decode([Node].self, forKey: .nodes),
            zones: try container.decode([Zone].self, forKey: .zones),
            vnets: try container.decode([VNet].self, forKey: .vnets),
            guests: try container.decode([Guest].self, forKey: .guests),
            firewall: try container.decode(FirewallConfig.self, forKey: .firewall))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(nodes, forKey: .nodes)
        try container.encode(zones, forKey: .zones)
        try container.encode(vnets, forKey: .vnets)
        try container.encode(guests, forKey: .guests)
        try container.encode(firewall, forKey: .firewall)
    }
}
