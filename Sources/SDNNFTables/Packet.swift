public import SDNModel

/// A packet as the ``PacketInterpreter`` sees it: the header fields, metadata and conntrack state
/// that rules match on. Fields left `nil` are absent, so a rule that reads them does not match (as a
/// `tcp dport` match does not match a UDP packet in nft).
public struct Packet: Hashable, Sendable, CustomStringConvertible {
    /// The network-layer protocol (the ether type).
    public enum NetworkProtocol: String, Hashable, Sendable, CaseIterable {
        case ipv4, ipv6, arp

        /// `ether type` / `meta protocol`, from the catalog's `ether_type` names.
        public var etherType: UInt16 {
            let name = switch self {
            case .ipv4: "ip"
            case .ipv6: "ip6"
            case .arp: "arp"
            }
            return UInt16(Datatype.etherType.number(named: name)!)
        }
    }

    /// Conntrack's view of the packet (`ct state`).
    public enum ConnectionState: String, Hashable, Sendable, CaseIterable {
        case new, established, related, invalid, untracked

        /// The bit `ct state` loads, from the catalog's `ct_state` names.
        public var bit: UInt32 { UInt32(Datatype.ctState.number(named: rawValue)!) }
    }

    /// TCP header flags (`tcp flags`).
    public struct TCPFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        private init(named name: String) { rawValue = UInt8(Datatype.tcpFlags.number(named: name)!) }

        public static let fin = TCPFlags(named: "fin")
        public static let syn = TCPFlags(named: "syn")
        public static let rst = TCPFlags(named: "rst")
        public static let psh = TCPFlags(named: "psh")
        public static let ack = TCPFlags(named: "ack")
        public static let urg = TCPFlags(named: "urg")
        public static let ecn = TCPFlags(named: "ecn")
        public static let cwr = TCPFlags(named: "cwr")

        /// The catalog's `tcp_flag` names, in bit order.
        static let names: [(String, TCPFlags)] = Datatype.tcpFlags.symbols.pairs.map { ($0.name, TCPFlags(rawValue: UInt8($0.value))) }

        /// Flags by nft's names (`syn`, `ack` …); `nil` if a name is unknown.
        public init?(names: [String]) {
            var flags = TCPFlags()
            for name in names {
                guard let flag = Self.names.first(where: { $0.0 == name })?.1 else { return nil }
                flags.insert(flag)
            }
            self = flags
        }

        /// nft's spelling: `syn,ack`.
        public var description: String { Self.names.filter { contains($0.1) }.map(\.0).joined(separator: ",") }
    }

    /// Input interface (`iifname`); for a bridged packet, the bridge port it arrived on.
    public var iifname: String?
    /// Output interface (`oifname`).
    public var oifname: String?
    /// The bridge the input port belongs to (`meta ibrname`), for bridged packets.
    public var ibrname: String?
    /// The bridge the output port belongs to (`meta obrname`).
    public var obrname: String?
    public var etherSource: MACAddress?
    public var etherDestination: MACAddress?
    /// IPv4, IPv6 or ARP; `nil` for other ether types.
    public var network: NetworkProtocol?
    /// Source address: the IP source, or for ARP the sender protocol address.
    public var saddr: IPAddress?
    /// Destination address: the IP destination, or for ARP the target protocol address.
    public var daddr: IPAddress?
    /// Transport protocol (`meta l4proto`), for IP packets.
    public var l4proto: IPProtocolName?
    public var sport: UInt16?
    public var dport: UInt16?
    public var icmpType: UInt8?
    public var icmpCode: UInt8?
    public var tcpFlags: TCPFlags
    public var ctState: ConnectionState
    public var mark: UInt32

    /// A packet with the given fields. `network` defaults to the family of `saddr` (or `daddr`).
    public init(
        iifname: String? = nil, oifname: String? = nil, ibrname: String? = nil, obrname: String? = nil,
        etherSource: MACAddress? = nil, etherDestination: MACAddress? = nil,
        network: NetworkProtocol? = nil, saddr: IPAddress? = nil, daddr: IPAddress? = nil,
        l4proto: IPProtocolName? = nil, sport: UInt16? = nil, dport: UInt16? = nil,
        icmpType: UInt8? = nil, icmpCode: UInt8? = nil, tcpFlags: TCPFlags = [],
        ctState: ConnectionState = .new, mark: UInt32 = 0
    ) {
        self.iifname = iifname
        self.oifname = oifname
        self.ibrname = ibrname
        self.obrname = obrname
        self.etherSource = etherSource
        self.etherDestination = etherDestination
        self.network = network ?? (saddr ?? daddr).map { $0.family == .ipv4 ? .ipv4 : .ipv6 }
        self.saddr = saddr
        self.daddr = daddr
        self.l4proto = l4proto
        self.sport = sport
        self.dport = dport
        self.icmpType = icmpType
        self.icmpCode = icmpCode
        self.tcpFlags = tcpFlags
        self.ctState = ctState
        self.mark = mark
    }

    /// 4 or 6 for IP packets.
    public var ipVersion: Int? {
        switch network {
        case .ipv4: 4
        case .ipv6: 6
        case .arp, nil: nil
        }
    }

    /// `meta pkttype`: 0 host, 1 broadcast, 2 multicast, from the destination MAC address.
    public var packetType: UInt8 {
        guard let destination = etherDestination else { return 0 }
        if destination.octets.allSatisfy({ $0 == 0xff }) { return 1 }
        return destination.isMulticast ? 2 : 0
    }

    public var description: String {
        var parts: [String] = []
        if let iifname { parts.append("iif \(iifname)") }
        if let oifname { parts.append("oif \(oifname)") }
        if let ibrname { parts.append("ibr \(ibrname)") }
        if let obrname { parts.append("obr \(obrname)") }
        if let etherSource { parts.append("ether \(etherSource)" + (etherDestination.map { " > \($0)" } ?? "")) }
        let proto = l4proto.map { $0 == .icmpv6 ? "icmpv6" : $0.description } ?? network?.rawValue ?? "non-ip"
        var flow = proto
        if let saddr { flow += " \(saddr)" + (sport.map { ":\($0)" } ?? "") }
        if let daddr { flow += " > \(daddr)" + (dport.map { ":\($0)" } ?? "") }
        if let icmpType { flow += " type \(icmpType)" }
        if !tcpFlags.isEmpty { flow += " [\(tcpFlags)]" }
        parts.append(flow)
        parts.append("ct \(ctState.rawValue)")
        if mark != 0 { parts.append("mark \(mark)") }
        return parts.joined(separator: ", ")
    }
}
