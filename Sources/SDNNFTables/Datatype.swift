import SDNModel

/// nft's datatype of a field or set key: its number in nft's `enum datatypes`, its length and byte
/// order on the wire, and the names nft prints for its values.
///
/// This is the one table every consumer reads: the text and JSON codecs (how a constant is written and
/// read), the packet interpreter (what a name means), the canonical form, and the netlink encoder and
/// decoder (bytes, set key types and userdata). Two datatypes are equal when their numbers are.
public struct Datatype: Hashable, Sendable, CustomStringConvertible {
    /// Byte order as nft records it in a set's userdata (`enum byteorder`: 0 invalid, 1 host, 2 big endian).
    public enum ByteOrder: UInt32, Hashable, Sendable {
        case unspecified = 0
        case host = 1
        case bigEndian = 2
    }

    /// How values of the type are written: numbers (possibly with names), or one of the kinds that
    /// have their own syntax.
    public enum Representation: Hashable, Sendable {
        case number
        case interfaceName
        case ipv4Address
        case ipv6Address
        case etherAddress
        case verdict
    }

    /// nft's name of the type (`inet_proto`, `ifname`), as `nft describe` and set declarations print it.
    public let name: String
    /// The number in nft's `enum datatypes`, carried in set key types.
    public let id: UInt32
    /// Bytes on the wire (0 for verdicts and types of no fixed length).
    public let length: Int
    /// The byte order nft records for the type in set userdata; `.host` also means the wire bytes
    /// are a host-order number.
    public let byteOrder: ByteOrder
    public let representation: Representation
    /// Flag types: a list of names means "any of these bits" (`ct state established,related`).
    public let isBitmask: Bool
    /// Names of values, both ways.
    public let symbols: SymbolTable

    init(_ name: String, id: UInt32, length: Int, byteOrder: ByteOrder, representation: Representation = .number,
         isBitmask: Bool = false, symbols: SymbolTable = SymbolTable([])) {
        self.name = name
        self.id = id
        self.length = length
        self.byteOrder = byteOrder
        self.representation = representation
        self.isBitmask = isBitmask
        self.symbols = symbols
    }

    public static func == (lhs: Datatype, rhs: Datatype) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    public var description: String { name }

    /// IPv4 or IPv6 addresses.
    public var isAddress: Bool { representation == .ipv4Address || representation == .ipv6Address }

    /// Whether the wire bytes are a host-order number.
    public var isHostOrderOnWire: Bool { byteOrder == .host }

    /// Whether the bytes are a number in network byte order (ranges and interval ends compare that way).
    public var isBigEndian: Bool { !isHostOrderOnWire && length > 0 }

    /// The number behind a name of this type, or `nil` if nft has no such name.
    public func number(named name: String) -> UInt64? { symbols.value(named: name) }

    /// The flag names whose bits make up `bits`, in bit order, or `nil` if a bit has no name.
    public func flagNames(_ bits: UInt64) -> [String]? {
        guard isBitmask, bits != 0 else { return nil }
        var names: [String] = []
        var remaining = bits
        for (name, bit) in symbols.pairs where bits & bit != 0 && remaining & bit != 0 {
            names.append(name)
            remaining &= ~bit
        }
        return remaining == 0 ? names : nil
    }

    // MARK: - The catalog (numbers from nft's `enum datatypes`)

    public static let verdict = Datatype("verdict", id: 1, length: 0, byteOrder: .unspecified, representation: .verdict)
    public static let nfProtocol = Datatype("nf_proto", id: 2, length: 1, byteOrder: .host, symbols: SymbolTable([
        ("ipv4", 2), ("ipv6", 10),
    ]))
    /// Plain numbers (no names).
    public static let integer = Datatype("integer", id: 4, length: 0, byteOrder: .bigEndian)
    public static let ipv4Address = Datatype("ipv4_addr", id: 7, length: 4, byteOrder: .bigEndian, representation: .ipv4Address)
    public static let ipv6Address = Datatype("ipv6_addr", id: 8, length: 16, byteOrder: .bigEndian, representation: .ipv6Address)
    public static let etherAddress = Datatype("ether_addr", id: 9, length: 6, byteOrder: .bigEndian, representation: .etherAddress)
    /// nft 1.0.6 records `ether_type` keys as big endian (checked against `nft -f` by the raw set
    /// differential test), which is also how they travel.
    public static let etherType = Datatype("ether_type", id: 10, length: 2, byteOrder: .bigEndian, symbols: SymbolTable([
        ("ip", 0x0800), ("arp", 0x0806), ("ip6", 0x86dd), ("vlan", 0x8100), ("8021ad", 0x88a8),
    ]))
    public static let arpOperation = Datatype("arp_op", id: 11, length: 2, byteOrder: .bigEndian, symbols: SymbolTable([
        ("request", 1), ("reply", 2), ("rrequest", 3), ("rreply", 4), ("inrequest", 8), ("inreply", 9), ("nak", 10),
    ]))
    /// IP protocol names as nft resolves them (through Debian's /etc/protocols). Note that `ipip` is
    /// protocol 94 there (IANA's "IP-within-IP"), while protocol 4, Linux's IP-in-IP tunnels, is
    /// `ipencap`; see `docs/schema.md` for what a policy's `proto ipip` means.
    public static let inetProtocol = Datatype("inet_proto", id: 12, length: 1, byteOrder: .unspecified, symbols: SymbolTable([
        ("icmp", 1), ("igmp", 2), ("ipencap", 4), ("tcp", 6), ("udp", 17), ("dccp", 33), ("gre", 47), ("esp", 50), ("ah", 51),
        ("ipv6-icmp", 58), ("icmpv6", 58), ("ospf", 89), ("ipip", 94), ("vrrp", 112), ("sctp", 132), ("udplite", 136),
    ]))
    public static let inetService = Datatype("inet_service", id: 13, length: 2, byteOrder: .bigEndian)
    public static let icmpType = Datatype("icmp_type", id: 14, length: 1, byteOrder: .bigEndian,
                                          symbols: SymbolTable(ICMPType.ipv4Names.map { ($0.name, UInt64($0.type)) }))
    public static let tcpFlags = Datatype("tcp_flag", id: 15, length: 1, byteOrder: .bigEndian, isBitmask: true, symbols: SymbolTable([
        ("fin", 0x01), ("syn", 0x02), ("rst", 0x04), ("psh", 0x08), ("ack", 0x10), ("urg", 0x20), ("ecn", 0x40), ("cwr", 0x80),
    ]))
    public static let mark = Datatype("mark", id: 19, length: 4, byteOrder: .host)
    public static let interfaceType = Datatype("iface_type", id: 21, length: 2, byteOrder: .host, symbols: SymbolTable([
        ("ether", 1), ("ppp", 512), ("ipip", 768), ("ipip6", 769), ("loopback", 772), ("sit", 776), ("ipgre", 778),
    ]))
    /// Conntrack states: bits of `ct state`, in the order nft prints them.
    public static let ctState = Datatype("ct_state", id: 26, length: 4, byteOrder: .host, isBitmask: true, symbols: SymbolTable([
        ("invalid", 1), ("established", 2), ("related", 4), ("new", 8), ("untracked", 64),
    ]))
    public static let ctStatus = Datatype("ct_status", id: 28, length: 4, byteOrder: .host, isBitmask: true, symbols: SymbolTable([
        ("expected", 1), ("seen-reply", 2), ("assured", 4), ("confirmed", 8), ("snat", 16), ("dnat", 32), ("dying", 512),
    ]))
    public static let icmpv6Type = Datatype("icmpv6_type", id: 29, length: 1, byteOrder: .bigEndian,
                                            symbols: SymbolTable(ICMPType.ipv6Names.map { ($0.name, UInt64($0.type)) }))
    public static let packetType = Datatype("pkt_type", id: 31, length: 1, byteOrder: .host, symbols: SymbolTable([
        ("host", 0), ("unicast", 0), ("broadcast", 1), ("multicast", 2), ("other", 3),
    ]))
    public static let icmpCode = Datatype("icmp_code", id: 32, length: 1, byteOrder: .bigEndian, symbols: SymbolTable([
        ("net-unreachable", 0), ("host-unreachable", 1), ("prot-unreachable", 2), ("port-unreachable", 3), ("frag-needed", 4),
        ("net-prohibited", 9), ("host-prohibited", 10), ("admin-prohibited", 13),
    ]))
    public static let icmpv6Code = Datatype("icmpv6_code", id: 33, length: 1, byteOrder: .bigEndian, symbols: SymbolTable([
        ("no-route", 0), ("admin-prohibited", 1), ("addr-unreachable", 3), ("port-unreachable", 4), ("policy-fail", 5), ("reject-route", 6),
    ]))
    /// `reject with icmpx <code>`.
    public static let icmpxCode = Datatype("icmpx_code", id: 34, length: 1, byteOrder: .bigEndian, symbols: SymbolTable([
        ("no-route", 0), ("port-unreachable", 1), ("host-unreachable", 2), ("admin-prohibited", 3),
    ]))
    public static let interfaceName = Datatype("ifname", id: 41, length: 16, byteOrder: .host, representation: .interfaceName)

    /// Every datatype of the catalog.
    public static let all: [Datatype] = [
        .verdict, .nfProtocol, .integer, .ipv4Address, .ipv6Address, .etherAddress, .etherType, .arpOperation, .inetProtocol,
        .inetService, .icmpType, .tcpFlags, .mark, .interfaceType, .ctState, .ctStatus, .icmpv6Type, .packetType, .icmpCode,
        .icmpv6Code, .icmpxCode, .interfaceName,
    ]

    /// The datatype a set key or data type names.
    public init(_ type: SetKeyType) {
        self = switch type {
        case .ipv4Address: .ipv4Address
        case .ipv6Address: .ipv6Address
        case .etherAddress: .etherAddress
        case .interfaceName: .interfaceName
        case .inetProtocol: .inetProtocol
        case .inetService: .inetService
        case .icmpv6Type: .icmpv6Type
        case .etherType: .etherType
        case .mark: .mark
        case .verdict: .verdict
        }
    }

    /// The set key type of this datatype, where sets can have it.
    public var setKeyType: SetKeyType? { SetKeyType(rawValue: name) }
}

/// A two-way table of names: value → the name nft prints, name → value (several names may share a
/// value; the first listed is the one printed).
public struct SymbolTable: Sendable {
    /// Names and values in the order nft lists them.
    public let pairs: [(name: String, value: UInt64)]
    private let values: [String: UInt64]
    private let names: [UInt64: String]

    public init(_ pairs: [(String, UInt64)]) {
        self.pairs = pairs.map { (name: $0.0, value: $0.1) }
        var values: [String: UInt64] = [:]
        var names: [UInt64: String] = [:]
        for (name, value) in pairs {
            values[name] = value
            if names[value] == nil { names[value] = name }
        }
        self.values = values
        self.names = names
    }

    public func value(named name: String) -> UInt64? { values[name] }
    public func name(of value: UInt64) -> String? { names[value] }
    public var isEmpty: Bool { pairs.isEmpty }
}
