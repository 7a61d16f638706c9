import SDNNFTables

/// One packet or metadata field the IR can match, with everything the encoder needs about it: where
/// the kernel reads it (meta key, payload base/offset, ct key), its type, the header it belongs to.
///
/// A class, not a struct: fields travel inside every statement the encoder and decoder copy around,
/// and one reference is much cheaper to copy than two strings. Every field is an entry of `catalog`,
/// so identity is equality.
final class Field: Hashable, Sendable, CustomStringConvertible {
    enum Source: Hashable, Sendable {
        case meta(key: UInt32)
        case payload(ProtocolHeader.Layer, offset: UInt32)
        case ct(key: UInt32)
    }

    /// The IR's names: `("meta", "iifname")`, `("ip", "saddr")`, `("ct", "state")`.
    let protocolName: String
    let name: String
    let source: Source
    let kind: ValueKind
    /// The header a payload field lies in (nil for meta and ct).
    let header: ProtocolHeader?
    /// nft's template index of the field in its header, for anonymous sets' key userdata.
    let templateIndex: UInt32

    init(protocolName: String, name: String, source: Source, kind: ValueKind, header: ProtocolHeader?, templateIndex: UInt32) {
        self.protocolName = protocolName
        self.name = name
        self.source = source
        self.kind = kind
        self.header = header
        self.templateIndex = templateIndex
    }

    static func == (lhs: Field, rhs: Field) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    var length: Int { kind.length }

    var offset: UInt32 {
        if case .payload(_, let offset) = source { return offset }
        return 0
    }

    /// nft's EXPR_F_PROTOCOL: a match on this field tells which protocol the next layer carries.
    var isProtocolKey: Bool {
        switch (protocolName, name) {
        case ("meta", "nfproto"), ("meta", "l4proto"), ("meta", "protocol"), ("meta", "iiftype"), ("ether", "type"): true
        default: false
        }
    }

    var expression: Expression {
        switch source {
        case .meta: .meta(name)
        case .ct: .ct(name)
        case .payload: .payload(protocol: protocolName, field: name)
        }
    }

    var description: String { protocolName == "meta" ? "meta \(name)" : "\(protocolName) \(name)" }

    // MARK: - Catalog

    static func meta(_ name: String) -> Field { byName[Key(protocolName: "meta", name: name)]! }
    static func payload(_ proto: String, _ name: String) -> Field { byName[Key(protocolName: proto, name: name)]! }

    /// The fields dependencies use, looked up once.
    static let nfproto = meta("nfproto")
    static let l4proto = meta("l4proto")
    static let metaProtocol = meta("protocol")
    static let interfaceType = meta("iiftype")
    static let etherType = payload("ether", "type")

    /// The field an IR expression names, if supported.
    static func named(_ expression: Expression) -> Field? {
        switch expression {
        case .meta(let name): byName[Key(protocolName: "meta", name: name)]
        case .ct(let name): byName[Key(protocolName: "ct", name: name)]
        case .payload(let proto, let name): byName[Key(protocolName: proto, name: name)]
        default: nil
        }
    }

    /// The field the kernel reads from `source`.
    static func reading(_ source: Source) -> Field? { bySource[source] }

    private struct Key: Hashable {
        var protocolName: String
        var name: String
    }

    private static let byName: [Key: Field] = Dictionary(uniqueKeysWithValues: catalog.map { (Key(protocolName: $0.protocolName, name: $0.name), $0) })
    private static let bySource: [Source: Field] = Dictionary(catalog.filter { $0.header == nil }.map { ($0.source, $0) }, uniquingKeysWith: { first, _ in first })

    /// Payload fields by header, in offset order.
    static let byHeader: [ProtocolHeader: [Field]] = Dictionary(grouping: catalog.filter { $0.header != nil }, by: { $0.header! })
        .mapValues { $0.sorted { $0.offset < $1.offset } }

    private static func metaField(_ name: String, _ key: UInt32, _ kind: ValueKind) -> Field {
        Field(protocolName: "meta", name: name, source: .meta(key: key), kind: kind, header: nil, templateIndex: 0)
    }

    private static func header(_ header: ProtocolHeader, _ name: String, offset: UInt32, _ kind: ValueKind, template: UInt32) -> Field {
        let protocolName = header == .icmpv6 ? "icmpv6" : header.rawValue
        return Field(protocolName: protocolName, name: name, source: .payload(header.layer, offset: offset), kind: kind, header: header, templateIndex: template)
    }

    /// Every supported field. Meta keys are `enum nft_meta_keys`; offsets are bytes into the header;
    /// template indexes follow nft's `proto.c`.
    static let catalog: [Field] = {
        var fields: [Field] = [
            metaField("protocol", 1, .etherType),
            metaField("iifname", 6, .interfaceName),
            metaField("oifname", 7, .interfaceName),
            metaField("iiftype", 8, .interfaceType),
            metaField("nfproto", 15, .nfProtocol),
            metaField("l4proto", 16, .inetProtocol),
            metaField("pkttype", 19, .packetType),
            Field(protocolName: "ct", name: "state", source: .ct(key: 0), kind: .ctState, header: nil, templateIndex: 0),
            header(.ether, "daddr", offset: 0, .etherAddress, template: 1),
            header(.ether, "saddr", offset: 6, .etherAddress, template: 2),
            header(.ether, "type", offset: 12, .etherType, template: 3),
            header(.ip, "saddr", offset: 12, .ipv4Address, template: 11),
            header(.ip, "daddr", offset: 16, .ipv4Address, template: 12),
            header(.ip6, "saddr", offset: 8, .ipv6Address, template: 8),
            header(.ip6, "daddr", offset: 24, .ipv6Address, template: 9),
            header(.arp, "operation", offset: 6, .arpOperation, template: 5),
            header(.icmp, "type", offset: 0, .icmpType, template: 1),
            header(.icmpv6, "type", offset: 0, .icmpv6Type, template: 1),
            header(.tcp, "flags", offset: 13, .tcpFlags, template: 7),
        ]
        // `arp saddr ip` is one field with a two-word name in nft.
        fields.append(Field(protocolName: "arp", name: "saddr ip", source: .payload(.network, offset: 14), kind: .ipv4Address, header: .arp, templateIndex: 7))
        fields.append(Field(protocolName: "arp", name: "daddr ip", source: .payload(.network, offset: 24), kind: .ipv4Address, header: .arp, templateIndex: 9))
        fields.append(Field(protocolName: "arp", name: "saddr ether", source: .payload(.network, offset: 8), kind: .etherAddress, header: .arp, templateIndex: 6))
        fields.append(Field(protocolName: "arp", name: "daddr ether", source: .payload(.network, offset: 18), kind: .etherAddress, header: .arp, templateIndex: 8))
        for transport in [ProtocolHeader.tcp, .udp, .udplite, .sctp, .dccp] {
            fields.append(header(transport, "sport", offset: 0, .inetService, template: 1))
            fields.append(header(transport, "dport", offset: 2, .inetService, template: 2))
        }
        return fields
    }()
}
