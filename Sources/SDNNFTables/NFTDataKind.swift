import SDNModel

/// What kind of data an expression yields (nft's datatype of it), which decides how a constant
/// compared with it is written and read: `"eth0"` is an interface name after `iifname` but a symbol
/// after `meta l4proto`, `8` is a port after `tcp dport` but a type after `icmp type`.
enum NFTDataKind: Hashable, Sendable {
    case interfaceName
    case ipv4Address
    case ipv6Address
    case etherAddress
    case inetProtocol
    case inetService
    case icmpType
    case icmpv6Type
    case icmpCode
    case icmpv6Code
    case ctState
    case ctStatus
    case tcpFlags
    case nfproto
    case etherType
    case packetType
    case arpOperation
    case mark
    case verdict
    /// Anything else nft prints: names as symbols, numbers as integers.
    case other

    /// Flag types: a list of names means "any of these bits" (`ct state established,related`).
    var isBitmask: Bool { self == .ctState || self == .ctStatus || self == .tcpFlags }

    var isAddress: Bool { self == .ipv4Address || self == .ipv6Address }

    init(_ type: SetKeyType) {
        switch type {
        case .ipv4Address: self = .ipv4Address
        case .ipv6Address: self = .ipv6Address
        case .etherAddress: self = .etherAddress
        case .interfaceName: self = .interfaceName
        case .inetProtocol: self = .inetProtocol
        case .inetService: self = .inetService
        case .icmpv6Type: self = .icmpv6Type
        case .etherType: self = .etherType
        case .mark: self = .mark
        case .verdict: self = .verdict
        }
    }

    /// The kind of a packet field or key; `nil` for concatenations and constants.
    static func of(_ expression: Expression) -> NFTDataKind? {
        switch expression {
        case .payload(let proto, let field): return payload(proto, field)
        case .meta(let key): return meta(key)
        case .ct(let key): return ct(key)
        case .bitwiseAnd(let left, _): return of(left)
        case .value, .set, .setReference, .concat: return nil
        }
    }

    static func payload(_ proto: String, _ field: String) -> NFTDataKind {
        switch (proto, field) {
        case ("ether", "saddr"), ("ether", "daddr"), ("arp", "saddr ether"), ("arp", "daddr ether"): .etherAddress
        case ("ether", "type"), ("vlan", "type"): .etherType
        case ("ip", "saddr"), ("ip", "daddr"), ("arp", "saddr ip"), ("arp", "daddr ip"): .ipv4Address
        case ("ip6", "saddr"), ("ip6", "daddr"): .ipv6Address
        case ("ip", "protocol"), ("ip6", "nexthdr"): .inetProtocol
        case (_, "sport"), (_, "dport"): .inetService
        case ("tcp", "flags"): .tcpFlags
        case ("icmp", "type"): .icmpType
        case ("icmpv6", "type"): .icmpv6Type
        case ("icmp", "code"): .icmpCode
        case ("icmpv6", "code"): .icmpv6Code
        case ("arp", "operation"): .arpOperation
        default: .other
        }
    }

    static func meta(_ key: String) -> NFTDataKind {
        switch key {
        case "iifname", "oifname", "ibrname", "obrname", "ibriport", "obriport", "iif", "oif": .interfaceName
        case "l4proto": .inetProtocol
        case "protocol": .etherType
        case "nfproto": .nfproto
        case "pkttype": .packetType
        case "mark": .mark
        default: .other
        }
    }

    static func ct(_ key: String) -> NFTDataKind {
        switch key {
        case "state": .ctState
        case "status": .ctStatus
        case "mark": .mark
        case "protocol": .inetProtocol
        default: .other
        }
    }
}

/// nft's names for the numeric values of symbolic kinds (as `nft describe` lists them).
enum NFTSymbols {
    static let ctState: [String: UInt128] = ["invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64]
    static let ctStatus: [String: UInt128] = [
        "expected": 1, "seen-reply": 2, "assured": 4, "confirmed": 8, "snat": 16, "dnat": 32, "dying": 512,
    ]
    static let tcpFlags: [String: UInt128] = ["fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "urg": 32, "ecn": 64, "cwr": 128]
    static let nfproto: [String: UInt128] = ["inet": 1, "ipv4": 2, "arp": 3, "netdev": 5, "bridge": 7, "ipv6": 10]
    static let etherType: [String: UInt128] = ["ip": 0x0800, "arp": 0x0806, "ip6": 0x86dd, "vlan": 0x8100, "8021ad": 0x88a8]
    static let packetType: [String: UInt128] = ["host": 0, "unicast": 0, "broadcast": 1, "multicast": 2, "other": 3]
    static let arpOperation: [String: UInt128] = [
        "request": 1, "reply": 2, "rrequest": 3, "rreply": 4, "inrequest": 8, "inreply": 9, "nak": 10,
    ]
    static let icmpCode: [String: UInt128] = [
        "net-unreachable": 0, "host-unreachable": 1, "prot-unreachable": 2, "port-unreachable": 3, "frag-needed": 4,
        "net-prohibited": 9, "host-prohibited": 10, "admin-prohibited": 13,
    ]
    static let icmpv6Code: [String: UInt128] = [
        "no-route": 0, "admin-prohibited": 1, "addr-unreachable": 3, "port-unreachable": 4, "policy-fail": 5, "reject-route": 6,
    ]

    /// The number behind a symbol of `kind`, or `nil` if nft has no such name.
    static func number(_ name: String, kind: NFTDataKind) -> UInt128? {
        switch kind {
        case .inetProtocol:
            if name == "ipencap" { return 4 }
            return IPProtocolName(name).map { UInt128($0.number) }
        case .icmpType: return ICMPType.ipv4[name].map { UInt128($0) }
        case .icmpv6Type: return ICMPType.ipv6[name].map { UInt128($0) }
        case .icmpCode: return icmpCode[name]
        case .icmpv6Code: return icmpv6Code[name]
        case .ctState: return ctState[name]
        case .ctStatus: return ctStatus[name]
        case .tcpFlags: return tcpFlags[name]
        case .nfproto: return nfproto[name]
        case .etherType: return etherType[name]
        case .packetType: return packetType[name]
        case .arpOperation: return arpOperation[name]
        default: return nil
        }
    }

    /// The flag names whose bits make up `bits`, in bit order, or `nil` if a bit has no name.
    static func flagNames(_ bits: UInt128, kind: NFTDataKind) -> [String]? {
        let table: [String: UInt128] = switch kind {
        case .ctState: ctState
        case .ctStatus: ctStatus
        case .tcpFlags: tcpFlags
        default: [:]
        }
        var names: [String] = []
        var remaining = bits
        for (name, bit) in table.sorted(by: { $0.value < $1.value }) where bits & bit != 0 {
            names.append(name)
            remaining &= ~bit
        }
        return remaining == 0 && !names.isEmpty ? names : nil
    }

    /// The payload protocol a transport protocol number stands for (`6` → `tcp`), where nft has one.
    static func transportHeader(_ number: UInt128) -> String? {
        [6: "tcp", 17: "udp", 136: "udplite", 132: "sctp", 33: "dccp", 1: "icmp", 58: "icmpv6", 50: "esp", 51: "ah", 108: "comp"][number]
    }

    /// The payload protocol a network protocol stands for (ether type `ip` → `ip`, nfproto `ipv6` → `ip6`).
    static func networkHeader(_ number: UInt128, kind: NFTDataKind) -> String? {
        switch kind {
        case .nfproto: [2: "ip", 10: "ip6"][number]
        case .etherType: [0x0800: "ip", 0x86dd: "ip6", 0x0806: "arp", 0x8100: "vlan"][number]
        default: nil
        }
    }
}
