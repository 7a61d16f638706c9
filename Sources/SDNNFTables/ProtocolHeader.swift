/// The protocol headers the encoder and the canonical form know, and how nft chains them: which expression tells the layer
/// above which protocol follows (its "protocol key") and with which number.
///
/// Three pseudo headers stand for nft's context-free descriptions: `inet` (an inet table's packet is
/// IPv4 or IPv6, told apart by `meta nfproto`), `netdev` (a bridge or netdev packet's network protocol,
/// told by `meta protocol`) and `inetService` (some transport protocol, told by `meta l4proto`).
public enum ProtocolHeader: String, Hashable, Sendable, CaseIterable {
    case inet, netdev, ether, ip, ip6, arp, inetService, tcp, udp, udplite, sctp, dccp, icmp, icmpv6

    public enum Layer: Int, Hashable, Sendable, Comparable {
        case link = 0, network = 1, transport = 2
        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

        /// `NFT_PAYLOAD_*_HEADER`.
        public var payloadBase: UInt32 { UInt32(rawValue) }
    }

    public var layer: Layer {
        switch self {
        case .inet, .netdev, .ether: .link
        case .ip, .ip6, .arp: .network
        case .inetService, .tcp, .udp, .udplite, .sctp, .dccp, .icmp, .icmpv6: .transport
        }
    }

    /// Pseudo headers have no bytes of their own.
    public var isPseudo: Bool { self == .inet || self == .netdev || self == .inetService }

    /// nft's `enum proto_desc_id`, recorded in anonymous sets' key userdata.
    public var descriptionID: UInt32 {
        switch self {
        case .icmp: 4
        case .udp: 6
        case .udplite: 7
        case .tcp: 8
        case .dccp: 9
        case .sctp: 10
        case .ip: 12
        case .ip6: 13
        case .icmpv6: 14
        case .arp: 15
        case .ether: 17
        case .inet, .netdev, .inetService: 0
        }
    }

    /// The field that names the next layer's protocol, as a dependency match uses it. IPv4's and IPv6's
    /// own protocol fields are replaced by `meta l4proto`, as nft does, so that IPv6 extension headers
    /// are skipped.
    public var protocolKey: Field? {
        switch self {
        case .inet: MetaKey.nfproto.field
        case .netdev: MetaKey.protocol.field
        case .ether: Field.etherType
        case .ip, .ip6, .inetService: MetaKey.l4proto.field
        default: nil
        }
    }

    /// The name `protocolKey`'s datatype gives `upper`, where `upper` can follow this header.
    private func keyName(of upper: ProtocolHeader) -> String? {
        switch (self, upper) {
        case (.inet, .ip): "ipv4"
        case (.inet, .ip6): "ipv6"
        case (.netdev, .ip), (.ether, .ip): "ip"
        case (.netdev, .ip6), (.ether, .ip6): "ip6"
        case (.netdev, .arp), (.ether, .arp): "arp"
        case (.ip, .icmp), (.inetService, .icmp): "icmp"
        case (.ip6, .icmpv6), (.inetService, .icmpv6): "ipv6-icmp"
        case (.ip, .tcp), (.ip6, .tcp), (.inetService, .tcp), (.ip, .udp), (.ip6, .udp), (.inetService, .udp),
             (.ip, .udplite), (.ip6, .udplite), (.inetService, .udplite), (.ip, .dccp), (.ip6, .dccp), (.inetService, .dccp),
             (.ip, .sctp), (.ip6, .sctp), (.inetService, .sctp):
            upper.rawValue
        default: nil
        }
    }

    /// Which header follows which, with the number the protocol key then holds (from the catalog).
    private static let numbers: [ProtocolHeader: [ProtocolHeader: UInt64]] = Dictionary(uniqueKeysWithValues: allCases.map { lower in
        let key = lower.protocolKey
        return (lower, Dictionary(uniqueKeysWithValues: allCases.compactMap { upper in
            guard let key, let name = lower.keyName(of: upper), let number = key.datatype.number(named: name) else { return nil }
            return (upper, number)
        }))
    })

    private static let uppers: [ProtocolHeader: [UInt64: ProtocolHeader]] = numbers.mapValues { byUpper in
        Dictionary(byUpper.filter { !$0.key.isPseudo }.map { ($0.value, $0.key) }, uniquingKeysWith: { first, _ in first })
    }

    /// The number `protocolKey` must equal for `upper` to follow, or nil if it cannot.
    public func number(of upper: ProtocolHeader) -> UInt64? { Self.numbers[self]?[upper] }

    /// The header a protocol-key value announces (the inverse of `number(of:)`).
    public func upper(for number: UInt64) -> ProtocolHeader? { Self.uppers[self]?[number] }
}
