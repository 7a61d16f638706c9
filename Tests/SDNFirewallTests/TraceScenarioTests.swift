import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// `TraceScenario`: for every path a packet takes through a node (bridged, routed between vnets, routed
/// from the outside, to the node, from the node), in both layouts and both address families, the hooks
/// it passes in the kernel's order and the packet as each hook sees it. The expectations are written
/// from what `nft monitor trace` showed on this machine's 6.18 kernel for the same topology (guests as
/// namespaces on veths, with and without br_netfilter), not from the implementation.
@Suite struct TraceScenarioTests {
    static let topology = """
        nodes:
          pve1:
            address: 192.0.2.10
            management: [192.0.2.0/24]
            uplinks:
              eth0: {}
              vmbr0:
                bridge: { ports: [eth0] }
                addresses: [192.0.2.10/24, "2001:db8::10/64"]
        zones:
          local: { type: simple }
        vnets:
          web:
            zone: local
            subnets:
              10.10.0.0/24: { gateway: 10.10.0.1, snat: true }
              "fd61::/64": { gateway: "fd61::1" }
          db:
            zone: local
            subnets:
              10.20.0.0/24: { gateway: 10.20.0.1 }
              "fd62::/64": { gateway: "fd62::1" }
        guests:
          101:
            name: web1
            node: pve1
            nics:
              net0: { vnet: web, mac: "52:54:00:00:01:01", ip: [10.10.0.11, "fd61::11"] }
          102:
            name: web2
            kind: lxc
            node: pve1
            nics:
              net0: { vnet: web, mac: "52:54:00:00:01:02", ip: [10.10.0.12, "fd61::12"] }
          201:
            name: db1
            node: pve1
            nics:
              net0: { vnet: db, mac: "52:54:00:00:02:01", ip: [10.20.0.11, "fd62::11"] }
        """
    static let policy = """
        cluster:
          options: { ipfilter: true }
        guests:
          101:
            options: { policy-in: drop }
            rules: [in accept Ping]
        """

    static var validated: Validated<DesiredState> {
        get throws {
            try validate([
                ConfigDocument(path: "Topologies/trace.yaml", text: topology, kind: .topology),
                ConfigDocument(path: "Policies/trace.yaml", text: policy, kind: .policy),
            ])
        }
    }
    static var state: DesiredState { get throws { try validated.value } }

    /// The addresses of the fixture in one family.
    struct Addresses: Sendable, CustomTestStringConvertible {
        var family: IPAddress.Family
        var web1, web2, db1, webGateway, uplink, outside, undeclaredOnDB, undeclaredOnWeb, forged: IPAddress
        var testDescription: String { family == .ipv4 ? "IPv4" : "IPv6" }
    }

    static let families: [Addresses] = [
        Addresses(family: .ipv4, web1: ip("10.10.0.11"), web2: ip("10.10.0.12"), db1: ip("10.20.0.11"), webGateway: ip("10.10.0.1"),
                  uplink: ip("192.0.2.10"), outside: ip("203.0.113.7"), undeclaredOnDB: ip("10.20.0.77"), undeclaredOnWeb: ip("10.10.0.77"),
                  forged: ip("10.10.0.99")),
        Addresses(family: .ipv6, web1: ip("fd61::11"), web2: ip("fd61::12"), db1: ip("fd62::11"), webGateway: ip("fd61::1"),
                  uplink: ip("2001:db8::10"), outside: ip("2001:db8:ffff::7"), undeclaredOnDB: ip("fd62::77"), undeclaredOnWeb: ip("fd61::77"),
                  forged: ip("fd61::99")),
    ]

    static let layouts: [(name: String, features: KernelFeatures)] = [("full", .full), ("minimal", .minimal)]

    static func ip(_ text: String) -> IPAddress { try! IPAddress(text) }

    /// MACs by the names the expectations use.
    static let macNames: [MACAddress: String] = [
        try! MACAddress("52:54:00:00:01:01"): "m101", try! MACAddress("52:54:00:00:01:02"): "m102", try! MACAddress("52:54:00:00:02:01"): "m201",
        try! MACAddress("52:54:00:00:09:99"): "forged", TraceScenario.routerMAC: "R", TraceScenario.upstreamMAC: "U",
        try! MACAddress("52:54:00:50:01:01"): "blue101", try! MACAddress("52:54:00:50:01:03"): "blue103",
        try! MACAddress("52:54:00:00:03:01"): "m301", try! MACAddress("52:54:00:00:03:02"): "m302", try! MACAddress("52:54:00:00:03:03"): "m303",
        try! MACAddress("52:54:00:00:03:04"): "m304", try! MACAddress("52:54:00:00:03:06"): "m306", try! MACAddress("52:54:00:00:03:08"): "m308",
    ]

    /// `hook[, priority]: iif=… oif=… ibr=… obr=… ether=SRC>DST`, with only the fields the hook has.
    static func describe(_ leg: TraceScenario.Leg) -> String {
        let packet = leg.packet
        var text = leg.hook.description + (leg.hook.priorityDescription.map { ", \($0)" } ?? "") + ":"
        if let name = packet.iifname { text += " iif=\(name)" }
        if let name = packet.oifname { text += " oif=\(name)" }
        if let name = packet.ibrname { text += " ibr=\(name)" }
        if let name = packet.obrname { text += " obr=\(name)" }
        if packet.etherSource != nil || packet.etherDestination != nil {
            let name = { (mac: MACAddress?) in mac.map { macNames[$0] ?? $0.description } ?? "-" }
            text += " ether=\(name(packet.etherSource))>\(name(packet.etherDestination))"
        }
        return text
    }

    static func path(_ from: TraceScenario.Endpoint, _ to: TraceScenario.Endpoint, _ service: TraceScenario.Service = .init(proto: .tcp, port: 80),
                     features: KernelFeatures, sourceAddress: IPAddress? = nil, sourceMAC: MACAddress? = nil,
                     destinationAddress: IPAddress? = nil, state desired: DesiredState? = nil, node: String = "pve1") throws -> TraceScenario.Path {
        try TraceScenario.path(from: from, to: to, service: service, state: .new, in: try desired ?? state, node: node, features: features,
                               sourceAddress: sourceAddress, sourceMAC: sourceMAC, destinationAddress: destinationAddress)
    }

    /// Every leg carries the same IP header: the addresses and protocol of the conversation.
    static func expectHeader(_ path: TraceScenario.Path, _ source: IPAddress, _ destination: IPAddress, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        for leg in path.legs {
            #expect(leg.packet.saddr == source && leg.packet.daddr == destination, "\(describe(leg)): \(leg.packet)", sourceLocation: sourceLocation)
            #expect(leg.packet.network == (source.family == .ipv4 ? .ipv4 : .ipv6), sourceLocation: sourceLocation)
        }
    }

    // MARK: Expected hook sequences

    /// A frame from `port` on `bridge` into the node (its MAC), in each layout.
    static func upFrom(_ port: String, on bridge: String, ether: String, layout: String) -> [String] {
        let frame = "iif=\(port) ibr=\(bridge) ether=\(ether)"
        if layout == "full" {
            return ["bridge prerouting: \(frame)", "bridge input: \(frame)", "inet prerouting: iif=\(bridge) ether=\(ether)"]
        }
        return [
            "bridge prerouting, priority <= 0: \(frame)",
            "inet prerouting: iif=\(bridge) ether=\(ether)",
            "bridge prerouting, priority >= 1: \(frame)",
            "bridge input: \(frame)",
        ]
    }

    static func bridgedWeb(from: String, to: String, ether: String, layout: String) -> [String] {
        bridged(on: "web", from: from, to: to, ether: ether, layout: layout)
    }

    /// A frame bridged from port `from` to port `to` of `bridge`: bridge hooks only in `full`; under
    /// br_netfilter (`minimal`) the IP hooks inside them, with the bridge as both interfaces.
    static func bridged(on bridge: String, from: String, to: String, ether: String, layout: String) -> [String] {
        if layout == "full" {
            return [
                "bridge prerouting: iif=\(from) ibr=\(bridge) ether=\(ether)",
                "bridge forward: iif=\(from) oif=\(to) ibr=\(bridge) obr=\(bridge) ether=\(ether)",
                "bridge postrouting: oif=\(to) obr=\(bridge) ether=\(ether)",
            ]
        }
        return [
            "bridge prerouting, priority <= 0: iif=\(from) ibr=\(bridge) ether=\(ether)",
            "inet prerouting: iif=\(bridge) ether=\(ether)",
            "bridge prerouting, priority >= 1: iif=\(from) ibr=\(bridge) ether=\(ether)",
            "bridge forward, priority <= 0: iif=\(from) oif=\(to) ibr=\(bridge) obr=\(bridge) ether=\(ether)",
            "inet forward: iif=\(bridge) oif=\(bridge) ether=\(ether)",
            "bridge forward, priority >= 1: iif=\(from) oif=\(to) ibr=\(bridge) obr=\(bridge) ether=\(ether)",
            "bridge postrouting: oif=\(to) obr=\(bridge) ether=\(ether)",
            "inet postrouting: oif=\(bridge) ether=\(ether)",
        ]
    }

    // MARK: The five paths × two families × two layouts

    @Test(arguments: families)
    func bridgedWithinAVnet(_ addresses: Addresses) throws {
        for (layout, features) in Self.layouts {
            let path = try Self.path(.guest(id: 101, nic: 0), .address(addresses.web2), features: features)
            #expect(path.legs.map(Self.describe) == Self.bridgedWeb(from: "tap101i0", to: "veth102i0", ether: "m101>m102", layout: layout), "\(layout)")
            #expect(path.incomplete == nil)
            Self.expectHeader(path, addresses.web1, addresses.web2)
        }
    }

    @Test(arguments: families)
    func routedToAnotherVnet(_ addresses: Addresses) throws {
        for (layout, features) in Self.layouts {
            let path = try Self.path(.guest(id: 101, nic: 0), .address(addresses.db1), features: features)
            let expected = Self.upFrom("tap101i0", on: "web", ether: "m101>R", layout: layout) + [
                "inet forward: iif=web oif=db ether=m101>R",
                "inet postrouting: iif=web oif=db ether=m101>R",
                "bridge output: oif=tap201i0 obr=db ether=R>m201",
                "bridge postrouting: oif=tap201i0 obr=db ether=R>m201",
            ]
            #expect(path.legs.map(Self.describe) == expected, "\(layout)")
            Self.expectHeader(path, addresses.web1, addresses.db1)
        }
    }

    @Test(arguments: families)
    func routedFromBeyondTheUplink(_ addresses: Addresses) throws {
        for (layout, features) in Self.layouts {
            let path = try Self.path(.address(addresses.outside), .guest(id: 101, nic: 0), features: features)
            let expected = Self.upFrom("eth0", on: "vmbr0", ether: "U>R", layout: layout) + [
                "inet forward: iif=vmbr0 oif=web ether=U>R",
                "inet postrouting: iif=vmbr0 oif=web ether=U>R",
                "bridge output: oif=tap101i0 obr=web ether=R>m101",
                "bridge postrouting: oif=tap101i0 obr=web ether=R>m101",
            ]
            #expect(path.legs.map(Self.describe) == expected, "\(layout)")
            Self.expectHeader(path, addresses.outside, addresses.web1)
        }
    }

    @Test(arguments: families)
    func guestToTheNodeIsDeliveredLocally(_ addresses: Addresses) throws {
        for (layout, features) in Self.layouts {
            // Its gateway, by address and as `node`; and the node's uplink address: all the node, input on web.
            for (to, daddr) in [(TraceScenario.Endpoint.address(addresses.webGateway), addresses.webGateway), (.node, addresses.webGateway),
                                (.address(addresses.uplink), addresses.uplink)] {
                let path = try Self.path(.guest(id: 101, nic: 0), to, addresses.family == .ipv4 ? .init(proto: .tcp, port: 22) : .init(proto: .icmpv6, icmpType: 128),
                                         features: features)
                let expected = Self.upFrom("tap101i0", on: "web", ether: "m101>R", layout: layout) + ["inet input: iif=web ether=m101>R"]
                #expect(path.legs.map(Self.describe) == expected, "\(layout) to \(to)")
                Self.expectHeader(path, addresses.web1, daddr)
            }
        }
    }

    @Test(arguments: families)
    func nodeToGuestLeavesThroughTheBridgeOutputHook(_ addresses: Addresses) throws {
        for (_, features) in Self.layouts {
            for from in [TraceScenario.Endpoint.node, .address(addresses.webGateway)] {
                let path = try Self.path(from, .address(addresses.web1), features: features)
                // Locally generated: no input interface and no Ethernet header on the IP hooks.
                #expect(path.legs.map(Self.describe) == [
                    "inet output: oif=web",
                    "inet postrouting: oif=web",
                    "bridge output: oif=tap101i0 obr=web ether=R>m101",
                    "bridge postrouting: oif=tap101i0 obr=web ether=R>m101",
                ], "\(from)")
                // The node speaks from its address on the guest's bridge.
                Self.expectHeader(path, addresses.webGateway, addresses.web1)
            }
        }
    }

    @Test(arguments: families)
    func nodeToAndFromTheOutside(_ addresses: Addresses) throws {
        for (layout, features) in Self.layouts {
            let out = try Self.path(.node, .address(addresses.outside), features: features)
            #expect(out.legs.map(Self.describe) == [
                "inet output: oif=vmbr0", "inet postrouting: oif=vmbr0",
                "bridge output: oif=eth0 obr=vmbr0 ether=R>U", "bridge postrouting: oif=eth0 obr=vmbr0 ether=R>U",
            ])
            Self.expectHeader(out, addresses.uplink, addresses.outside)
            let inbound = try Self.path(.address(addresses.outside), .address(addresses.uplink), features: features)
            #expect(inbound.legs.map(Self.describe) == Self.upFrom("eth0", on: "vmbr0", ether: "U>R", layout: layout) + ["inet input: iif=vmbr0 ether=U>R"])
            Self.expectHeader(inbound, addresses.outside, addresses.uplink)
        }
    }

    @Test func theNodeToItselfGoesThroughLoopback() throws {
        let path = try Self.path(.node, .address(Self.ip("10.20.0.1")), features: .minimal)
        #expect(path.legs.map(Self.describe) == ["inet output: oif=lo", "inet postrouting: oif=lo", "inet prerouting: iif=lo", "inet input: iif=lo"])
        Self.expectHeader(path, Self.ip("192.0.2.10"), Self.ip("10.20.0.1"))
    }

    // MARK: Addresses no guest declares

    @Test(arguments: families)
    func undeclaredAddressInAnotherVnetIsRoutedOntoItsBridge(_ addresses: Addresses) throws {
        for (layout, features) in Self.layouts {
            let path = try Self.path(.guest(id: 101, nic: 0), .address(addresses.undeclaredOnDB), features: features)
            // Onto db's bridge (not out of the uplink, not masqueraded), and no further: the port is unknown.
            #expect(path.legs.map(Self.describe) == Self.upFrom("tap101i0", on: "web", ether: "m101>R", layout: layout) + [
                "inet forward: iif=web oif=db ether=m101>R", "inet postrouting: iif=web oif=db ether=m101>R",
            ], "\(layout)")
            #expect(path.incomplete?.contains("--to GUEST/netN --dst-ip \(addresses.undeclaredOnDB)") == true, "\(path.incomplete ?? "complete")")
            // Named: delivered to that NIC.
            let named = try Self.path(.guest(id: 101, nic: 0), .guest(id: 201, nic: 0), features: features, destinationAddress: addresses.undeclaredOnDB)
            #expect(named.legs.map(Self.describe).suffix(2) == ["bridge output: oif=tap201i0 obr=db ether=R>m201", "bridge postrouting: oif=tap201i0 obr=db ether=R>m201"])
            #expect(named.incomplete == nil)
            Self.expectHeader(named, addresses.web1, addresses.undeclaredOnDB)
            // From the node too.
            let fromNode = try Self.path(.node, .address(addresses.undeclaredOnDB), features: features)
            #expect(fromNode.legs.map(Self.describe) == ["inet output: oif=db", "inet postrouting: oif=db"])
            #expect(fromNode.incomplete != nil)
        }
    }

    @Test(arguments: families)
    func undeclaredAddressOnTheSendersOwnVnetIsBridged(_ addresses: Addresses) throws {
        for (layout, features) in Self.layouts {
            let path = try Self.path(.guest(id: 102, nic: 0), .address(addresses.undeclaredOnWeb), features: features)
            #expect(path.legs.map(Self.describe) == Array(Self.bridgedWeb(from: "veth102i0", to: "?", ether: "m102>-", layout: layout).prefix(layout == "full" ? 1 : 3)))
            #expect(path.incomplete != nil)
            let named = try Self.path(.guest(id: 102, nic: 0), .guest(id: 101, nic: 0), features: features, destinationAddress: addresses.undeclaredOnWeb)
            #expect(named.legs.map(Self.describe) == Self.bridgedWeb(from: "veth102i0", to: "tap101i0", ether: "m102>m101", layout: layout))
            Self.expectHeader(named, addresses.web2, addresses.undeclaredOnWeb)
        }
    }

    // MARK: Forged sources

    @Test(arguments: families)
    func forgedSourceAddressAndMACAreSentFromTheNIC(_ addresses: Addresses) throws {
        let forgedMAC = try MACAddress("52:54:00:00:09:99")
        for (layout, features) in Self.layouts {
            let ruleset = FirewallCompiler.compile(try Self.validated, node: "pve1", features: features).ruleset
            let forgedIP = try Self.path(.guest(id: 102, nic: 0), .address(addresses.web1), .ping, features: features, sourceAddress: addresses.forged)
            #expect(forgedIP.legs.map(Self.describe) == Self.bridgedWeb(from: "veth102i0", to: "tap101i0", ether: "m102>m101", layout: layout))
            Self.expectHeader(forgedIP, addresses.forged, addresses.web1)
            #expect(try Self.firstRefusal(forgedIP, ruleset) == "bridge prerouting: guest-102-net0-spoof/ipfilter-\(addresses.family == .ipv4 ? "v4" : "v6")")

            let forgedMACPath = try Self.path(.guest(id: 102, nic: 0), .address(addresses.web1), .ping, features: features, sourceMAC: forgedMAC)
            #expect(forgedMACPath.legs.map(Self.describe) == Self.bridgedWeb(from: "veth102i0", to: "tap101i0", ether: "forged>m101", layout: layout))
            #expect(try Self.firstRefusal(forgedMACPath, ruleset) == "bridge prerouting: guest-102-net0-spoof/macfilter")

            // The genuine packet passes every hook (101 accepts Ping).
            let genuine = try Self.path(.guest(id: 102, nic: 0), .address(addresses.web1), .ping, features: features)
            #expect(try Self.firstRefusal(genuine, ruleset) == nil)
        }
    }

    /// The hook and rule that first refuse the packet, evaluating the path leg by leg as `sdn trace` does.
    static func firstRefusal(_ path: TraceScenario.Path, _ ruleset: Ruleset) throws -> String? {
        let interpreter = PacketInterpreter(ruleset: ruleset)
        for leg in path.legs {
            let trace = try interpreter.trace(leg.packet, at: leg.hook)
            if trace.verdict != .accept {
                return leg.hook.description + ": " + (trace.steps.last { $0.kind == .rule && $0.matched }?.ruleID ?? trace.steps.last?.text ?? "")
            }
        }
        return nil
    }

    // MARK: Protocols

    @Test func pingIsICMPv6BetweenIPv6Addresses() throws {
        let service = try TraceScenario.Service.parse("ping")
        for (_, features) in Self.layouts {
            let v6 = try Self.path(.guest(id: 102, nic: 0), .address(Self.ip("fd61::11")), service, features: features)
            #expect(v6.service.proto == .icmpv6 && v6.service.icmpType == 128)
            #expect(v6.legs.allSatisfy { $0.packet.l4proto == .icmpv6 && $0.packet.icmpType == 128 && $0.packet.network == .ipv6 })
            // 101 accepts Ping (ICMP and ICMPv6 echo requests) and drops the rest.
            let ruleset = FirewallCompiler.compile(try Self.validated, node: "pve1", features: features).ruleset
            #expect(try Self.firstRefusal(v6, ruleset) == nil)
            let v4 = try Self.path(.guest(id: 102, nic: 0), .address(Self.ip("10.10.0.11")), service, features: features)
            #expect(v4.legs.allSatisfy { $0.packet.l4proto == .icmp && $0.packet.icmpType == 8 && $0.packet.network == .ipv4 })
            #expect(try Self.firstRefusal(v4, ruleset) == nil)
            #expect(try Self.firstRefusal(Self.path(.guest(id: 102, nic: 0), .address(Self.ip("fd61::11")), features: features), ruleset) != nil)
        }
        // Between two guests with both families, IPv4 unless the protocol says otherwise.
        #expect(try Self.path(.guest(id: 102, nic: 0), .guest(id: 101, nic: 0), service, features: .full).legs[0].packet.network == .ipv4)
        #expect(try Self.path(.guest(id: 102, nic: 0), .guest(id: 101, nic: 0), .init(proto: .icmpv6, icmpType: 128), features: .full).legs[0].packet.daddr == Self.ip("fd61::11"))
        #expect(throws: TraceScenario.TraceError.self) {
            try Self.path(.guest(id: 102, nic: 0), .address(Self.ip("fd61::11")), .init(proto: .icmp, icmpType: 8), features: .full)
        }
    }

    // MARK: Other segments

    @Test func aGuestOfAnotherNodeIsBeyondTheVXLANPort() throws {
        let example = repositoryRoot + "/examples/overlay-demo"
        let documents = try ["Topologies/nodes.yaml", "Policies/guests.yaml"].compactMap { name -> ConfigDocument? in
            let path = example + "/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return ConfigDocument(path: path, text: text, kind: ConfigDocument.kind(impliedBy: path))
        }
        try #require(documents.count == 2, "examples/overlay-demo has Topologies/nodes.yaml and Policies/guests.yaml")
        let overlay = try validate(documents).value
        for (layout, features) in Self.layouts {
            let path = try Self.path(.address(Self.ip("10.50.0.13")), .guest(id: 101, nic: 0), features: features, state: overlay, node: "n1")
            let frame = "ibr=blue obr=blue ether=blue103>blue101"
            let expected = layout == "full" ? [
                "bridge prerouting: iif=vxlan_blue ibr=blue ether=blue103>blue101",
                "bridge forward: iif=vxlan_blue oif=veth101i0 \(frame)",
                "bridge postrouting: oif=veth101i0 obr=blue ether=blue103>blue101",
            ] : [
                "bridge prerouting, priority <= 0: iif=vxlan_blue ibr=blue ether=blue103>blue101",
                "inet prerouting: iif=blue ether=blue103>blue101",
                "bridge prerouting, priority >= 1: iif=vxlan_blue ibr=blue ether=blue103>blue101",
                "bridge forward, priority <= 0: iif=vxlan_blue oif=veth101i0 \(frame)",
                "inet forward: iif=blue oif=blue ether=blue103>blue101",
                "bridge forward, priority >= 1: iif=vxlan_blue oif=veth101i0 \(frame)",
                "bridge postrouting: oif=veth101i0 obr=blue ether=blue103>blue101",
                "inet postrouting: oif=blue ether=blue103>blue101",
            ]
            #expect(path.legs.map(Self.describe) == expected)
        }
    }

    // MARK: Chains at any hook are followed

    @Test func chainsOnEveryHookAreMetWithTheFieldsTheKernelGivesThem() throws {
        func rule(_ id: String, _ statements: Statement...) -> Rule { Rule(id: id, statements: statements) }
        func base(_ name: String, _ hook: BaseChain.Hook, _ priority: Int, _ rules: [Rule]) -> Chain {
            Chain(name: name, base: BaseChain(type: .filter, hook: hook, priority: priority), rules: rules)
        }
        let m101 = Value.ether(try MACAddress("52:54:00:00:01:01"))
        let inet = Table(family: .inet, name: "t", chains: [
            // No Ethernet header on what the node sends: this rule must not match at output.
            base("out", .output, 0, [rule("out-by-mac", .match(.payload(.etherDaddr), .equal, .value(m101)), .verdict(.drop)),
                                     rule("out-web", .match(.meta(.oifname), .equal, .value(.string("web"))), .counter)]),
            base("in", .input, 0, [rule("in-by-mac", .match(.payload(.etherSaddr), .equal, .value(m101)), .counter)]),
            base("fwd", .forward, 0, [rule("inet-fwd", .match(.meta(.iifname), .equal, .value(.string("web"))), .counter)]),
        ])
        let bridge = Table(family: .bridge, name: "t", chains: [
            base("fwd-early", .forward, -10, [rule("fwd-early", .match(.meta(.ibrname), .equal, .value(.string("web"))), .counter)]),
            base("fwd-late", .forward, 10, [rule("fwd-late", .match(.meta(.obrname), .equal, .value(.string("web"))), .counter)]),
            base("out", .output, 0, [rule("bridge-out", .match(.meta(.oifname), .equal, .value(.string("tap101i0"))), .counter)]),
        ])
        let interpreter = PacketInterpreter(ruleset: Ruleset(tables: [inet, bridge]))
        func matched(_ path: TraceScenario.Path) throws -> [String] {
            try path.legs.flatMap { try interpreter.trace($0.packet, at: $0.hook).matchedRuleIDs }
        }
        let nodeToGuest = try Self.path(.node, .guest(id: 101, nic: 0), features: .minimal)
        #expect(try matched(nodeToGuest) == ["out-web", "bridge-out"])
        let guestToNode = try Self.path(.guest(id: 101, nic: 0), .node, features: .minimal)
        #expect(try matched(guestToNode) == ["in-by-mac"])
        // Under br_netfilter the IP forward hook runs between the bridge forward chains up to priority 0 and above it.
        let bridged = try Self.path(.guest(id: 101, nic: 0), .guest(id: 102, nic: 0), features: .minimal)
        #expect(try matched(bridged) == ["fwd-early", "inet-fwd", "fwd-late"])
        // Without br_netfilter bridged frames never meet the IP hooks.
        let bridgedFull = try Self.path(.guest(id: 101, nic: 0), .guest(id: 102, nic: 0), features: .full)
        #expect(try matched(bridgedFull) == ["fwd-early", "fwd-late"])
    }

    // MARK: Refused questions

    @Test func questionsWithoutAnAnswerAreRefusedWithTheFix() throws {
        func refusal(_ body: () throws -> TraceScenario.Path) -> String {
            do { _ = try body() } catch let error as TraceScenario.TraceError { return error.description } catch { return "\(error)" }
            return "accepted"
        }
        // An undeclared sender on a routed vnet: which port it sends from is unknown.
        #expect(refusal { try Self.path(.address(Self.ip("10.20.0.5")), .guest(id: 101, nic: 0), features: .full) }.contains("--from GUEST/netN --src-ip 10.20.0.5"))
        // --src-ip belongs to a NIC or the node, --src-mac to a NIC, --dst-ip to a NIC or the node.
        #expect(refusal { try Self.path(.address(Self.ip("203.0.113.7")), .guest(id: 101, nic: 0), features: .full, sourceAddress: Self.ip("203.0.113.8")) }.contains("--src-ip needs"))
        #expect(refusal { try Self.path(.node, .guest(id: 101, nic: 0), features: .full, sourceMAC: try MACAddress("52:54:00:00:09:99")) }.contains("--src-mac needs"))
        #expect(refusal { try Self.path(.node, .address(Self.ip("203.0.113.7")), features: .full, destinationAddress: Self.ip("203.0.113.8")) }.contains("--dst-ip needs"))
        // An address the node routes elsewhere never reaches the named NIC.
        #expect(refusal { try Self.path(.node, .guest(id: 101, nic: 0), features: .full, destinationAddress: Self.ip("10.20.0.5")) }.contains("routes 10.20.0.5 to db"))
        #expect(refusal { try Self.path(.guest(id: 101, nic: 0), .address(Self.ip("fd61::12")), features: .full, sourceAddress: Self.ip("10.10.0.99")) }.contains("different address families"))
        // Endpoints by name and `node`.
        #expect(try TraceScenario.Endpoint.parse("web2/net0", in: try Self.state) == .guest(id: 102, nic: 0))
        #expect(try TraceScenario.Endpoint.parse("node", in: try Self.state) == .node)
        // Nothing to name (an empty `from` of POST /v1/trace once crashed sdnd here) is refused.
        let state = try Self.state
        for text in ["", "/", "//net0"] {
            #expect(throws: TraceScenario.TraceError.self) { try TraceScenario.Endpoint.parse(text, in: state) }
        }
    }
}
