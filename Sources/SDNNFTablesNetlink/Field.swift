import SDNNFTables

/// What the encoder needs of a catalog ``Field`` beyond the catalog itself: the header it belongs to
/// in the encoder's protocol chain, and which fields the netlink path supports.
extension Field {
    /// The datatype, by the name the encoder has always used for it.
    var kind: Datatype { datatype }

    /// The header a payload field lies in (nil for meta and ct, and for `th`, which has none).
    var header: ProtocolHeader? {
        guard case .payload = source else { return nil }
        return ProtocolHeader(rawValue: protocolName)
    }

    var offset: UInt32 {
        if case .payload(_, let offset) = source { return offset }
        return 0
    }

    /// nft's EXPR_F_PROTOCOL: a match on this field tells which protocol the next layer carries.
    var isProtocolKey: Bool {
        self === Field.nfproto || self === Field.l4proto || self === Field.metaProtocol || self === Field.interfaceType || self === Field.etherType
    }

    /// The fields dependencies use.
    static let nfproto = MetaKey.nfproto.field
    static let l4proto = MetaKey.l4proto.field
    static let metaProtocol = MetaKey.protocol.field
    static let interfaceType = MetaKey.iiftype.field

    /// The field an IR expression names, if the netlink path supports it.
    static func named(_ expression: Expression) -> Field? {
        guard let field = expression.field, netlinkFields.contains(field) else { return nil }
        return field
    }

    /// The field the kernel reads from a meta or ct `source`.
    static func reading(_ source: Source) -> Field? { bySource[source] }

    private static let bySource: [Source: Field] = Dictionary(
        netlinkFields.filter { $0.header == nil }.map { ($0.source, $0) }, uniquingKeysWith: { first, _ in first })

    /// Payload fields by header, in offset order.
    static let byHeader: [ProtocolHeader: [Field]] = Dictionary(grouping: netlinkFields.filter { $0.header != nil }, by: { $0.header! })
        .mapValues { $0.sorted { $0.offset < $1.offset } }

    /// The catalog fields the encoder and decoder handle (checked against `nft -f` by the
    /// differential tests); the rest are rejected as unsupported rather than guessed.
    static let netlinkFields: Set<Field> = {
        var fields: Set<Field> = [
            Field.metaProtocol, Field.nfproto, Field.l4proto, Field.interfaceType,
            MetaKey.iifname.field, MetaKey.oifname.field, MetaKey.ibrname.field, MetaKey.obrname.field, MetaKey.pkttype.field, CtKey.state.field,
            .etherDaddr, .etherSaddr, .etherType, .ipSaddr, .ipDaddr, .ip6Saddr, .ip6Daddr,
            .arpOperation, .arpSaddrIP, .arpDaddrIP, .arpSaddrEther, .arpDaddrEther,
            .icmpType, .icmpv6Type, .tcpFlags,
        ]
        for transport in ["tcp", "udp", "udplite", "sctp", "dccp"] {
            fields.insert(Field.port(transport, destination: false)!)
            fields.insert(Field.port(transport, destination: true)!)
        }
        return fields
    }()
}

extension Field.PayloadBase {
    /// `NFT_PAYLOAD_*_HEADER`.
    var payloadBase: UInt32 { rawValue }
}
