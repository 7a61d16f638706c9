/// One packet, metadata or conntrack field a rule can match, with its datatype and where the kernel
/// reads it: the catalog every consumer of the IR shares (text, JSON, interpreter, netlink).
///
/// Payload fields are the static members (`Field.ipSaddr`, `Field.tcpDport`); metadata and conntrack
/// keys are ``MetaKey`` and ``CtKey``, whose ``MetaKey/field`` is an entry here too. There is no
/// public initializer, so a misspelt field does not compile.
///
/// A class, not a struct: fields travel inside every expression the compiler, encoder and decoder
/// copy around, and one reference is much cheaper to copy than the record. Every field is an entry of
/// ``all``, so identity is equality.
public final class Field: Hashable, Sendable, CustomStringConvertible {
    /// Where the kernel reads the field.
    public enum Source: Hashable, Sendable {
        /// `enum nft_meta_keys`.
        case meta(key: UInt32)
        /// `enum nft_ct_keys`.
        case ct(key: UInt32)
        /// Bytes at `offset` into the header at `base`.
        case payload(PayloadBase, offset: UInt32)
    }

    /// `enum nft_payload_bases`.
    public enum PayloadBase: UInt32, Hashable, Sendable {
        case link = 0
        case network = 1
        case transport = 2
    }

    /// The header or expression nft names: `meta`, `ct`, `ip`, `ip6`, `tcp`, `th`, `arp` …
    public let protocolName: String
    /// The field's name after it: `iifname`, `state`, `saddr`, `saddr ip`.
    public let name: String
    public let source: Source
    public let datatype: Datatype
    /// nft's template index of the field in its header (`proto.c`), which anonymous sets' key
    /// userdata records; 0 for metadata and conntrack.
    public let templateIndex: UInt32

    private init(_ protocolName: String, _ name: String, _ source: Source, _ datatype: Datatype, template: UInt32 = 0) {
        self.protocolName = protocolName
        self.name = name
        self.source = source
        self.datatype = datatype
        self.templateIndex = template
    }

    public static func == (lhs: Field, rhs: Field) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    /// Bytes the kernel loads.
    public var length: Int { datatype.length }

    /// nft's spelling: `ip saddr`, `meta l4proto`, `ct state`.
    public var description: String { "\(protocolName) \(name)" }

    /// The IR expression that reads this field.
    public var expression: Expression {
        switch source {
        case .meta(let key): .meta(MetaKey(rawValue: key))
        case .ct(let key): .ct(CtKey(rawValue: key))
        case .payload: .payload(self)
        }
    }

    /// The field nft names `protocolName name` (`"ip", "saddr"`; `"meta", "l4proto"`), if the catalog has it.
    public static func named(_ protocolName: String, _ name: String) -> Field? {
        byName[protocolName + " " + name]
    }

    private static let byName: [String: Field] = Dictionary(uniqueKeysWithValues: all.map { ($0.description, $0) })

    // MARK: - Payload fields (offsets are bytes into the header; templates follow nft's proto.c)

    public static let etherDaddr = Field("ether", "daddr", .payload(.link, offset: 0), .etherAddress, template: 1)
    public static let etherSaddr = Field("ether", "saddr", .payload(.link, offset: 6), .etherAddress, template: 2)
    public static let etherType = Field("ether", "type", .payload(.link, offset: 12), .etherType, template: 3)

    public static let ipProtocol = Field("ip", "protocol", .payload(.network, offset: 9), .inetProtocol, template: 9)
    public static let ipSaddr = Field("ip", "saddr", .payload(.network, offset: 12), .ipv4Address, template: 11)
    public static let ipDaddr = Field("ip", "daddr", .payload(.network, offset: 16), .ipv4Address, template: 12)

    public static let ip6Nexthdr = Field("ip6", "nexthdr", .payload(.network, offset: 6), .inetProtocol, template: 6)
    public static let ip6Saddr = Field("ip6", "saddr", .payload(.network, offset: 8), .ipv6Address, template: 8)
    public static let ip6Daddr = Field("ip6", "daddr", .payload(.network, offset: 24), .ipv6Address, template: 9)

    public static let arpOperation = Field("arp", "operation", .payload(.network, offset: 6), .arpOperation, template: 5)
    public static let arpSaddrEther = Field("arp", "saddr ether", .payload(.network, offset: 8), .etherAddress, template: 6)
    public static let arpSaddrIP = Field("arp", "saddr ip", .payload(.network, offset: 14), .ipv4Address, template: 7)
    public static let arpDaddrEther = Field("arp", "daddr ether", .payload(.network, offset: 18), .etherAddress, template: 8)
    public static let arpDaddrIP = Field("arp", "daddr ip", .payload(.network, offset: 24), .ipv4Address, template: 9)

    public static let icmpType = Field("icmp", "type", .payload(.transport, offset: 0), .icmpType, template: 1)
    public static let icmpCode = Field("icmp", "code", .payload(.transport, offset: 1), .icmpCode, template: 2)
    public static let icmpv6Type = Field("icmpv6", "type", .payload(.transport, offset: 0), .icmpv6Type, template: 1)
    public static let icmpv6Code = Field("icmpv6", "code", .payload(.transport, offset: 1), .icmpv6Code, template: 2)

    public static let tcpSport = Field("tcp", "sport", .payload(.transport, offset: 0), .inetService, template: 1)
    public static let tcpDport = Field("tcp", "dport", .payload(.transport, offset: 2), .inetService, template: 2)
    public static let tcpFlags = Field("tcp", "flags", .payload(.transport, offset: 13), .tcpFlags, template: 7)
    public static let udpSport = Field("udp", "sport", .payload(.transport, offset: 0), .inetService, template: 1)
    public static let udpDport = Field("udp", "dport", .payload(.transport, offset: 2), .inetService, template: 2)
    public static let udpliteSport = Field("udplite", "sport", .payload(.transport, offset: 0), .inetService, template: 1)
    public static let udpliteDport = Field("udplite", "dport", .payload(.transport, offset: 2), .inetService, template: 2)
    public static let sctpSport = Field("sctp", "sport", .payload(.transport, offset: 0), .inetService, template: 1)
    public static let sctpDport = Field("sctp", "dport", .payload(.transport, offset: 2), .inetService, template: 2)
    public static let dccpSport = Field("dccp", "sport", .payload(.transport, offset: 0), .inetService, template: 1)
    public static let dccpDport = Field("dccp", "dport", .payload(.transport, offset: 2), .inetService, template: 2)
    /// The ports of whatever transport header follows (`th dport`), as nft lists a port match whose
    /// protocol match it could not fold.
    public static let thSport = Field("th", "sport", .payload(.transport, offset: 0), .inetService, template: 1)
    public static let thDport = Field("th", "dport", .payload(.transport, offset: 2), .inetService, template: 2)

    /// The source or destination port field of a transport protocol with ports (`tcp`, `udp`,
    /// `udplite`, `sctp`, `dccp`, `th`).
    public static func port(_ protocolName: String, destination: Bool) -> Field? {
        named(protocolName, destination ? "dport" : "sport")
    }

    /// The address fields of an IP family.
    public static func address(ipv6: Bool, destination: Bool) -> Field {
        switch (ipv6, destination) {
        case (false, false): .ipSaddr
        case (false, true): .ipDaddr
        case (true, false): .ip6Saddr
        case (true, true): .ip6Daddr
        }
    }

    // MARK: - Metadata and conntrack (see MetaKey, CtKey)

    static let metaProtocol = Field("meta", "protocol", .meta(key: 1), .etherType)
    static let metaMark = Field("meta", "mark", .meta(key: 3), .mark)
    static let metaIifname = Field("meta", "iifname", .meta(key: 6), .interfaceName)
    static let metaOifname = Field("meta", "oifname", .meta(key: 7), .interfaceName)
    static let metaIiftype = Field("meta", "iiftype", .meta(key: 8), .interfaceType)
    static let metaNfproto = Field("meta", "nfproto", .meta(key: 15), .nfProtocol)
    static let metaL4proto = Field("meta", "l4proto", .meta(key: 16), .inetProtocol)
    static let metaIbrname = Field("meta", "ibrname", .meta(key: 17), .interfaceName)
    static let metaObrname = Field("meta", "obrname", .meta(key: 18), .interfaceName)
    static let metaPkttype = Field("meta", "pkttype", .meta(key: 19), .packetType)
    static let ctState = Field("ct", "state", .ct(key: 0), .ctState)
    static let ctStatus = Field("ct", "status", .ct(key: 2), .ctStatus)

    /// Every field of the catalog.
    public static let all: [Field] = [
        metaProtocol, metaMark, metaIifname, metaOifname, metaIiftype, metaNfproto, metaL4proto, metaIbrname, metaObrname, metaPkttype,
        ctState, ctStatus,
        etherDaddr, etherSaddr, etherType,
        ipProtocol, ipSaddr, ipDaddr, ip6Nexthdr, ip6Saddr, ip6Daddr,
        arpOperation, arpSaddrEther, arpSaddrIP, arpDaddrEther, arpDaddrIP,
        icmpType, icmpCode, icmpv6Type, icmpv6Code,
        tcpSport, tcpDport, tcpFlags, udpSport, udpDport, udpliteSport, udpliteDport, sctpSport, sctpDport, dccpSport, dccpDport,
        thSport, thDport,
    ]
}

/// A metadata key (`meta l4proto`, `iifname`): its number is the kernel's `enum nft_meta_keys`.
public struct MetaKey: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    fileprivate init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let `protocol` = MetaKey(rawValue: 1)
    public static let mark = MetaKey(rawValue: 3)
    public static let iifname = MetaKey(rawValue: 6)
    public static let oifname = MetaKey(rawValue: 7)
    public static let iiftype = MetaKey(rawValue: 8)
    public static let nfproto = MetaKey(rawValue: 15)
    public static let l4proto = MetaKey(rawValue: 16)
    /// The bridge of the input port (`NFT_META_BRI_IIFNAME`; nft's old name for it was `ibriport`).
    public static let ibrname = MetaKey(rawValue: 17)
    public static let obrname = MetaKey(rawValue: 18)
    public static let pkttype = MetaKey(rawValue: 19)

    /// The catalog entry.
    public var field: Field {
        switch rawValue {
        case 1: .metaProtocol
        case 3: .metaMark
        case 6: .metaIifname
        case 7: .metaOifname
        case 8: .metaIiftype
        case 15: .metaNfproto
        case 16: .metaL4proto
        case 17: .metaIbrname
        case 18: .metaObrname
        default: .metaPkttype
        }
    }

    public var name: String { field.name }
    public var datatype: Datatype { field.datatype }

    /// Whether nft prints the key without the `meta` keyword (`iifname`, `mark`).
    public var isPrintedBare: Bool { self == .iifname || self == .oifname || self == .mark || self == .iiftype }

    /// The key nft names `name`, if the catalog has it.
    public init?(name: String) {
        guard let field = Field.named("meta", name), case .meta(let key) = field.source else { return nil }
        self.rawValue = key
    }

    public var description: String { name }
}

/// A conntrack key (`ct state`): its number is the kernel's `enum nft_ct_keys`.
public struct CtKey: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    fileprivate init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let state = CtKey(rawValue: 0)
    public static let status = CtKey(rawValue: 2)

    /// The catalog entry.
    public var field: Field { self == .status ? .ctStatus : .ctState }

    public var name: String { field.name }
    public var datatype: Datatype { field.datatype }

    /// The key nft names `name`, if the catalog has it.
    public init?(name: String) {
        guard let field = Field.named("ct", name), case .ct(let key) = field.source else { return nil }
        self.rawValue = key
    }

    public var description: String { name }
}
