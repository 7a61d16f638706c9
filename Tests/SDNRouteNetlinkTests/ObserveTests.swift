import Foundation
import SDNDataplane
import SDNModel
import SDNNetns
import SDNRouteNetlink
import SDNTesting
import Testing

/// What `observe()` reads back equals what `perform` created, for the fields `sdn` manages.
@Suite("NetlinkLinks observe round trip", .systemTest(tools: ["ip"]))
struct ObserveTests {
    @Test func observedSpecsEqualTheCreatedOnes() async throws {
        try await LinkLab.run { lab in
            let bridge = LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings(stp: true)), mtu: 1450, up: true,
                                  macAddress: mac("02:00:00:00:01:01"), alias: "sdn:vnet/vnet1")
            let underlay = LinkSpec(name: "uplink", kind: .veth(VethLinkSettings(peer: "uplinkp")), mtu: 1500, up: true,
                                    macAddress: mac("02:00:00:00:01:00"), alias: "sdn:uplink")
            let vxlan = LinkSpec(name: "vxlan_vnet1", kind: .vxlan(VXLANLinkSettings(vni: 100, local: address("192.0.2.1"), port: 4789, learning: false, device: "uplink")),
                                 mtu: 1450, master: "vnet1", up: true, macAddress: mac("02:00:00:00:01:02"), alias: "sdn:vnet/vnet1",
                                 bridgePort: BridgePortSettings(learning: false, isolated: false))
            let veth = LinkSpec(name: "veth101i0", kind: .veth(VethLinkSettings(peer: "veth101p")), mtu: 1450, master: "vnet1", up: false,
                                macAddress: mac("02:00:00:00:01:03"), alias: "sdn:guest/101",
                                bridgePort: BridgePortSettings(learning: true, isolated: true))
            let macvlan = LinkSpec(name: "mv0", kind: .macvlan(MacvlanLinkSettings(parent: "vnet1", mode: .bridge)), mtu: 1400, up: false,
                                   macAddress: mac("02:00:00:00:01:04"), alias: "sdn:mv")
            var specs = [underlay, bridge, vxlan, veth, macvlan]
            if FileManager.default.fileExists(atPath: "/dev/net/tun") {
                specs.append(LinkSpec(name: "tap102i0", kind: .tap, mtu: 1450, master: "vnet1", up: true, macAddress: mac("02:00:00:00:01:05"),
                                      alias: "sdn:guest/102", bridgePort: BridgePortSettings(learning: false, isolated: true)))
            }
            for spec in specs {
                try await lab.perform(.createLink(spec))
            }
            for spec in specs {
                if let master = spec.master { try await lab.perform(.setMaster(name: spec.name, master: master)) }
                if let port = spec.bridgePort { try await lab.perform(.setBridgePort(name: spec.name, settings: port)) }
                if spec.up { try await lab.perform(.setUp(name: spec.name, up: true)) }
            }

            let observed = try await lab.links.observe()
            for spec in specs {
                let link = try #require(observed.link(named: spec.name), "\(spec.name) observed")
                #expect(link.spec == spec)
                #expect(link.spec.owner != nil, "ownership mark on \(spec.name)")
                #expect(link.index > 0)
            }
            // The peer, made by the kernel alongside, is reported as a veth pointing back.
            #expect(observed.link(named: "veth101p")?.spec.kind == .veth(VethLinkSettings(peer: "veth101i0")))
            #expect(observed.link(named: "lo")?.spec.kind == .other(""))
            #expect(observed.link(named: "lo")?.operationallyUp == true)
        }
    }

    @Test func observeIsEmptyOfOurStateInAFreshNamespace() async throws {
        try await LinkLab.run { lab in
            let observed = try await lab.links.observe()
            #expect(observed.links.map(\.spec.name) == ["lo"])
            #expect(observed.fdb.isEmpty)
            #expect(observed.bridgeVLANs.isEmpty)
            #expect(observed.routes.isEmpty)
        }
    }
}
