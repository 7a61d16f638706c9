import SDNModel
import SDNNFTables
import SDNTesting

/// Hand-built rulesets covering every IR form the netlink encoder supports, written the canonical way
/// (the form `observe` returns), so each one round-trips exactly.
enum NetlinkFixtures {
    struct Fixture: Sendable, CustomStringConvertible {
        var name: String
        var ruleset: Ruleset
        var description: String { name }
    }

    static let all: [Fixture] = [
        Fixture(name: "inet-filter", ruleset: Ruleset(tables: [inetFilter])),
        Fixture(name: "inet-sets", ruleset: Ruleset(tables: [inetSets])),
        Fixture(name: "inet-nat", ruleset: Ruleset(tables: [inetNAT])),
        Fixture(name: "bridge", ruleset: Ruleset(tables: [bridge])),
        Fixture(name: "ip-and-ip6", ruleset: Ruleset(tables: [ipFamily, ip6Family])),
        Fixture(name: "netdev-and-arp", ruleset: Ruleset(tables: [netdev, arp])),
    ]

    /// IR that nft encodes exactly like another, canonical form; `observe` returns the canonical one.
    struct Rewrite: Sendable, CustomStringConvertible {
        var name: String
        var family: TableFamily
        var written: [Statement]
        var canonical: [Statement]
        var description: String { name }
    }

    static let rewrites: [Rewrite] = [
        Rewrite(name: "explicit dependency", family: .inet,
                written: [match(.meta(.nfproto), .symbol(named: "ipv4")), match(.payload(.ipSaddr), address("10.0.0.1")), accept],
                canonical: [match(.payload(.ipSaddr), address("10.0.0.1")), accept]),
        Rewrite(name: "one-element set", family: .inet,
                written: [match(.payload(.tcpDport), set: [.integer(22)]), accept],
                canonical: [match(.payload(.tcpDport), .integer(22)), accept]),
        Rewrite(name: "adjacent intervals merge", family: .inet,
                written: [match(.payload(.tcpDport), set: [.integer(22), .integer(23), .range(.integer(80), .integer(90))]), accept],
                canonical: [match(.payload(.tcpDport), set: [.range(.integer(22), .integer(23)), .range(.integer(80), .integer(90))]), accept]),
        Rewrite(name: "unsorted set", family: .inet,
                written: [match(.payload(.tcpDport), set: [.integer(443), .integer(22)]), accept],
                canonical: [match(.payload(.tcpDport), set: [.integer(22), .integer(443)]), accept]),
        Rewrite(name: "bare tcp reset gets its dependency", family: .ip,
                written: [.reject(.tcpReset)],
                canonical: [match(.meta(.l4proto), .symbol(named: "tcp")), .reject(.tcpReset)]),
        Rewrite(name: "host prefix", family: .inet,
                written: [match(.payload(.ipSaddr), prefix("10.0.0.1/32")), accept],
                canonical: [match(.payload(.ipSaddr), address("10.0.0.1")), accept]),
        Rewrite(name: "log level defaults to warn", family: .inet,
                written: [.log(prefix: "x", level: nil)],
                canonical: [.log(prefix: "x", level: .warning)]),
        Rewrite(name: "implicit equality", family: .inet,
                written: [.match(.meta(.iifname), .implicit, .value(.string("lo"))), accept],
                canonical: [match(.meta(.iifname), .string("lo")), accept]),
        Rewrite(name: "single flag as symbol", family: .inet,
                written: [.match(.ct(.state), .implicit, .value(.symbol(named: "established"))), accept],
                canonical: [.match(.ct(.state), .implicit, .value(.flags(["established"]))), accept]),
        Rewrite(name: "merged ports come back in offset order", family: .inet,
                written: [match(.payload(.udpDport), .integer(53)), match(.payload(.udpSport), .integer(5353)), accept],
                canonical: [match(.payload(.udpSport), .integer(5353)), match(.payload(.udpDport), .integer(53)), accept]),
    ]

    // MARK: - Builders

    static func address(_ text: String) -> Value { .address(try! IPAddress(text)) }
    static func prefix(_ text: String) -> Value { .prefix(try! IPPrefix(text)) }
    static func mac(_ text: String) -> Value { .ether(try! MACAddress(text)) }
    static func match(_ left: Expression, _ right: Value, _ op: MatchOperator = .equal) -> Statement { .match(left, op, .value(right)) }
    static func match(_ left: Expression, set values: [Value], _ op: MatchOperator = .equal) -> Statement { .match(left, op, .set(values)) }
    static func match(_ left: Expression, reference: String, _ op: MatchOperator = .equal) -> Statement { .match(left, op, .setReference(reference)) }
    static func rule(_ id: String, _ statements: Statement...) -> Rule { Rule(id: id, statements: statements) }
    static let accept = Statement.verdict(.accept)
    static let drop = Statement.verdict(.drop)

    // MARK: - inet: matches, statements, verdicts

    static let inetFilter = Table(family: .inet, name: "sdn", chains: [
        Chain(name: "input", base: BaseChain(type: .filter, hook: .input, priority: 0, policy: .drop), rules: [
            rule("ct", .match(.ct(.state), .implicit, .value(.flags(["established", "related"]))), accept),
            rule("ct-invalid", .match(.ct(.state), .implicit, .value(.flags(["invalid"]))), .counter, drop),
            rule("ct-eq", match(.ct(.state), .flags(["new"])), .counter),
            rule("ct-neq", match(.ct(.state), .flags(["established", "related"]), .notEqual), .counter),
            rule("ct-set", match(.ct(.state), set: [.symbol(named: "established"), .symbol(named: "new")]), accept),
            rule("lo", match(.meta(.iifname), .string("lo")), accept),
            rule("tap-wildcard", match(.meta(.iifname), .string("tap*")), .counter),
            rule("veth-wildcard-neq", match(.meta(.oifname), .string("veth*"), .notEqual), .counter),
            rule("ifname-neq", match(.meta(.iifname), .string("eth0"), .notEqual), .counter),
            rule("ifname-set", match(.meta(.oifname), set: [.string("eth0"), .string("eth1")]), accept),
            rule("l4proto", match(.meta(.l4proto), .symbol(named: "gre")), accept),
            rule("l4proto-number", match(.meta(.l4proto), .integer(253)), accept),
            rule("l4proto-set", match(.meta(.l4proto), set: [.symbol(named: "tcp"), .symbol(named: "udp")]), .counter),
            rule("nfproto", match(.meta(.nfproto), .symbol(named: "ipv6")), .counter),
            rule("protocol", match(.meta(.protocol), .symbol(named: "ip")), .counter),
            rule("pkttype", match(.meta(.pkttype), .symbol(named: "broadcast")), drop),
            rule("pkttype-set", match(.meta(.pkttype), set: [.symbol(named: "broadcast"), .symbol(named: "multicast")]), drop),
            rule("saddr", match(.payload(.ipSaddr), address("10.0.0.1")), accept),
            rule("saddr-prefix-port", match(.payload(.ipSaddr), prefix("10.0.0.0/8")), match(.payload(.tcpDport), .integer(22)), .counter, accept),
            rule("saddr-odd-prefix", match(.payload(.ipSaddr), prefix("10.16.0.0/12")), drop),
            rule("saddr-range", match(.payload(.ipSaddr), .range(address("10.0.0.1"), address("10.0.0.5"))), accept),
            rule("saddr-neq-prefix", match(.payload(.ipSaddr), prefix("10.0.0.0/8"), .notEqual), drop),
            rule("saddr-neq-odd-prefix", match(.payload(.ipSaddr), prefix("172.16.0.0/12"), .notEqual), drop),
            rule("saddr-neq-range", match(.payload(.ipSaddr), .range(address("10.0.0.1"), address("10.0.0.5")), .notEqual), drop),
            rule("addresses", match(.payload(.ipSaddr), address("10.0.0.1")), match(.payload(.ipDaddr), address("10.0.0.2")), accept),
            rule("saddr-set", match(.payload(.ipSaddr), set: [address("10.0.0.1"), address("10.0.0.9")]), accept),
            rule("saddr-interval-set", match(.payload(.ipSaddr), set: [address("10.0.0.1"), prefix("10.0.1.0/24"), .range(address("192.168.0.10"), address("192.168.0.20"))]), accept),
            rule("daddr-neq-set", match(.payload(.ipDaddr), set: [prefix("10.0.0.0/8"), prefix("192.168.0.0/16")], .notEqual), drop),
            rule("ip6", match(.payload(.ip6Saddr), prefix("fd00::/64")), match(.payload(.udpDport), set: [.integer(53), .range(.integer(67), .integer(68))]), accept),
            rule("ip6-daddr", match(.payload(.ip6Daddr), address("fd00::1")), accept),
            rule("ip6-odd-prefix", match(.payload(.ip6Daddr), prefix("fc00::/7")), accept),
            rule("ip6-range", match(.payload(.ip6Saddr), .range(address("fd00::1"), address("fd00::5"))), accept),
            rule("ports", match(.payload(.tcpDport), set: [.integer(22), .integer(80), .integer(443)]), accept),
            rule("port-neq", match(.payload(.tcpDport), .integer(22), .notEqual), drop),
            rule("port-range", match(.payload(.tcpDport), .range(.integer(1024), .integer(65535))), accept),
            rule("port-neq-range", match(.payload(.tcpDport), .range(.integer(1), .integer(1023)), .notEqual), drop),
            rule("port-neq-set", match(.payload(.udpSport), set: [.integer(1), .integer(2)], .notEqual), drop),
            rule("ports-open-interval", match(.payload(.tcpDport), set: [.integer(22), .range(.integer(1024), .integer(65535))]), accept),
            rule("port-less", match(.payload(.tcpDport), .integer(1024), .lessThan), .counter),
            rule("ip6-set", match(.payload(.ip6Saddr), set: [prefix("fd00::/64"), prefix("fe80::/10")]), accept),
            rule("ether-set", match(.payload(.etherSaddr), set: [mac("52:54:00:00:00:01"), mac("52:54:00:00:00:02")]), accept),
            rule("ifname-neq-set", match(.meta(.iifname), set: [.string("eth0"), .string("lo")], .notEqual), .counter),
            rule("ports-merged", match(.payload(.udpSport), .integer(53)), match(.payload(.udpDport), .integer(53)), accept),
            rule("sctp", match(.payload(.sctpDport), .integer(9)), accept),
            rule("dccp", match(.payload(.dccpSport), .integer(5)), accept),
            rule("icmp", match(.payload(.icmpType), .symbol(named: "echo-request")), .limit(rate: 5, per: "second", burst: 10), accept),
            rule("icmp-set", match(.payload(.icmpType), set: [.symbol(named: "echo-reply"), .symbol(named: "echo-request")]), accept),
            rule("icmp-explicit-l4proto", match(.meta(.l4proto), .symbol(named: "icmp")), match(.payload(.icmpType), .symbol(named: "echo-request")), accept),
            rule("icmp-after-saddr", match(.payload(.ipSaddr), prefix("10.0.0.0/8")), match(.payload(.icmpType), .symbol(named: "destination-unreachable")), accept),
            rule("icmpv6", match(.payload(.icmpv6Type), set: [.symbol(named: "nd-neighbor-solicit"), .symbol(named: "nd-router-advert")]), accept),
            rule("tcpflags-masked", match(.bitwiseAnd(.payload(.tcpFlags), .value(.flags(["fin", "syn"]))), .flags(["fin", "syn"])), drop),
            rule("tcpflags-zero", match(.bitwiseAnd(.payload(.tcpFlags), .value(.flags(["fin", "syn", "rst", "ack"]))), .integer(0)), drop),
            rule("tcpflags-test", .match(.payload(.tcpFlags), .implicit, .value(.flags(["syn"]))), .counter),
            rule("tcpflags-eq", match(.payload(.tcpFlags), .flags(["syn"])), .counter),
            rule("ether", match(.payload(.etherSaddr), mac("52:54:00:12:34:56")), accept),
            rule("ether-then-ip", match(.payload(.etherSaddr), mac("52:54:00:12:34:56")), match(.payload(.ipSaddr), address("10.0.0.5")), accept),
            rule("log", .limit(rate: 1, per: "minute", burst: 5), .log(prefix: "sdn drop: ", level: .info), drop),
            rule("log-warn", .log(prefix: nil, level: .warning)),
            rule("log-emerg", .log(prefix: "x", level: .emerg), .counter),
            rule("limit-hour", .limit(rate: 3, per: "hour", burst: 1), accept),
            rule("reject", .reject(.default)),
            rule("reject-ip", match(.payload(.ipSaddr), address("192.0.2.1")), .reject(.default)),
            rule("reject-ip6", match(.payload(.ip6Saddr), address("2001:db8::1")), .reject(.default)),
            rule("reject-icmpx", .counter, .reject(.icmpx("admin-prohibited"))),
            rule("reject-icmpx-port-ip", match(.payload(.ipSaddr), address("192.0.2.2")), .reject(.icmpx("port-unreachable"))),
            rule("reject-tcp", match(.meta(.l4proto), .symbol(named: "tcp")), .counter, .reject(.tcpReset)),
            rule("reject-tcp-port", match(.payload(.tcpDport), .integer(25)), .reject(.tcpReset)),
            rule("jump", match(.meta(.iifname), .string("tap100i0")), .verdict(.jump("guest-100"))),
            rule("goto", match(.meta(.iifname), .string("tap101i0")), .verdict(.goto("guest-100"))),
            rule("counter-only", .counter),
        ]),
        Chain(name: "guest-100", rules: [
            rule("g/return", match(.meta(.l4proto), .symbol(named: "udp")), .verdict(.return)),
            rule("g/continue", .counter, .verdict(.continue)),
            rule("g/accept", accept),
        ]),
        Chain(name: "empty"),
    ])

    // MARK: - inet: named sets, maps, concatenations

    static let inetSets = Table(family: .inet, name: "sdn", sets: [
        NamedSet(name: "ipset4", keyType: [.ipv4Address], flags: [.interval], elements: [
            SetElement(key: [prefix("10.0.0.0/24")]), SetElement(key: [prefix("10.0.1.0/24")]),
            SetElement(key: [.range(address("172.16.0.1"), address("172.16.0.9"))]), SetElement(key: [address("192.168.1.1")]),
            SetElement(key: [prefix("255.255.255.0/24")]),
        ]),
        NamedSet(name: "ipset4-from-zero", keyType: [.ipv4Address], flags: [.interval], elements: [
            SetElement(key: [prefix("0.0.0.0/8")]), SetElement(key: [address("10.9.9.9")]),
        ]),
        NamedSet(name: "ipset6", keyType: [.ipv6Address], flags: [.interval], elements: [
            SetElement(key: [address("2001:db8::1")]), SetElement(key: [prefix("fd00::/64")]),
        ]),
        NamedSet(name: "hosts", keyType: [.ipv4Address], elements: [SetElement(key: [address("10.0.0.1")]), SetElement(key: [address("10.0.0.2")])]),
        NamedSet(name: "empty6", keyType: [.ipv6Address], flags: [.interval]),
        NamedSet(name: "ifs", keyType: [.interfaceName], elements: [SetElement(key: [.string("tap100i0")]), SetElement(key: [.string("veth1")])]),
        NamedSet(name: "ports", keyType: [.inetService], flags: [.interval, .constant], elements: [
            SetElement(key: [.integer(22)]), SetElement(key: [.range(.integer(80), .integer(90))]), SetElement(key: [.integer(65535)]),
        ]),
        NamedSet(name: "marks", keyType: [.mark], elements: [SetElement(key: [.integer(1)]), SetElement(key: [.integer(0x10)])]),
        NamedSet(name: "protos", keyType: [.inetProtocol], elements: [SetElement(key: [.symbol(named: "tcp")]), SetElement(key: [.symbol(named: "udp")])]),
        NamedSet(name: "macs", keyType: [.etherAddress], elements: [SetElement(key: [mac("52:54:00:00:00:01")])]),
        NamedSet(name: "ndp", keyType: [.icmpv6Type], elements: [SetElement(key: [.symbol(named: "nd-redirect")]), SetElement(key: [.symbol(named: "nd-router-advert")])]),
        NamedSet(name: "ethertypes", keyType: [.etherType], elements: [SetElement(key: [.symbol(named: "arp")]), SetElement(key: [.symbol(named: "ip")])]),
        NamedSet(name: "spoof", keyType: [.interfaceName, .etherAddress, .ipv4Address], elements: [
            SetElement(key: [.string("tap100i0"), mac("52:54:00:12:34:56"), address("10.0.0.5")]),
            SetElement(key: [.string("tap101i0"), mac("52:54:00:12:34:57"), address("10.0.0.6")]),
        ]),
        NamedSet(name: "spoof-ranges", keyType: [.interfaceName, .etherAddress, .ipv4Address], flags: [.interval], elements: [
            SetElement(key: [.string("tap100i0"), mac("52:54:00:12:34:56"), prefix("10.0.0.0/24")]),
        ]),
        NamedSet(name: "spoof6", keyType: [.interfaceName, .etherAddress, .ipv6Address], elements: [
            SetElement(key: [.string("tap100i0"), mac("52:54:00:12:34:56"), address("fe80::5054:ff:fe12:3456")]),
        ]),
        NamedSet(name: "guest-out", keyType: [.interfaceName], data: .verdict, elements: [
            SetElement(key: [.string("tap100i0")], data: .verdict(.jump("guest-100"))),
            SetElement(key: [.string("tap101i0")], data: .verdict(.goto("guest-100"))),
            SetElement(key: [.string("tap102i0")], data: .verdict(.drop)),
        ]),
        NamedSet(name: "guest-pair", keyType: [.interfaceName, .interfaceName], data: .verdict, elements: [
            SetElement(key: [.string("tap100i0"), .string("tap101i0")], data: .verdict(.accept)),
        ]),
        NamedSet(name: "timeouts", keyType: [.ipv4Address], flags: [.timeout]),
    ], chains: [
        Chain(name: "forward", base: BaseChain(type: .filter, hook: .forward, priority: -10, policy: .accept), rules: [
            rule("vmap", .verdict(.continue)),
            rule("vmap-out", .vmap(.meta(.iifname), map: "guest-out")),
            rule("vmap-pair", .vmap(.concat([.meta(.iifname), .meta(.oifname)]), map: "guest-pair")),
            rule("spoof", .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.ipSaddr)]), .notEqual, .setReference("spoof")), drop),
            rule("spoof-ok", .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.ipSaddr)]), .equal, .setReference("spoof-ranges")), accept),
            rule("spoof6", .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.ip6Saddr)]), .notEqual, .setReference("spoof6")), drop),
            rule("ipset", match(.payload(.ipSaddr), reference: "ipset4"), accept),
            rule("ipset-neq", match(.payload(.ipDaddr), reference: "ipset4", .notEqual), drop),
            rule("ipset6", match(.payload(.ip6Saddr), reference: "ipset6"), match(.payload(.tcpDport), reference: "ports"), accept),
            rule("ifs", match(.meta(.iifname), reference: "ifs"), match(.payload(.ipSaddr), reference: "hosts"), accept),
            rule("protos", match(.meta(.l4proto), reference: "protos"), accept),
            rule("macs", match(.payload(.etherSaddr), reference: "macs"), accept),
            rule("ndp", match(.payload(.icmpv6Type), reference: "ndp"), drop),
            rule("ethertypes", match(.meta(.protocol), reference: "ethertypes"), accept),
        ]),
        Chain(name: "guest-100", rules: [rule("g100/accept", accept)]),
    ])

    // MARK: - inet: NAT

    static let inetNAT = Table(family: .inet, name: "nat", chains: [
        Chain(name: "post", base: BaseChain(type: .nat, hook: .postrouting, priority: 100), rules: [
            rule("masq", match(.meta(.oifname), .string("eth0")), match(.payload(.ipSaddr), prefix("10.0.0.0/24")), .masquerade),
            rule("snat", match(.payload(.ipSaddr), prefix("10.1.0.0/24")), .snat(to: address("192.0.2.1"))),
            rule("snat-range", match(.payload(.ipSaddr), prefix("10.2.0.0/24")), .snat(to: .range(address("192.0.2.10"), address("192.0.2.20")))),
            rule("snat6", match(.payload(.ip6Saddr), prefix("fd00::/64")), .snat(to: address("2001:db8::1"))),
        ]),
        Chain(name: "pre", base: BaseChain(type: .nat, hook: .prerouting, priority: -100), rules: [
            rule("dnat-port", match(.payload(.tcpDport), .integer(80)), .dnat(to: address("10.0.0.5"), port: 8080)),
            rule("dnat", match(.payload(.ipDaddr), address("192.0.2.5")), .dnat(to: address("10.0.0.6"), port: nil)),
            rule("dnat6-port", match(.payload(.ip6Daddr), address("2001:db8::5")), match(.payload(.tcpDport), .integer(443)), .dnat(to: address("fd00::5"), port: 8443)),
        ]),
    ])

    // MARK: - bridge

    static let bridge = Table(family: .bridge, name: "sdn", sets: [
        NamedSet(name: "spoof", keyType: [.interfaceName, .etherAddress, .ipv4Address], elements: [
            SetElement(key: [.string("tap100i0"), mac("52:54:00:12:34:56"), address("10.0.0.5")]),
        ]),
        NamedSet(name: "guest-in", keyType: [.interfaceName], data: .verdict, elements: [
            SetElement(key: [.string("tap100i0")], data: .verdict(.jump("guest-100-in"))),
        ]),
    ], chains: [
        Chain(name: "forward", base: BaseChain(type: .filter, hook: .forward, priority: 0, policy: .accept), rules: [
            // No `ct state` here: bridge conntrack (nf_conntrack_bridge) is missing from this sandbox's
            // kernel, which refuses it with EPROTO.
            rule("ip", match(.payload(.ipSaddr), address("10.0.0.1")), accept),
            rule("ip6", match(.payload(.ip6Saddr), prefix("fd00::/64")), accept),
            rule("tcp", match(.payload(.tcpDport), .integer(22)), accept),
            rule("ip-tcp", match(.payload(.ipSaddr), address("10.0.0.1")), match(.payload(.tcpDport), .integer(22)), accept),
            rule("icmp", match(.payload(.icmpType), .symbol(named: "echo-request")), accept),
            rule("icmp-after-ip", match(.payload(.ipSaddr), address("10.0.0.1")), match(.payload(.icmpType), .symbol(named: "echo-request")), accept),
            rule("icmpv6", match(.payload(.icmpv6Type), set: [.symbol(named: "nd-neighbor-advert"), .symbol(named: "nd-neighbor-solicit")]), accept),
            rule("ether", match(.payload(.etherSaddr), mac("52:54:00:00:00:01")), accept),
            rule("ether-pair", match(.payload(.etherDaddr), mac("ff:ff:ff:ff:ff:ff")), match(.payload(.etherSaddr), mac("52:54:00:00:00:01")), accept),
            rule("ether-ip", match(.payload(.etherSaddr), mac("52:54:00:00:00:01")), match(.payload(.ipSaddr), address("10.0.0.1")), accept),
            rule("ether-icmp", match(.payload(.etherSaddr), mac("52:54:00:00:00:01")), match(.payload(.icmpType), .symbol(named: "echo-reply")), accept),
            rule("ether-type", match(.payload(.etherType), .symbol(named: "ip6")), match(.payload(.ip6Saddr), address("fe80::1")), accept),
            rule("arp-op", match(.payload(.arpOperation), .symbol(named: "request")), accept),
            rule("arp-saddr", match(.payload(.arpSaddrIP), address("10.0.0.5")), match(.payload(.arpOperation), .symbol(named: "reply")), accept),
            rule("protocol-arp", match(.meta(.protocol), .symbol(named: "arp")), .counter),
            rule("l4proto", match(.meta(.l4proto), .symbol(named: "udp")), .counter),
            rule("pkttype", match(.meta(.pkttype), .symbol(named: "multicast")), drop),
            rule("spoof", .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.ipSaddr)]), .notEqual, .setReference("spoof")), drop),
            rule("vmap", .vmap(.meta(.oifname), map: "guest-in")),
        ]),
        Chain(name: "guest-100-in", rules: [rule("g/in", match(.payload(.tcpDport), set: [.integer(22), .integer(80)]), accept), rule("g/drop", drop)]),
    ])

    // MARK: - ip and ip6

    static let ipFamily = Table(family: .ip, name: "sdn4", chains: [
        Chain(name: "input", base: BaseChain(type: .filter, hook: .input, priority: 10, policy: .accept), rules: [
            rule("saddr", match(.payload(.ipSaddr), prefix("10.0.0.0/8")), match(.payload(.tcpDport), .integer(22)), accept),
            rule("icmp", match(.payload(.icmpType), .symbol(named: "echo-request")), accept),
            rule("ether", match(.payload(.etherSaddr), mac("52:54:00:00:00:01")), accept),
            rule("ports", match(.payload(.tcpSport), .integer(1024)), match(.payload(.tcpDport), .integer(22)), accept),
            rule("reject", match(.payload(.udpDport), .integer(9)), .reject(.default)),
            rule("reset", match(.meta(.l4proto), .symbol(named: "tcp")), .reject(.tcpReset)),
        ]),
        Chain(name: "post", base: BaseChain(type: .nat, hook: .postrouting, priority: 100), rules: [
            rule("snat", match(.meta(.oifname), .string("eth0")), .snat(to: address("192.0.2.1"))),
            rule("masq", .masquerade),
        ]),
        Chain(name: "pre", base: BaseChain(type: .nat, hook: .prerouting, priority: -100), rules: [
            rule("dnat", match(.payload(.tcpDport), .integer(80)), .dnat(to: address("10.0.0.5"), port: 8080)),
        ]),
    ])

    static let ip6Family = Table(family: .ip6, name: "sdn6", chains: [
        Chain(name: "input", base: BaseChain(type: .filter, hook: .input, priority: 0, policy: .accept), rules: [
            rule("saddr", match(.payload(.ip6Saddr), prefix("fd00::/8")), match(.payload(.udpDport), .integer(53)), accept),
            rule("icmpv6", match(.payload(.icmpv6Type), .symbol(named: "echo-request")), accept),
            rule("reject", .reject(.default)),
        ]),
        Chain(name: "pre", base: BaseChain(type: .nat, hook: .prerouting, priority: -100), rules: [
            rule("dnat", match(.payload(.tcpDport), .integer(80)), .dnat(to: address("fd00::5"), port: 8080)),
        ]),
    ])

    // MARK: - netdev and arp

    static let netdev = Table(family: .netdev, name: "sdn-dev", chains: [
        Chain(name: "filter", rules: [
            rule("ip", match(.payload(.ipSaddr), address("10.0.0.1")), accept),
            rule("ether", match(.payload(.etherSaddr), mac("52:54:00:00:00:01")), drop),
            rule("tcp", match(.payload(.tcpDport), .integer(22)), accept),
        ]),
    ])

    static let arp = Table(family: .arp, name: "sdn-arp", chains: [
        Chain(name: "input", base: BaseChain(type: .filter, hook: .input, priority: 0, policy: .accept), rules: [
            rule("op", match(.payload(.arpOperation), .symbol(named: "request")), accept),
            rule("saddr", match(.payload(.arpSaddrIP), address("10.0.0.1")), .counter, accept),
        ]),
    ])
}
