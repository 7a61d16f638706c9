/// nft's protocol context (`struct proto_ctx`): which protocol each layer is known to carry at a point of
/// a rule, and the dependency matches nft inserts before a payload match so the kernel only reads a
/// header that is really there (`ip saddr` in an inet table needs `meta nfproto ipv4` first).
///
/// The netlink encoder walks a rule with it to insert dependencies exactly where nft does, the decoder
/// to name payload fields and to recognise which matches were dependencies, and the canonical form to
/// drop the matches the decoder would drop.
public struct ProtocolContext: Hashable, Sendable {
    /// A dependency match: `field == number`.
    public struct Dependency: Hashable, Sendable {
        public var field: Field
        public var number: UInt64
    }

    /// A payload match nft cannot give a dependency for.
    public struct Conflict: Error, Hashable, Sendable {
        public var message: String
    }

    public let family: TableFamily
    private var link: ProtocolHeader?
    private var network: ProtocolHeader?
    private var transport: ProtocolHeader?

    public init(family: TableFamily) {
        self.family = family
        switch family {
        case .inet: link = .inet
        case .bridge: link = .ether
        case .netdev: link = .netdev
        case .ip: network = .ip
        case .ip6: network = .ip6
        case .arp: network = .arp
        }
    }

    public subscript(layer: ProtocolHeader.Layer) -> ProtocolHeader? {
        get {
            switch layer {
            case .link: link
            case .network: network
            case .transport: transport
            }
        }
        set {
            switch layer {
            case .link: link = newValue
            case .network: network = newValue
            case .transport: transport = newValue
            }
        }
    }

    /// The layer the family's hooks see first (`hook_proto_desc`).
    private var hookLayer: ProtocolHeader.Layer {
        switch family {
        case .inet, .bridge, .netdev: .link
        case .ip, .ip6, .arp: .network
        }
    }

    /// The link-layer description nft falls back to for ICMP without a network protocol.
    private var familyLinkHeader: ProtocolHeader? {
        switch family {
        case .inet: .inet
        case .bridge: .ether
        case .netdev: .netdev
        default: nil
        }
    }

    /// The matches nft inserts before a payload match on `header` (`payload_gen_dependency` and
    /// `resolve_protocol_conflict`), applied to the context as nft applies them.
    public mutating func dependencies(of header: ProtocolHeader) throws(Conflict) -> [Dependency] {
        let layer = header.layer
        if let current = self[layer] {
            if current == header { return [] }
            // Ethernet fields in an inet or netdev table: only where the input device is Ethernet.
            if layer == .link && current.isPseudo && header == .ether {
                return [apply(Self.interfaceTypeEthernet)]
            }
            throw Conflict(message: "conflicting protocols specified: \(current.rawValue) vs. \(header.rawValue)")
        }
        if layer < hookLayer {
            guard layer == .link, header == .ether, hookLayer == .network else {
                throw Conflict(message: "\(header.rawValue) fields are invalid in \(family.rawValue) tables")
            }
            return [apply(Self.interfaceTypeEthernet)]
        }
        var dependencies: [Dependency] = []
        var lower = self[ProtocolHeader.Layer(rawValue: layer.rawValue - 1)!]
        if lower == nil {
            guard layer == .transport else {
                throw Conflict(message: "ambiguous payload specification: no link layer protocol for \(header.rawValue)")
            }
            if header == .icmp || header == .icmpv6 {
                // ICMP pins the network protocol too: two dependencies (`payload_gen_special_dependency`).
                guard let link = self[.link] ?? familyLinkHeader else {
                    throw Conflict(message: "ambiguous payload specification: no network protocol for \(header.rawValue)")
                }
                let network: ProtocolHeader = header == .icmp ? .ip : .ip6
                dependencies.append(try dependency(link, network))
                lower = network
            } else {
                lower = .inetService
            }
        }
        // Bridges test the network protocol with `meta protocol` (skb->protocol, which also sees
        // VLAN-offloaded frames), not `ether type`.
        if family == .bridge && lower == .ether && (header == .ip || header == .ip6) {
            lower = .netdev
        }
        dependencies.append(try dependency(lower!, header))
        return dependencies
    }

    private static let interfaceTypeEthernet = Dependency(field: MetaKey.iiftype.field, number: 1)

    private mutating func dependency(_ lower: ProtocolHeader, _ upper: ProtocolHeader) throws(Conflict) -> Dependency {
        guard let key = lower.protocolKey, let number = lower.number(of: upper) else {
            throw Conflict(message: "conflicting protocols specified: \(lower.rawValue) vs. \(upper.rawValue)")
        }
        return apply(Dependency(field: key, number: number))
    }

    private mutating func apply(_ dependency: Dependency) -> Dependency {
        learn(dependency.field, equals: dependency.number)
        return dependency
    }

    /// What an `==` match of a protocol key with `number` teaches about the next layer
    /// (`relational_expr_pctx_update`); other fields teach nothing.
    public mutating func learn(_ field: Field, equals number: UInt64) {
        switch field {
        case MetaKey.nfproto.field:
            self[.network] = ProtocolHeader.inet.upper(for: number)
        case MetaKey.l4proto.field:
            self[.transport] = ProtocolHeader.inetService.upper(for: number)
        case MetaKey.protocol.field:
            // Only bridge and netdev tables learn the network protocol from skb->protocol.
            if family == .bridge || family == .netdev { self[.network] = ProtocolHeader.netdev.upper(for: number) }
        case MetaKey.iiftype.field:
            if number == 1 { self[.link] = .ether }
        case Field.etherType:
            if self[.link] == .ether { self[.network] = ProtocolHeader.ether.upper(for: number) }
        default:
            break
        }
    }
}
