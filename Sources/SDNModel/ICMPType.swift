/// ICMP and ICMPv6 message types by the names nftables uses.
public enum ICMPType {
    /// ICMP type names in the order nft lists them. The one table of these names: SDNNFTables'
    /// `Datatype.icmpType` reads it too (the model cannot import the firewall IR).
    public static let ipv4Names: [(name: String, type: UInt8)] = [
        ("echo-reply", 0), ("destination-unreachable", 3), ("source-quench", 4), ("redirect", 5), ("echo-request", 8),
        ("router-advertisement", 9), ("router-solicitation", 10), ("time-exceeded", 11), ("parameter-problem", 12),
        ("timestamp-request", 13), ("timestamp-reply", 14), ("info-request", 15), ("info-reply", 16),
        ("address-mask-request", 17), ("address-mask-reply", 18),
    ]

    /// ICMPv6 type names in the order nft lists them (where two share a number, the first is printed).
    public static let ipv6Names: [(name: String, type: UInt8)] = [
        ("destination-unreachable", 1), ("packet-too-big", 2), ("time-exceeded", 3), ("parameter-problem", 4),
        ("echo-request", 128), ("echo-reply", 129), ("mld-listener-query", 130), ("mld-listener-report", 131),
        ("mld-listener-done", 132), ("mld-listener-reduction", 132), ("nd-router-solicit", 133), ("nd-router-advert", 134),
        ("nd-neighbor-solicit", 135), ("nd-neighbor-advert", 136), ("nd-redirect", 137), ("router-renumbering", 138),
        ("ind-neighbor-solicit", 141), ("ind-neighbor-advert", 142), ("mld2-listener-report", 143),
    ]

    public static let ipv4: [String: UInt8] = Dictionary(ipv4Names.map { ($0.name, $0.type) }, uniquingKeysWith: { first, _ in first })

    public static let ipv6: [String: UInt8] = Dictionary(ipv6Names.map { ($0.name, $0.type) }, uniquingKeysWith: { first, _ in first })

    /// The type number for `name` (or a plain number) in the given protocol, or nil if unknown.
    public static func number(_ name: String, for proto: IPProtocolName) -> UInt8? {
        if let value = UInt8(name), name.allSatisfy(\.isASCIIDigit) { return value }
        switch proto {
        case .icmp: return ipv4[name]
        case .icmpv6: return ipv6[name]
        default: return nil
        }
    }

    public static func knownNames(for proto: IPProtocolName) -> [String] {
        (proto == .icmpv6 ? ipv6 : ipv4).keys.sorted()
    }
}
