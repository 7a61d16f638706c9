import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// Guests on bridges the node does not route — vnets of vlan, qinq and vxlan zones, and plain uplink
/// bridges — in both layouts and both families. The node bridges their traffic: from the guest's port
/// out through the bridge's own port toward the router beyond it (the VLAN sub-interface, the VXLAN
/// device, the bridge's NIC), and back in the same way. What is on the node itself (its addresses, a
/// guest on another bridge) comes back in from that router: through the other bridge's port, or up
/// the node's uplink to its IP stack.
extension TraceScenarioTests {
    static let unroutedTopology = """
        nodes:
          pve1:
            address: 192.0.2.10
            management: [192.0.2.0/24]
            uplinks:
              eth0: {}
              eth1: {}
              vmbr0:
                bridge: { ports: [eth0] }
                addresses: [192.0.2.10/24, "2001:db8::10/64"]
              vmbr1:
                bridge: { ports: [eth1] }
              vmbr2:
                bridge: { ports: [] }
          pve2:
            address: 192.0.2.11
            management: [192.0.2.0/24]
            uplinks:
              eth0: { addresses: [192.0.2.11/24] }
        zones:
          local: { type: simple }
          lan: { type: vlan, bridge: vmbr0, nodes: [pve1] }
          cust: { type: qinq, bridge: vmbr0, service-tag: 20, nodes: [pve1] }
          ovl: { type: vxlan, peers: all }
          fab: { type: evpn, controller: ctl, vrf-vni: 9000 }
        vnets:
          app:
            zone: local
            subnets:
              10.10.0.0/24: { gateway: 10.10.0.1 }
              "fd61::/64": { gateway: "fd61::1" }
          web:
            zone: lan
            tag: 100
            subnets:
              10.100.0.0/24: { gateway: 10.100.0.1 }
              "fd64::/64": { gateway: "fd64::1" }
          tenant:
            zone: cust
            tag: 30
            subnets:
              10.30.0.0/24: {}
              "fd30::/64": {}
          blue:
            zone: ovl
            tag: 5001
            subnets:
              10.50.0.0/24: {}
              "fd50::/64": {}
          fab1:
            zone: fab
            tag: 6001
            subnets:
              10.60.0.0/24: {}
        guests:
          301:
            name: vlan1
            node: pve1
            nics:
              net0: { vnet: web, mac: "52:54:00:00:03:01", ip: [10.100.0.11, "fd64::11"] }
          302:
            name: vx1
            kind: lxc
            node: pve1
            nics:
              net0: { vnet: blue, mac: "52:54:00:00:03:02", ip: [10.50.0.12, "fd50::12"] }
          303:
            name: lan1
            node: pve1
            nics:
              net0: { bridge: vmbr1, mac: "52:54:00:00:03:03", ip: [198.51.100.13, "2001:db8:1::13"] }
          304:
            name: routed1
            node: pve1
            nics:
              net0: { vnet: app, mac: "52:54:00:00:03:04", ip: [10.10.0.14, "fd61::14"] }
          305:
            name: island
            node: pve1
            nics:
              net0: { bridge: vmbr2, mac: "52:54:00:00:03:05", ip: [10.99.0.15] }
          306:
            name: vx2
            kind: lxc
            node: pve2
            nics:
              net0: { vnet: blue, mac: "52:54:00:00:03:06", ip: [10.50.0.16, "fd50::16"] }
          307:
            name: evpn1
            node: pve1
            nics:
              net0: { vnet: fab1, mac: "52:54:00:00:03:07", ip: [10.60.0.17] }
          308:
            name: qinq1
            node: pve1
            nics:
              net0: { vnet: tenant, mac: "52:54:00:00:03:08", ip: [10.30.0.18, "fd30::18"] }
        """
    /// Each guest's policy drops what comes in except ping and tcp/80, and 301 sends no tcp/25.
    static let unroutedPolicy = """
        guests:
          301:
            options: { policy-in: drop }
            rules: [in accept Ping, in accept tcp dport 80, out drop tcp dport 25]
          302:
            options: { policy-in: drop }
            rules: [in accept Ping, in accept tcp dport 80]
          303:
            options: { policy-in: drop }
            rules: [in accept Ping, in accept tcp dport 80]
          308:
            options: { policy-in: drop }
            rules: [in accept Ping, in accept tcp dport 80]
        """

    static var unroutedValidated: Validated<DesiredState> {
        get throws {
            try validate([
                ConfigDocument(path: "Topologies/unrouted.yaml", text: unroutedTopology, kind: .topology),
                ConfigDocument(path: "Policies/unrouted.yaml", text: unroutedPolicy, kind: .policy),
            ])
        }
    }

    struct UnroutedAddresses: Sendable, CustomTestStringConvertible {
        var family: IPAddress.Family
        var vlan, vxlan, plain, routed, qinq, otherNodeGuest, outside, node: IPAddress
        var testDescription: String { family == .ipv4 ? "IPv4" : "IPv6" }
    }

    static let unroutedFamilies: [UnroutedAddresses] = [
        UnroutedAddresses(family: .ipv4, vlan: ip("10.100.0.11"), vxlan: ip("10.50.0.12"), plain: ip("198.51.100.13"), routed: ip("10.10.0.14"),
                          qinq: ip("10.30.0.18"), otherNodeGuest: ip("10.50.0.16"), outside: ip("203.0.113.7"), node: ip("192.0.2.10")),
        UnroutedAddresses(family: .ipv6, vlan: ip("fd64::11"), vxlan: ip("fd50::12"), plain: ip("2001:db8:1::13"), routed: ip("fd61::14"),
                          qinq: ip("fd30::18"), otherNodeGuest: ip("fd50::16"), outside: ip("2001:db8:ffff::7"), node: ip("2001:db8::10")),
    ]

    /// A guest NIC of the fixture: its endpoint, port, bridge, the bridge's port out of the node, and its MAC's name.
    struct UnroutedGuest: Sendable {
        var id: Int
        var port, bridge, way, mac: String
    }

    static let vlanGuest = UnroutedGuest(id: 301, port: "tap301i0", bridge: "web", way: "eth0.100", mac: "m301")
    static let vxlanGuest = UnroutedGuest(id: 302, port: "veth302i0", bridge: "blue", way: "vxlan_blue", mac: "m302")
    static let plainGuest = UnroutedGuest(id: 303, port: "tap303i0", bridge: "vmbr1", way: "eth1", mac: "m303")
    static let qinqGuest = UnroutedGuest(id: 308, port: "tap308i0", bridge: "tenant", way: "cust.30", mac: "m308")

    /// The path on pve1. Name the receiver by address to fix the family (a guest alone means IPv4).
    static func unroutedPath(_ from: TraceScenario.Endpoint, _ to: TraceScenario.Endpoint, _ service: TraceScenario.Service = .init(proto: .tcp, port: 80),
                             features: KernelFeatures) throws -> TraceScenario.Path {
        try TraceScenario.path(from: from, to: to, service: service, state: .new, in: try unroutedValidated.value, node: "pve1", features: features)
    }

    // MARK: Out through the bridge's port, and in through it

    @Test(arguments: unroutedFamilies)
    func guestsOnUnroutedBridgesAreBridgedToTheOutside(_ addresses: UnroutedAddresses) throws {
        let guests = [(Self.vlanGuest, addresses.vlan), (Self.qinqGuest, addresses.qinq), (Self.vxlanGuest, addresses.vxlan), (Self.plainGuest, addresses.plain)]
        for (layout, features) in Self.layouts {
            for (guest, address) in guests {
                let out = try Self.unroutedPath(.guest(id: guest.id, nic: 0), .address(addresses.outside), features: features)
                #expect(out.legs.map(Self.describe) == Self.bridged(on: guest.bridge, from: guest.port, to: guest.way, ether: "\(guest.mac)>U", layout: layout),
                        "\(layout) \(guest.id) out")
                #expect(out.incomplete == nil)
                #expect(out.summary.hasPrefix("bridged on \(guest.bridge): guest \(guest.id) net0 → the router beyond \(guest.way)"), "\(out.summary)")
                Self.expectHeader(out, address, addresses.outside)

                let inbound = try Self.unroutedPath(.address(addresses.outside), .guest(id: guest.id, nic: 0), features: features)
                #expect(inbound.legs.map(Self.describe) == Self.bridged(on: guest.bridge, from: guest.way, to: guest.port, ether: "U>\(guest.mac)", layout: layout),
                        "\(layout) \(guest.id) in")
                #expect(inbound.incomplete == nil)
                Self.expectHeader(inbound, addresses.outside, address)
            }
        }
    }

    @Test(arguments: unroutedFamilies)
    func theNodeReachesAnUnroutedGuestThroughItsUplinkAndTheRouterBeyond(_ addresses: UnroutedAddresses) throws {
        for (layout, features) in Self.layouts {
            // Node → guest: out of the node's own uplink to the router, which puts it on the VLAN.
            let toGuest = try Self.unroutedPath(.node, .address(addresses.vlan), features: features)
            #expect(toGuest.legs.map(Self.describe) == [
                "inet output: oif=vmbr0", "inet postrouting: oif=vmbr0",
                "bridge output: oif=eth0 obr=vmbr0 ether=R>U", "bridge postrouting: oif=eth0 obr=vmbr0 ether=R>U",
            ] + Self.bridged(on: "web", from: "eth0.100", to: "tap301i0", ether: "U>m301", layout: layout), "\(layout)")
            // The node speaks from its uplink's address: it has none on the guest's bridge.
            Self.expectHeader(toGuest, addresses.node, addresses.vlan)

            // Guest → node: out through the VLAN's port, back in from the router up the node's uplink.
            for to in [TraceScenario.Endpoint.node, .address(addresses.node)] {
                let toNode = try Self.unroutedPath(.guest(id: 301, nic: 0), to, addresses.family == .ipv4 ? .ping : .init(proto: .icmpv6, icmpType: 128),
                                                   features: features)
                #expect(toNode.legs.map(Self.describe) == Self.bridged(on: "web", from: "tap301i0", to: "eth0.100", ether: "m301>U", layout: layout)
                        + Self.upFrom("eth0", on: "vmbr0", ether: "U>R", layout: layout) + ["inet input: iif=vmbr0 ether=U>R"], "\(layout) \(to)")
                Self.expectHeader(toNode, addresses.vlan, addresses.node)
            }
        }
    }

    @Test(arguments: unroutedFamilies)
    func betweenARoutedAndAnUnroutedGuestTheRouterBeyondCarriesIt(_ addresses: UnroutedAddresses) throws {
        let ping: TraceScenario.Service = addresses.family == .ipv4 ? .ping : .init(proto: .icmpv6, icmpType: 128)
        for (layout, features) in Self.layouts {
            // A guest the node routes → a VLAN guest: routed out of the uplink (no route to the VLAN's
            // subnet on the node), and the router beyond puts it on the VLAN.
            let routedToVLAN = try Self.unroutedPath(.guest(id: 304, nic: 0), .address(addresses.vlan), ping, features: features)
            #expect(routedToVLAN.legs.map(Self.describe) == Self.upFrom("tap304i0", on: "app", ether: "m304>R", layout: layout) + [
                "inet forward: iif=app oif=vmbr0 ether=m304>R",
                "inet postrouting: iif=app oif=vmbr0 ether=m304>R",
                "bridge output: oif=eth0 obr=vmbr0 ether=R>U",
                "bridge postrouting: oif=eth0 obr=vmbr0 ether=R>U",
            ] + Self.bridged(on: "web", from: "eth0.100", to: "tap301i0", ether: "U>m301", layout: layout), "\(layout)")
            Self.expectHeader(routedToVLAN, addresses.routed, addresses.vlan)

            // The way back: out of the VLAN's port, in from the router up the uplink, routed onto app.
            let vlanToRouted = try Self.unroutedPath(.guest(id: 301, nic: 0), .address(addresses.routed), ping, features: features)
            #expect(vlanToRouted.legs.map(Self.describe) == Self.bridged(on: "web", from: "tap301i0", to: "eth0.100", ether: "m301>U", layout: layout)
                    + Self.upFrom("eth0", on: "vmbr0", ether: "U>R", layout: layout) + [
                        "inet forward: iif=vmbr0 oif=app ether=U>R",
                        "inet postrouting: iif=vmbr0 oif=app ether=U>R",
                        "bridge output: oif=tap304i0 obr=app ether=R>m304",
                        "bridge postrouting: oif=tap304i0 obr=app ether=R>m304",
                    ], "\(layout)")
            Self.expectHeader(vlanToRouted, addresses.vlan, addresses.routed)

            // VLAN guest → VXLAN guest on the same node: out of one port, in through the other.
            let vlanToVXLAN = try Self.unroutedPath(.guest(id: 301, nic: 0), .address(addresses.vxlan), ping, features: features)
            #expect(vlanToVXLAN.legs.map(Self.describe) == Self.bridged(on: "web", from: "tap301i0", to: "eth0.100", ether: "m301>U", layout: layout)
                    + Self.bridged(on: "blue", from: "vxlan_blue", to: "veth302i0", ether: "U>m302", layout: layout), "\(layout)")
            Self.expectHeader(vlanToVXLAN, addresses.vlan, addresses.vxlan)

            // A guest of another node on the same VXLAN vnet: bridged to the VXLAN port, nothing more here.
            let overlay = try Self.unroutedPath(.guest(id: 302, nic: 0), .address(addresses.otherNodeGuest), ping, features: features)
            #expect(overlay.legs.map(Self.describe) == Self.bridged(on: "blue", from: "veth302i0", to: "vxlan_blue", ether: "m302>m306", layout: layout))
        }
    }

    // MARK: The policies meet the bridged paths

    @Test(arguments: unroutedFamilies)
    func theGuestsPoliciesFilterTheBridgedPaths(_ addresses: UnroutedAddresses) throws {
        let ping: TraceScenario.Service = addresses.family == .ipv4 ? .ping : .init(proto: .icmpv6, icmpType: 128)
        for (_, features) in Self.layouts {
            let ruleset = FirewallCompiler.compile(try Self.unroutedValidated, node: "pve1", features: features).ruleset
            for guest in [Self.vlanGuest, Self.qinqGuest, Self.vxlanGuest, Self.plainGuest] {
                let nic = TraceScenario.Endpoint.guest(id: guest.id, nic: 0)
                let outside = TraceScenario.Endpoint.address(addresses.outside)
                #expect(try Self.firstRefusal(Self.unroutedPath(outside, nic, .init(proto: .tcp, port: 80), features: features), ruleset) == nil)
                #expect(try Self.firstRefusal(Self.unroutedPath(outside, nic, ping, features: features), ruleset) == nil)
                let refused = try #require(try Self.firstRefusal(Self.unroutedPath(outside, nic, .init(proto: .tcp, port: 22), features: features), ruleset))
                #expect(refused.contains("guest-\(guest.id)-net0-in"), "\(guest.id): \(refused)")
            }
            // 301's outbound rule: no mail out, through its VLAN's port too.
            let mail = try Self.unroutedPath(.guest(id: 301, nic: 0), .address(addresses.outside), .init(proto: .tcp, port: 25), features: features)
            #expect(try Self.firstRefusal(mail, ruleset)?.contains("guest-301-net0-out") == true)
            // The node's own traffic to 301 meets 301's inbound policy when it comes back in.
            let nodeSSH = try Self.unroutedPath(.node, .address(addresses.vlan), .init(proto: .tcp, port: 22), features: features)
            #expect(try Self.firstRefusal(nodeSSH, ruleset)?.contains("guest-301-net0-in") == true)
            #expect(try Self.firstRefusal(Self.unroutedPath(.node, .address(addresses.vlan), ping, features: features), ruleset) == nil)
        }
    }

    // MARK: No way beyond

    @Test func aBridgeWithoutAPortOrANodeAddressLeadsNowhere() throws {
        func refusal(_ from: TraceScenario.Endpoint, _ to: TraceScenario.Endpoint) -> String {
            do { _ = try Self.unroutedPath(from, to, features: .full) } catch let error as TraceScenario.TraceError { return error.description } catch { return "\(error)" }
            return "accepted"
        }
        let island = TraceScenario.Endpoint.guest(id: 305, nic: 0)
        for message in [refusal(island, .address(Self.ip("203.0.113.7"))), refusal(.address(Self.ip("203.0.113.7")), island), refusal(.node, island), refusal(island, .node)] {
            #expect(message.contains("node pve1 has no IPv4 address on vmbr2 and vmbr2 has no port out of the node"), "\(message)")
            #expect(message.contains("give uplink vmbr2 a port"), "\(message)")
        }
        // An EVPN vnet: sdn does not build its VXLAN port or gateway yet, and says so.
        let evpn = refusal(.guest(id: 307, nic: 0), .address(Self.ip("203.0.113.7")))
        #expect(evpn.contains("has no port out of the node") && evpn.contains("EVPN zone fab"), "\(evpn)")
        // Within the bridge the guests still reach each other; and 305 to a guest on another bridge is refused too.
        #expect(refusal(island, .guest(id: 301, nic: 0)).contains("vmbr2 has no port"))
    }
}
