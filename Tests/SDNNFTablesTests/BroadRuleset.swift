import SDNModel
import SDNNFTables
import SDNTesting

/// Shorthands for hand-built rulesets.
func address(_ text: String) -> Value { .address(try! IPAddress(text)) }
func prefix(_ text: String) -> Value { .prefix(try! IPPrefix(text)) }
func mac(_ text: String) -> Value { .ether(try! MACAddress(text)) }
func match(_ left: Expression, _ right: Value, _ op: MatchOperator = .equal) -> Statement { .match(left, op, .value(right)) }

/// A ruleset using every construct of the IR in the shapes the firewall compiler emits, all of them
/// loadable by nft 1.0.6 through `NFTTextRenderer` on this kernel (which has no conntrack, no reject
/// and no `meta ibrname` in bridge tables).
enum BroadRuleset {
    static let guestMAC = "52:54:00:12:34:56"

    static var inet: Table {
        Table(
            family: .inet, name: "sdn",
            sets: [
                NamedSet(name: "mgmt_v4", keyType: [.ipv4Address], flags: [.interval], elements: [
                    SetElement(key: [prefix("10.0.0.0/8")]),
                    SetElement(key: [address("192.168.1.1")]),
                    SetElement(key: [.range(address("172.16.0.1"), address("172.16.0.9"))]),
                ]),
                NamedSet(name: "mgmt_v6", keyType: [.ipv6Address], flags: [.interval, .constant], elements: [
                    SetElement(key: [prefix("fd00::/64")]),
                    SetElement(key: [address("fd01::1")]),
                ]),
                NamedSet(name: "ports", keyType: [.inetService], elements: [SetElement(key: [.integer(22)]), SetElement(key: [.integer(8006)])]),
                NamedSet(name: "protos", keyType: [.inetProtocol], elements: [SetElement(key: [.symbol(named: "tcp")]), SetElement(key: [.symbol(named: "udp")])]),
                NamedSet(name: "marks", keyType: [.mark], elements: [SetElement(key: [.integer(1)]), SetElement(key: [.integer(16)])]),
                NamedSet(name: "host_port", keyType: [.ipv4Address, .inetService], elements: [
                    SetElement(key: [address("10.0.0.5"), .integer(22)]),
                ]),
                NamedSet(name: "iface_in", keyType: [.interfaceName], data: .verdict, elements: [
                    SetElement(key: [.string("tap100i0")], data: .verdict(.jump("guest-100-in"))),
                    SetElement(key: [.string("tap101i0")], data: .verdict(.goto("guest-101-in"))),
                    SetElement(key: [.string("eth9")], data: .verdict(.drop)),
                    SetElement(key: [.string("eth8")], data: .verdict(.accept)),
                ]),
            ],
            chains: [
                Chain(name: "input", base: BaseChain(type: .filter, hook: .input, priority: 0, policy: .drop), rules: [
                    Rule(id: "node/lo", statements: [match(.meta(.iifname), .string("lo")), .verdict(.accept)]),
                    Rule(id: "node/ct", statements: [match(.ct(.state), .flags(["established", "related"]), .implicit), .verdict(.accept)]),
                    Rule(id: "node/ct-invalid", statements: [match(.ct(.state), .flags(["invalid"]), .implicit), .counter, .verdict(.drop)]),
                    Rule(id: "node/dispatch", statements: [.vmap(.meta(.iifname), map: "iface_in")]),
                    Rule(id: "node/mgmt-v4", statements: [
                        .match(.payload(.ipSaddr), .equal, .setReference("mgmt_v4")),
                        .match(.payload(.tcpDport), .equal, .set([.integer(22), .integer(8006)])), .counter, .verdict(.accept),
                    ]),
                    Rule(id: "node/mgmt-v6", statements: [
                        .match(.payload(.ip6Saddr), .equal, .setReference("mgmt_v6")),
                        .match(.payload(.tcpDport), .equal, .setReference("ports")), .verdict(.accept),
                    ]),
                    Rule(id: "node/ping", statements: [
                        match(.payload(.icmpType), .symbol(named: "echo-request")), .limit(rate: 10, per: "second", burst: 5), .verdict(.accept),
                    ]),
                    Rule(id: "node/ping-burst", statements: [
                        match(.payload(.icmpType), .symbol(named: "echo-reply")), .limit(rate: 3, per: "minute", burst: 20), .verdict(.accept),
                    ]),
                    Rule(id: "node/ndp", statements: [
                        .match(.payload(.icmpv6Type), .equal, .set([.symbol(named: "nd-neighbor-solicit"), .symbol(named: "nd-router-advert")])), .verdict(.accept),
                    ]),
                    Rule(id: "node/port-range", statements: [match(.payload(.tcpDport), .range(.integer(1000), .integer(2000))), .verdict(.accept)]),
                    Rule(id: "node/high-udp", statements: [match(.payload(.udpDport), .integer(1024), .greaterThan), .verdict(.accept)]),
                    Rule(id: "node/low-udp", statements: [match(.payload(.udpSport), .integer(10), .lessOrEqual), .verdict(.drop)]),
                    Rule(id: "node/nosmurfs", statements: [
                        .match(.payload(.ipSaddr), .equal, .set([prefix("224.0.0.0/4"), address("255.255.255.255")])), .counter, .verdict(.drop),
                    ]),
                    Rule(id: "node/host-port", statements: [
                        .match(.concat([.payload(.ipDaddr), .payload(.tcpDport)]), .equal, .setReference("host_port")), .verdict(.accept),
                    ]),
                    Rule(id: "node/proto-set", statements: [.match(.meta(.l4proto), .equal, .setReference("protos")), .counter]),
                    Rule(id: "node/mark-set", statements: [.match(.meta(.mark), .equal, .setReference("marks")), .verdict(.accept)]),
                    Rule(id: "node/log", statements: [.log(prefix: "sdn drop: ", level: .info)]),
                    Rule(id: "node/log-bare", statements: [.log(prefix: nil, level: nil), .counter]),
                    Rule(id: "node/log-warn", statements: [.log(prefix: "w: ", level: .warning)]),
                    Rule(id: "node/policy", statements: [.verdict(.jump("node-policy"))]),
                ]),
                Chain(name: "node-policy", rules: [
                    Rule(id: "tcpflags-0", statements: [
                        .match(.bitwiseAnd(.payload(.tcpFlags), .value(.flags(["fin", "syn"]))), .equal, .value(.flags(["fin", "syn"]))), .counter, .verdict(.drop),
                    ]),
                    Rule(id: "tcpflags-4", statements: [
                        .match(.bitwiseAnd(.payload(.tcpFlags), .value(.flags(["fin", "syn", "rst", "psh", "ack", "urg"]))), .equal, .value(.integer(0))), .counter, .verdict(.drop),
                    ]),
                    Rule(id: "syn-only", statements: [
                        .match(.bitwiseAnd(.payload(.tcpFlags), .value(.flags(["fin", "syn", "rst", "ack"]))), .equal, .value(.flags(["syn"]))), .verdict(.accept),
                    ]),
                    Rule(id: "syn-exact", statements: [match(.payload(.tcpFlags), .flags(["syn"])), .verdict(.accept)]),
                    Rule(id: "ct-exact", statements: [match(.ct(.state), .flags(["new"])), .verdict(.accept)]),
                    Rule(id: "mark", statements: [match(.meta(.mark), .integer(1)), .verdict(.accept)]),
                    Rule(id: "nfproto", statements: [match(.meta(.nfproto), .symbol(named: "ipv6")), match(.meta(.l4proto), .symbol(named: "ipv6-icmp")), .verdict(.accept)]),
                    Rule(id: "not-private", statements: [match(.payload(.ipSaddr), prefix("10.0.0.0/8"), .notEqual), .verdict(.drop)]),
                    Rule(id: "v6-prefix", statements: [match(.payload(.ip6Daddr), prefix("fd00:1::/48")), .verdict(.accept)]),
                    Rule(id: "addr-range", statements: [match(.payload(.ipDaddr), .range(address("10.9.0.10"), address("10.9.0.20"))), .verdict(.accept)]),
                    Rule(id: "wildcard", statements: [match(.meta(.iifname), .string("veth*")), .verdict(.continue)]),
                    Rule(id: "broadcast", statements: [match(.meta(.pkttype), .symbol(named: "broadcast")), .verdict(.drop)]),
                    Rule(id: "reject-tcp", statements: [match(.meta(.l4proto), .symbol(named: "tcp")), .reject(.tcpReset)]),
                    Rule(id: "reject-admin", statements: [match(.meta(.l4proto), .symbol(named: "udp")), .reject(.icmpx("admin-prohibited"))]),
                    Rule(id: "reject", statements: [.reject(.default)]),
                    Rule(id: "return", statements: [.verdict(.return)]),
                ]),
                Chain(name: "guest-100-in", rules: [
                    Rule(id: "guest-100/ssh", statements: [match(.payload(.tcpDport), .integer(22)), .counter, .verdict(.accept)]),
                    Rule(id: "guest-100/group", statements: [.verdict(.goto("group-web-in"))]),
                ]),
                Chain(name: "guest-101-in", rules: [
                    Rule(id: "guest-101/drop", statements: [.verdict(.drop)]),
                ]),
                Chain(name: "group-web-in", rules: [
                    Rule(id: "group-web/http", statements: [.match(.payload(.tcpDport), .equal, .set([.integer(80), .integer(443)])), .verdict(.accept)]),
                ]),
                Chain(name: "postrouting", base: BaseChain(type: .nat, hook: .postrouting, priority: 100), rules: [
                    Rule(id: "nat/masquerade", statements: [
                        match(.payload(.ipSaddr), prefix("10.0.0.0/24")), match(.meta(.oifname), .string("br0"), .notEqual), .masquerade,
                    ]),
                    Rule(id: "nat/snat", statements: [match(.payload(.ipSaddr), prefix("10.1.0.0/24")), .snat(to: address("192.0.2.1"))]),
                    Rule(id: "nat/snat-by-interface", statements: [match(.meta(.oifname), .string("eth1")), .snat(to: address("192.0.2.2"))]),
                ]),
                Chain(name: "prerouting", base: BaseChain(type: .nat, hook: .prerouting, priority: -100), rules: [
                    Rule(id: "nat/dnat", statements: [
                        match(.payload(.ipDaddr), address("192.0.2.1")), match(.payload(.tcpDport), .integer(80)),
                        .dnat(to: address("10.0.0.5"), port: 8080),
                    ]),
                    Rule(id: "nat/dnat6", statements: [match(.payload(.ip6Daddr), address("2001:db8::1")), .dnat(to: address("fd00::5"), port: nil)]),
                    Rule(id: "nat/dnat6-port", statements: [
                        match(.payload(.ip6Daddr), address("2001:db8::2")), match(.payload(.tcpDport), .integer(443)),
                        .dnat(to: address("fd00::6"), port: 8443),
                    ]),
                ]),
            ]
        )
    }

    static var bridge: Table {
        Table(
            family: .bridge, name: "sdn",
            sets: [
                NamedSet(name: "guest_ipv4", keyType: [.interfaceName, .etherAddress, .ipv4Address], flags: [.interval], elements: [
                    SetElement(key: [.string("tap100i0"), mac(guestMAC), address("10.0.0.5")]),
                    SetElement(key: [.string("tap100i0"), mac(guestMAC), prefix("10.1.0.0/24")]),
                ]),
                NamedSet(name: "guest_ipv6", keyType: [.interfaceName, .etherAddress, .ipv6Address], flags: [.interval], elements: [
                    SetElement(key: [.string("tap100i0"), mac(guestMAC), address("fe80::5054:ff:fe12:3456")]),
                ]),
                NamedSet(name: "guest_out", keyType: [.interfaceName], data: .verdict, elements: [
                    SetElement(key: [.string("tap100i0")], data: .verdict(.jump("guest-100-net0-out"))),
                ]),
            ],
            chains: [
                Chain(name: "guests-out", base: BaseChain(type: .filter, hook: .forward, priority: 0), rules: [
                    Rule(id: "guests-out/dispatch", statements: [.vmap(.meta(.iifname), map: "guest_out")]),
                ]),
                Chain(name: "guest-100-net0-out", rules: [
                    Rule(id: "guest-100-net0-out/macfilter", statements: [match(.payload(.etherSaddr), mac(guestMAC), .notEqual), .counter, .verdict(.drop)]),
                    Rule(id: "guest-100-net0-out/ipfilter-v4", statements: [
                        .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.ipSaddr)]), .notEqual, .setReference("guest_ipv4")), .counter, .verdict(.drop),
                    ]),
                    Rule(id: "guest-100-net0-out/ipfilter-arp", statements: [
                        .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.arpSaddrIP)]), .notEqual, .setReference("guest_ipv4")), .counter, .verdict(.drop),
                    ]),
                    Rule(id: "guest-100-net0-out/ipfilter-v6", statements: [
                        .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.ip6Saddr)]), .notEqual, .setReference("guest_ipv6")), .counter, .verdict(.drop),
                    ]),
                    Rule(id: "guest-100-net0-out/ra-guard", statements: [match(.payload(.icmpv6Type), .symbol(named: "nd-router-advert")), .counter, .verdict(.drop)]),
                    Rule(id: "guest-100-net0-out/dhcp", statements: [match(.payload(.udpSport), .integer(68)), match(.payload(.udpDport), .integer(67)), .verdict(.accept)]),
                    Rule(id: "guest-100-net0-out/arp", statements: [match(.payload(.etherType), .symbol(named: "arp")), .verdict(.accept)]),
                    Rule(id: "guest-100-net0-out/arp-op", statements: [match(.payload(.arpOperation), .symbol(named: "request")), .verdict(.accept)]),
                ]),
            ]
        )
    }

    static var ruleset: Ruleset { Ruleset(tables: [inet, bridge]) }
}
