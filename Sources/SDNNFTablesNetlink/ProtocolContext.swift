import SDNNFTables

/// nft's protocol context (`struct proto_ctx`): which protocol each layer is known to carry at a point of
/// a rule, and the dependency matches nft inserts before a payload match so the kernel only reads a
/// header that is really there (`ip saddr` in an inet table needs `meta nfproto ipv4` first).
///
/// The encoder walks a rule with it to insert dependencies exactly where nft does; the decoder walks the
/// expressions with it to name payload fields and to recognise which matches were dependencies.
struct ProtocolContext: Hashable, Sendable {
    let family: TableFamily
    private var link: ProtocolHeader?
    private var network: ProtocolHeader?
    private var transport: ProtocolHeader?

    init(family: TableFamily) {
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

    subscript(layer: ProtocolHeader.Layer) -> ProtocolHeader? {
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
    mutating func dependencies(for header: ProtocolHeader) throws(NFTNetlinkError) -> [Match] {
        let layer = header.layer
        if let current = self[layer] {
            if current == header { return [] }
            // Ethernet fields in an inet or netdev table: only where the input device is Ethernet.
            if layer == .link && current.isPseudo && header == .ether {
                return [apply(interfaceTypeEthernet)]
            }
            throw .unsupported("conflicting protocols specified: \(current.rawValue) vs. \(header.rawValue)")
        }
        if layer < hookLayer {
            guard layer == .link, header == .ether, hookLayer == .network else {
                throw .unsupported("\(header.rawValue) fields are invalid in \(family.rawValue) tables")
            }
            return [apply(interfaceTypeEthernet)]
        }
        var dependencies: [Match] = []
        var lower = self[ProtocolHeader.Layer(rawValue: layer.rawValue - 1)!]
        if lower == nil {
            guard layer == .transport else {
                throw .unsupported("ambiguous payload specification: no link layer protocol for \(header.rawValue)")
            }
            if header == .icmp || header == .icmpv6 {
                // ICMP pins the network protocol too: two dependencies (`payload_gen_special_dependency`).
                guard let link = self[.link] ?? familyLinkHeader else {
                    throw .unsupported("ambiguous payload specification: no network protocol for \(header.rawValue)")
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

    private var interfaceTypeEthernet: Match {
        Match(left: .field(Field.interfaceType), op: .equal, right: .value(ValueKind.hostOrder(1, length: 2)))
    }

    private mutating func dependency(_ lower: ProtocolHeader, _ upper: ProtocolHeader) throws(NFTNetlinkError) -> Match {
        guard let key = lower.protocolKey, let number = lower.number(of: upper) else {
            throw .unsupported("conflicting protocols specified: \(lower.rawValue) vs. \(upper.rawValue)")
        }
        let bytes = key.kind.isHostOrderOnWire ? ValueKind.hostOrder(number, length: key.length) : ValueKind.bigEndian(number, length: key.length)
        return apply(Match(left: .field(key), op: .equal, right: .value(bytes)))
    }

    @discardableResult
    private mutating func apply(_ match: Match) -> Match {
        update(after: match)
        return match
    }

    /// What an `==` match on a protocol key teaches about the next layer (`relational_expr_pctx_update`):
    /// a single value, or each element of an anonymous set in turn (the last one wins, as in nft 1.0.6).
    mutating func update(after match: Match) {
        guard match.op == .equal, case .field(let field) = match.left, field.isProtocolKey else { return }
        switch match.right {
        case .value(let bytes):
            update(field, bytes)
        case .anonymousSet(let set) where !set.flags.isInterval:
            for element in set.elements { update(field, element.key) }
        default:
            break
        }
    }

    private mutating func update(_ field: Field, _ bytes: [UInt8]) {
        let number = field.kind.isHostOrderOnWire ? ValueKind.number(hostOrder: bytes) : ValueKind.number(bigEndian: bytes)
        switch (field.protocolName, field.name) {
        case ("meta", "nfproto"):
            self[.network] = ProtocolHeader.inet.upper(for: number)
        case ("meta", "l4proto"):
            self[.transport] = ProtocolHeader.inetService.upper(for: number)
        case ("meta", "protocol"):
            // Only bridge and netdev tables learn the network protocol from skb->protocol.
            if family == .bridge || family == .netdev { self[.network] = ProtocolHeader.netdev.upper(for: number) }
        case ("meta", "iiftype"):
            if number == 1 { self[.link] = .ether }
        case ("ether", "type"):
            if self[.link] == .ether { self[.network] = ProtocolHeader.ether.upper(for: number) }
        default:
            break
        }
    }
}

private extension UInt32 {
    var isInterval: Bool { self & KernelSet.interval != 0 }
}
