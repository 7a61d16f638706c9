import SDNModel

/// A generated cluster of the size the benchmarks ask for: `guests` guests with `nicsPerGuest` NICs,
/// `rulesPerGuest` rules each, `groups` security groups, and IP sets of `ipSetSize` entries.
struct SyntheticCluster {
    var guests = 10_000
    var nicsPerGuest = 2
    var rulesPerGuest = 20
    var groups = 100
    var ipSets = 2
    var ipSetSize = 10_000
    /// Added to every IP-set address, so two clusters can have disjoint sets of the same size.
    var ipSetOffset: UInt32 = 0
    /// Addresses between consecutive /30 entries: 4 makes them adjacent (the compiler merges them into one
    /// interval), 8 leaves gaps so every entry stays a set element.
    var ipSetStride = 4
    /// The first guest's VMID (the others follow).
    var firstGuestID = 1000
    /// One node (`bench`, a simple zone: the kernel benchmarks); with more, the cluster benchmark's shape:
    /// nodes `node01`… with underlay addresses in 198.18.0.0/15, the vnets in one VXLAN zone with
    /// `peers: all`, and guest i on node i mod count.
    var nodeCount = 1

    var nodeNames: [String] {
        nodeCount == 1 ? ["bench"] : (1...nodeCount).map { "node" + ($0 < 10 ? "0" : "") + String($0) }
    }

    func state() -> DesiredState {
        var state = DesiredState()
        let names = nodeNames
        if nodeCount == 1 {
            state.nodes = [Node(name: "bench", address: .v4(0xc000_020a), management: [try! IPPrefix("192.0.2.0/24")])]
            state.zones = [Zone(name: "local", kind: .simple)]
        } else {
            state.nodes = names.enumerated().map { index, name in
                Node(name: name, address: .v4(0xc612_0000 + UInt32(index + 1)), management: [try! IPPrefix("192.0.2.0/24")])
            }
            state.zones = [Zone(name: "local", kind: .vxlan(VXLANZone(peers: .allNodes)))]
        }
        state.vnets = (0..<4).map { index in
            VNet(name: "vnet\(index)", zone: "local", tag: nodeCount == 1 ? nil : 100 + index,
                 subnets: [Subnet(cidr: IPPrefix(address: .v4(UInt32(0x0a00_0000 | index << 16)), length: 16))])
        }
        var firewall = FirewallConfig()
        firewall.cluster.options.policyIn = .drop
        firewall.aliases = [Alias(name: "office", cidr: try! IPPrefix("203.0.113.0/24"))]
        firewall.ipsets = (0..<ipSets).map { set in
            IPSet(name: "blocklist\(set)", entries: (0..<ipSetSize).map { index in
                IPSet.Entry(value: .prefix(IPPrefix(address: .v4(UInt32(0x6400_0000 + set << 22 + index * ipSetStride) &+ ipSetOffset), length: 30)))
            })
        }
        firewall.groups = (0..<groups).map { group in
            SecurityGroup(name: "group\(group)", rules: [
                rule("g\(group)a", .in, .accept, proto: .tcp, dport: [PortRange(UInt16(1000 + group))]),
                rule("g\(group)b", .in, .accept, proto: .udp, dport: [PortRange(UInt16(2000 + group))], source: [.reference("office")]),
            ])
        }
        for index in 0..<guests {
            let id = firstGuestID + index
            let vnet = "vnet\(index % 4)"
            let nics = (0..<nicsPerGuest).map { nic in
                GuestNIC(index: nic, attachment: .vnet(vnet), mac: mac(index, nic),
                         ips: [IPPrefix(address: .v4(UInt32(0x0a00_0000 | (index % 4) << 16 | (index / 4 * nicsPerGuest + nic + 2))), length: 32)])
            }
            state.guests.append(Guest(id: id, name: "vm\(id)", kind: .kvm, node: names[index % names.count], nics: nics))
            var policy = FirewallPolicy(scope: .guest(id))
            policy.options.ipfilter = true
            policy.rules = guestRules(index: index)
            firewall.guests.append(policy)
        }
        state.firewall = firewall
        return state
    }

    func guestRules(index: Int, variant: Int = 0) -> [FirewallRule] {
        var rules: [FirewallRule] = [
            FirewallRule(id: "grp", hasExplicitID: true, body: .group(name: "group\(index % groups)", iface: nil)),
            rule("blocked", .in, .drop, source: [.reference("blocklist\(index % max(ipSets, 1))")]),
        ]
        for number in 0..<(rulesPerGuest - 2) {
            let port = UInt16(10_000 + number * 10 + variant)
            rules.append(rule("r\(number)", number % 3 == 0 ? .out : .in, number % 5 == 0 ? .drop : .accept,
                              proto: number % 2 == 0 ? .tcp : .udp, dport: [PortRange(port)],
                              source: number % 4 == 0 ? [.prefix(IPPrefix(address: .v4(UInt32(0xc633_6400 + number)), length: 32))] : []))
        }
        return rules
    }

    private func rule(_ id: String, _ direction: Direction, _ action: RuleAction, proto: IPProtocolName? = nil, dport: [PortRange] = [], source: [AddressMatch] = []) -> FirewallRule {
        FirewallRule(id: id, hasExplicitID: true, body: .match(RuleMatch(direction: direction, action: action, proto: proto, source: source, dport: dport)))
    }

    private func mac(_ index: Int, _ nic: Int) -> MACAddress {
        let value = index * 8 + nic
        return MACAddress(octets: [0x52, 0x54, 0x00, UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)])
    }
}
