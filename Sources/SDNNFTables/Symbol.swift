/// A name nft prints for a value of a datatype (`tcp`, `arp`, `nd-neighbor-solicit`).
///
/// Code that writes a symbol uses a static member, so a typo does not compile; names from input (nft
/// JSON, netlink, a policy's ICMP type) go through `init(_:of:)`, which checks them against the
/// datatype's symbol table. Only the name is kept: the field a symbol is compared with gives it its
/// datatype, and the text, JSON and netlink forms carry no more than the name either.
public struct Symbol: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The name as nft prints it.
    public let name: String

    /// `name` if `datatype`'s symbol table has it.
    public init(_ name: String, of datatype: Datatype) throws(UnknownSymbolError) {
        guard datatype.number(named: name) != nil else { throw UnknownSymbolError(name: name, datatype: datatype) }
        self.name = name
    }

    /// A name the catalog already vouches for (a decoded flag, a known member below), or a placeholder
    /// the decoder prints for what it cannot read.
    package init(unchecked name: String) {
        self.name = name
    }

    /// A catalog name, checked the first time the member is used (`SymbolTests` uses every one).
    private init(known name: String, of datatype: Datatype) {
        precondition(datatype.number(named: name) != nil, "\(datatype) has no symbol \"\(name)\"")
        self.name = name
    }

    public var description: String { name }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.name < rhs.name }

    // MARK: - inet_proto

    public static let tcp = Symbol(known: "tcp", of: .inetProtocol)
    public static let udp = Symbol(known: "udp", of: .inetProtocol)

    // MARK: - ether_type (and `meta protocol`)

    public static let ip = Symbol(known: "ip", of: .etherType)
    public static let ip6 = Symbol(known: "ip6", of: .etherType)
    public static let arp = Symbol(known: "arp", of: .etherType)

    // MARK: - icmpv6_type: neighbour discovery

    public static let ndRouterSolicit = Symbol(known: "nd-router-solicit", of: .icmpv6Type)
    public static let ndRouterAdvert = Symbol(known: "nd-router-advert", of: .icmpv6Type)
    public static let ndNeighborSolicit = Symbol(known: "nd-neighbor-solicit", of: .icmpv6Type)
    public static let ndNeighborAdvert = Symbol(known: "nd-neighbor-advert", of: .icmpv6Type)
    public static let ndRedirect = Symbol(known: "nd-redirect", of: .icmpv6Type)

    /// Every static member, for the test that checks them against the catalog.
    public static let allKnown: [Symbol] = [
        .tcp, .udp, .ip, .ip6, .arp, .ndRouterSolicit, .ndRouterAdvert, .ndNeighborSolicit, .ndNeighborAdvert, .ndRedirect,
    ]

    /// What the netlink decoder shows for an expression it cannot lift.
    package static let unrecognised = Symbol(unchecked: "?")
}

/// A symbol name the datatype's table does not have.
public struct UnknownSymbolError: Error, Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let datatype: Datatype

    public var description: String {
        let known = datatype.symbols.pairs.map(\.name)
        let hint = known.isEmpty ? "\(datatype) has no names; write a number" : "known names: \(known.joined(separator: ", "))"
        return "unknown \(datatype) value \"\(name)\" (\(hint))"
    }
}
