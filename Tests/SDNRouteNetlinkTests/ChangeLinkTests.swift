import Foundation
import SDNDataplane
import SDNModel
import SDNNetns
import SDNRouteNetlink
import SDNTesting
import Testing

/// Changes to existing links, checked with `ip -j -d link`.
@Suite("NetlinkLinks changes links", .systemTest(tools: ["ip"]))
struct ChangeLinkTests {
    @Test func mtuMACAndAlias() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(
                .createLink(LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))),
                .setMTU(name: "vnet1", mtu: 1300),
                .setMACAddress(name: "vnet1", mac: mac("02:00:00:00:00:42")),
                .setAlias(name: "vnet1", alias: "sdn:vnet/vnet1")
            )
            var link = try lab.link("vnet1")
            #expect(link["mtu"] as? Int == 1300)
            #expect(link["address"] as? String == "02:00:00:00:00:42")
            #expect(link["ifalias"] as? String == "sdn:vnet/vnet1")
            try await lab.perform(.setAlias(name: "vnet1", alias: nil))
            link = try lab.link("vnet1")
            #expect(link["ifalias"] == nil)
            let observed = try await lab.links.observe()
            #expect(observed.link(named: "vnet1")?.spec.alias == nil)
        }
    }

    @Test func upAndDown() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(.createLink(LinkSpec(name: "veth0", kind: .veth(VethLinkSettings(peer: "veth0p")))), .setUp(name: "veth0", up: true))
            #expect(try lab.link("veth0").flags.contains("UP"))
            try await lab.perform(.setUp(name: "veth0", up: false))
            #expect(try !lab.link("veth0").flags.contains("UP"))
        }
    }

    @Test func masterAndNomaster() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(
                .createLink(LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))),
                .createLink(LinkSpec(name: "vxlan_vnet1", kind: .vxlan(VXLANLinkSettings(vni: 1)))),
                .setMaster(name: "vxlan_vnet1", master: "vnet1")
            )
            #expect(try lab.link("vxlan_vnet1")["master"] as? String == "vnet1")
            try await lab.perform(.setMaster(name: "vxlan_vnet1", master: nil))
            #expect(try lab.link("vxlan_vnet1")["master"] == nil)
        }
    }

    @Test func bridgePortLearningOffIsolatedOn() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(
                .createLink(LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))),
                .createLink(LinkSpec(name: "tap100i0", kind: .veth(VethLinkSettings(peer: "peer0")))),
                .setMaster(name: "tap100i0", master: "vnet1"),
                .setBridgePort(name: "tap100i0", settings: BridgePortSettings(learning: false, isolated: true))
            )
            let port = try lab.link("tap100i0")
            #expect(port["linkinfo", "info_slave_data", "learning"] as? Bool == false)
            #expect(port["linkinfo", "info_slave_data", "isolated"] as? Bool == true)
            let observed = try await lab.links.observe()
            #expect(observed.link(named: "tap100i0")?.spec.bridgePort == BridgePortSettings(learning: false, isolated: true))

            try await lab.perform(.setBridgePort(name: "tap100i0", settings: BridgePortSettings()))
            let reset = try lab.link("tap100i0")
            #expect(reset["linkinfo", "info_slave_data", "learning"] as? Bool == true)
            #expect(reset["linkinfo", "info_slave_data", "isolated"] as? Bool == false)
        }
    }

    @Test func bridgePortSettingsOnANonPortNameTheProblem() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(.createLink(LinkSpec(name: "lonely", kind: .veth(VethLinkSettings(peer: "lonelyp")))))
            let error = await lab.failure(of: .setBridgePort(name: "lonely", settings: BridgePortSettings(learning: false)))
            #expect(error != nil)
            #expect(error?.message.contains("lonely") == true)
            #expect(error?.message.contains("bridge") == true)
        }
    }

    @Test func changeKindSendsOnlyWhatDiffers() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(
                .createLink(LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))),
                .createLink(LinkSpec(name: "vx", kind: .vxlan(VXLANLinkSettings(vni: 5, local: address("192.0.2.1"), learning: false)))),
                .createLink(LinkSpec(name: "mv", kind: .macvlan(MacvlanLinkSettings(parent: "vnet1", mode: .bridge))))
            )
            let before = lab.links.writeCount
            // Unchanged settings: nothing to send (a VXLAN refuses even an unchanged port).
            try await lab.perform(
                .changeKind(name: "vnet1", kind: .bridge(BridgeLinkSettings())),
                .changeKind(name: "vx", kind: .vxlan(VXLANLinkSettings(vni: 5, local: address("192.0.2.1"), learning: false)))
            )
            #expect(lab.links.writeCount == before)

            try await lab.perform(
                .changeKind(name: "vnet1", kind: .bridge(BridgeLinkSettings(stp: true))),
                .changeKind(name: "vx", kind: .vxlan(VXLANLinkSettings(vni: 5, local: address("192.0.2.1"), learning: true))),
                .changeKind(name: "mv", kind: .macvlan(MacvlanLinkSettings(parent: "vnet1", mode: .vepa)))
            )
            #expect(lab.links.writeCount == before + 3)
            #expect(try lab.link("vnet1")["linkinfo", "info_data", "stp_state"] as? Int == 1)
            #expect(try lab.link("vx")["linkinfo", "info_data", "learning"] as? Bool == true)
            #expect(try lab.link("mv")["linkinfo", "info_data", "mode"] as? String == "vepa")
        }
    }

    @Test func changeKindRefusesWhatNeedsARecreate() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(.createLink(LinkSpec(name: "vx", kind: .vxlan(VXLANLinkSettings(vni: 5)))))
            let vni = await lab.failure(of: .changeKind(name: "vx", kind: .vxlan(VXLANLinkSettings(vni: 6))))
            #expect(vni?.errno == EOPNOTSUPP)
            #expect(vni?.message.contains("VNI") == true)
            let kind = await lab.failure(of: .changeKind(name: "vx", kind: .bridge(BridgeLinkSettings())))
            #expect(kind?.message.contains("recreate") == true)
        }
    }

    @Test func forwardingOnBothFamilies() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(
                .createLink(LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))),
                .setForwarding(ForwardingSetting(interface: "vnet1", family: .ipv4, enabled: true)),
                .setForwarding(ForwardingSetting(interface: "vnet1", family: .ipv6, enabled: true))
            )
            #expect(try lab.shell("cat", "/proc/sys/net/ipv4/conf/vnet1/forwarding").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            #expect(try lab.shell("cat", "/proc/sys/net/ipv6/conf/vnet1/forwarding").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            var observed = try await lab.links.observe()
            #expect(observed.forwarding.contains(ForwardingSetting(interface: "vnet1", family: .ipv4, enabled: true)))
            #expect(observed.forwarding.contains(ForwardingSetting(interface: "vnet1", family: .ipv6, enabled: true)))

            try await lab.perform(.setForwarding(ForwardingSetting(interface: "vnet1", family: .ipv4, enabled: false)))
            observed = try await lab.links.observe()
            #expect(observed.forwarding.contains(ForwardingSetting(interface: "vnet1", family: .ipv4, enabled: false)))
            let missing = await lab.failure(of: .setForwarding(ForwardingSetting(interface: "nothere", family: .ipv6, enabled: true)))
            #expect(missing?.errno == ENODEV)
        }
    }

    /// The node-wide switches are read with RTM_GETNETCONF and written through the sysctl; writing one
    /// sets every link's switch too (the kernel's rule the planner relies on). accept_ra is read from
    /// the link dump and written through the sysctl, as is read `default`'s.
    @Test func nodeWideForwardingAndAcceptRA() async throws {
        try await LinkLab.run { lab in
            func sysctl(_ path: String) throws -> String {
                try lab.shell("cat", "/proc/sys/net/\(path)").trimmingCharacters(in: .whitespacesAndNewlines)
            }
            try await lab.perform(.createLink(LinkSpec(name: "up0", kind: .veth(VethLinkSettings(peer: "up0p")))))
            var observed = try await lab.links.observe()
            // A fresh namespace forwards nothing and takes advertisements where it does not forward.
            #expect(observed.nodeForwarding(.ipv6) == false)
            #expect(observed.nodeForwarding(.ipv4) == false)
            #expect(observed.routerAdvertisements.contains(RouterAdvertisementSetting(interface: "up0", acceptRA: 1)))
            #expect(observed.defaultAcceptRA == 1)

            try await lab.perform(.setRouterAdvertisements(RouterAdvertisementSetting(interface: "up0", acceptRA: 2)))
            #expect(try sysctl("ipv6/conf/up0/accept_ra") == "2")
            try await lab.perform(.setNodeForwarding(NodeForwardingSetting(family: .ipv6, enabled: true)))
            #expect(try sysctl("ipv6/conf/all/forwarding") == "1")
            observed = try await lab.links.observe()
            #expect(observed.nodeForwarding(.ipv6) == true)
            #expect(observed.nodeForwarding(.ipv4) == false)
            #expect(observed.forwarding.contains(ForwardingSetting(interface: "up0", family: .ipv6, enabled: true)), "all.forwarding sets every link's")
            #expect(observed.routerAdvertisements.contains(RouterAdvertisementSetting(interface: "up0", acceptRA: 2)))

            try await lab.perform(.setNodeForwarding(NodeForwardingSetting(family: .ipv4, enabled: true)))
            #expect(try sysctl("ipv4/ip_forward") == "1")
            try await lab.perform(.setNodeForwarding(NodeForwardingSetting(family: .ipv6, enabled: false)))
            observed = try await lab.links.observe()
            #expect(observed.nodeForwarding(.ipv6) == false)
            #expect(observed.nodeForwarding(.ipv4) == true)

            let missing = await lab.failure(of: .setRouterAdvertisements(RouterAdvertisementSetting(interface: "nothere", acceptRA: 2)))
            #expect(missing?.errno == ENODEV)
        }
    }
}
