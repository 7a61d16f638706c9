import SDNModel

/// nft's symbolic constants, by the names `nft` parses and prints, with their wire values.
///
/// Where nft accepts several names for one value, `names` lists the one `nft list` prints first;
/// the decoder prints that one.
enum NFTSymbols {
    /// A two-way table of symbols.
    struct Table: Sendable {
        let values: [String: UInt64]
        let names: [UInt64: String]

        init(_ pairs: KeyValuePairs<String, UInt64>) {
            var values: [String: UInt64] = [:]
            var names: [UInt64: String] = [:]
            for (name, value) in pairs {
                values[name] = value
                if names[value] == nil { names[value] = name }
            }
            self.values = values
            self.names = names
        }
    }

    /// IP protocol names as nft resolves them (through Debian's /etc/protocols): note that `ipip` is
    /// protocol 94 there, while protocol 4 prints as `ipencap`.
    static let ipProtocols = Table([
        "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "udp": 17, "dccp": 33, "gre": 47, "esp": 50, "ah": 51,
        "ipv6-icmp": 58, "icmpv6": 58, "ospf": 89, "ipip": 94, "vrrp": 112, "sctp": 132, "udplite": 136,
    ])

    static let nfProtocols = Table(["ipv4": 2, "ipv6": 10])

    static let etherTypes = Table(["ip": 0x0800, "arp": 0x0806, "ip6": 0x86dd, "vlan": 0x8100, "8021ad": 0x88a8])

    static let packetTypes = Table(["host": 0, "unicast": 0, "broadcast": 1, "multicast": 2, "other": 3])

    static let interfaceTypes = Table(["ether": 1, "ppp": 512, "ipip": 768, "ipip6": 769, "loopback": 772, "sit": 776, "ipgre": 778])

    static let icmpTypes = Table([
        "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8,
        "router-advertisement": 9, "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12,
        "timestamp-request": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16,
        "address-mask-request": 17, "address-mask-reply": 18,
    ])

    static let icmpv6Types = Table([
        "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
        "echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131,
        "mld-listener-done": 132, "mld-listener-reduction": 132, "nd-router-solicit": 133, "nd-router-advert": 134,
        "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137, "router-renumbering": 138,
        "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143,
    ])

    static let arpOperations = Table([
        "request": 1, "reply": 2, "rrequest": 3, "rreply": 4, "inrequest": 8, "inreply": 9, "nak": 10,
    ])

    /// Conntrack states: bits of `ct state`, in the order nft prints them.
    static let ctStates = Table(["invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64])

    static let tcpFlags = Table([
        "fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10, "urg": 0x20, "ecn": 0x40, "cwr": 0x80,
    ])

    /// `reject with icmpx <code>`.
    static let icmpxCodes = Table(["no-route": 0, "port-unreachable": 1, "host-unreachable": 2, "admin-prohibited": 3])

    /// `limit rate N/<unit>` in seconds.
    static let limitUnits = Table(["second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604_800])

    /// Syslog levels of the `log` statement (`warn` is nft's spelling of warning).
    static func logLevel(_ level: LogLevel) -> UInt32? {
        switch level {
        case .emerg: 0
        case .alert: 1
        case .crit: 2
        case .err: 3
        case .warning: 4
        case .notice: 5
        case .info: 6
        case .debug: 7
        case .nolog: nil
        }
    }

    static func logLevel(_ value: UInt32) -> LogLevel? {
        LogLevel.allCases.first { logLevel($0) == value }
    }
}
