import SDNModel
import SDNNFTables

/// Constant sets that many rules use (NDP types, DHCP-server ports, smurf sources …), declared once in
/// each table that references them.
///
/// Written inline (`icmpv6 type { … }`) each would be an anonymous set per rule, so per guest NIC, and
/// creating a set makes nf_tables scan every set of the table (to find a free `__set%d` name and to
/// check the name is unused): a first load of 10,000 guests became quadratic in the kernel, and even
/// one guest's change cost time proportional to the table. A named set is found by name and adds
/// nothing per NIC.
enum SharedSet: Int, CaseIterable, Comparable, Sendable {
    /// Every neighbour-discovery type: what untracked NDP needs through the node and to a guest.
    case ndp
    /// The NDP types a host sends (not router advertisements and redirects).
    case ndpHost
    /// The NDP types only a router sends (the RA guard drops them from guests without `radv`).
    case ndpRouterOnly
    /// DHCP server source ports, v4 and v6 (the DHCP-server guard).
    case dhcpServerPorts
    /// IPv4 sources no real host has: multicast and the limited broadcast (`nosmurfs`).
    case smurfSources
    /// The ether types an IP filter governs (a NIC with `ipfilter` but no MAC drops them all).
    case ipEtherTypes

    static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    var name: String {
        switch self {
        case .ndp: FirewallNaming.ndpSet
        case .ndpHost: FirewallNaming.ndpHostSet
        case .ndpRouterOnly: FirewallNaming.ndpRouterOnlySet
        case .dhcpServerPorts: FirewallNaming.dhcpServerPortsSet
        case .smurfSources: FirewallNaming.smurfSourcesSet
        case .ipEtherTypes: FirewallNaming.ipEtherTypesSet
        }
    }

    static let ndpTypes: [Symbol] = [.ndRouterSolicit, .ndRouterAdvert, .ndNeighborSolicit, .ndNeighborAdvert, .ndRedirect]
    /// What only a router sends: a guest without `radv` sending a redirect could divert its neighbours'
    /// traffic as a rogue router advertisement would, so the RA guard drops both (as Proxmox's does).
    static let routerOnlyNDPTypes: [Symbol] = [.ndRouterAdvert, .ndRedirect]

    private static let definitions: [NamedSet] = allCases.map { $0.makeDefinition() }

    /// The set's declaration, with its elements.
    var definition: NamedSet { Self.definitions[rawValue] }

    private func makeDefinition() -> NamedSet {
        switch self {
        case .ndp:
            NamedSet(name: name, keyType: [.icmpv6Type], elements: Self.ndpTypes.map { SetElement(key: [.symbol($0)]) })
        case .ndpHost:
            NamedSet(name: name, keyType: [.icmpv6Type], elements: Self.ndpTypes.filter { !Self.routerOnlyNDPTypes.contains($0) }.map { SetElement(key: [.symbol($0)]) })
        case .ndpRouterOnly:
            NamedSet(name: name, keyType: [.icmpv6Type], elements: Self.routerOnlyNDPTypes.map { SetElement(key: [.symbol($0)]) })
        case .dhcpServerPorts:
            NamedSet(name: name, keyType: [.inetService], elements: [SetElement(key: [.integer(67)]), SetElement(key: [.integer(547)])])
        case .smurfSources:
            NamedSet(name: name, keyType: [.ipv4Address], flags: [.interval],
                     elements: [SetElement(key: [.prefix(IPPrefix(address: .v4(0xe000_0000), length: 4))]), SetElement(key: [.address(.v4(0xffff_ffff))])])
        case .ipEtherTypes:
            NamedSet(name: name, keyType: [.etherType], elements: ([.ip, .ip6, .arp] as [Symbol]).map { SetElement(key: [.symbol($0)]) })
        }
    }

    /// `field != @set`.
    var notMatch: Statement {
        guard case .match(let left, _, let right) = match else { return match }
        return .match(left, .notEqual, right)
    }

    /// `field @set`.
    var match: Statement {
        switch self {
        case .ndp, .ndpHost, .ndpRouterOnly: .match(.payload(.icmpv6Type), .equal, .setReference(name))
        case .dhcpServerPorts: .match(.payload(.udpSport), .equal, .setReference(name))
        case .smurfSources: .match(.payload(.ipSaddr), .equal, .setReference(name))
        case .ipEtherTypes: .match(.meta(.protocol), .equal, .setReference(name))
        }
    }
}

/// Which shared sets each table's rules use.
struct SharedSetUse: Sendable {
    private(set) var byFamily: [TableFamily: Set<SharedSet>] = [:]

    /// Records the use and returns the match on the set.
    mutating func match(_ set: SharedSet, in family: TableFamily) -> Statement {
        byFamily[family, default: []].insert(set)
        return set.match
    }

    mutating func formUnion(_ other: SharedSetUse) {
        for (family, sets) in other.byFamily { byFamily[family, default: []].formUnion(sets) }
    }

    /// The declarations a table of `family` needs, in a fixed order.
    func definitions(for family: TableFamily) -> [NamedSet] {
        (byFamily[family] ?? []).sorted().map(\.definition)
    }

    /// Names by family (for guest fragments).
    var names: [TableFamily: Set<String>] {
        byFamily.mapValues { Set($0.map(\.name)) }
    }
}
