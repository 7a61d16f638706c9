import Foundation
import SDNDataplane
import SDNModel
import SDNNetns
import SDNRouteNetlink
import SDNTesting
import Testing

/// Each link kind this kernel has, created through netlink and read back with `ip -j -d link`.
@Suite("NetlinkLinks creates links", .systemTest(tools: ["ip"]))
struct CreateLinkTests {
    @Test func bridgeWithAttributes() async throws {
        try await LinkLab.run { lab in
            let spec = LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings(stp: true)), mtu: 1400,
                                macAddress: mac("02:00:00:00:01:01"), alias: LinkOwnership.alias(owner: "vnet/vnet1"))
            try await lab.perform(.createLink(spec))
            let link = try lab.link("vnet1")
            #expect(link["linkinfo", "info_kind"] as? String == "bridge")
            #expect(link["linkinfo", "info_data", "stp_state"] as? Int == 1)
            #expect(link["mtu"] as? Int == 1400)
            #expect(link["address"] as? String == "02:00:00:00:01:01")
            #expect(link["ifalias"] as? String == "sdn:vnet/vnet1")
            #expect(!link.flags.contains("UP"), "links are created down")
        }
    }

    @Test func vxlanWithAttributes() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(
                .createLink(LinkSpec(name: "underlay", kind: .bridge(BridgeLinkSettings()))),
                .createLink(LinkSpec(name: "vxlan_vnet1", kind: .vxlan(VXLANLinkSettings(
                    vni: 4242, local: address("192.0.2.1"), port: 4790, learning: false, device: "underlay"
                )), mtu: 1450))
            )
            let link = try lab.link("vxlan_vnet1")
            #expect(link["linkinfo", "info_kind"] as? String == "vxlan")
            #expect(link["linkinfo", "info_data", "id"] as? Int == 4242)
            #expect(link["linkinfo", "info_data", "local"] as? String == "192.0.2.1")
            #expect(link["linkinfo", "info_data", "port"] as? Int == 4790)
            #expect(link["linkinfo", "info_data", "learning"] as? Bool == false)
            #expect(link["linkinfo", "info_data", "link"] as? String == "underlay")
            #expect(link["mtu"] as? Int == 1450)
        }
    }

    @Test func vxlanWithIPv6Local() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(.createLink(LinkSpec(name: "vx6", kind: .vxlan(VXLANLinkSettings(vni: 7, local: address("2001:db8::1"), learning: true)))))
            let link = try lab.link("vx6")
            #expect(link["linkinfo", "info_data", "local6"] as? String == "2001:db8::1")
            #expect(link["linkinfo", "info_data", "learning"] as? Bool == true)
        }
    }

    @Test func vethPairInThisNamespace() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(.createLink(LinkSpec(name: "veth0", kind: .veth(VethLinkSettings(peer: "veth0p")), mtu: 9000)))
            let link = try lab.link("veth0")
            #expect(link["linkinfo", "info_kind"] as? String == "veth")
            #expect(link["link"] as? String == "veth0p")
            #expect(link["mtu"] as? Int == 9000)
            #expect(try lab.link("veth0p")["mtu"] as? Int == 9000, "the peer gets the same MTU")
        }
    }

    @Test func vethPeerMovedIntoANamedNamespace() async throws {
        try await LinkLab.run { lab in
            try await withTemporaryNetworkNamespace { guest in
                try await lab.perform(.createLink(LinkSpec(name: "veth100i0", kind: .veth(VethLinkSettings(peer: "eth0", peerNamespace: guest.name!)))))
                #expect(try lab.linkExists("veth100i0"))
                #expect(try !lab.linkExists("eth0"))
                let peer = try Shell.output(["ip", "-j", "-d", "link", "show", "dev", "eth0"], in: guest)
                #expect(peer.contains("\"info_kind\":\"veth\""))
                // Seen from here, the peer lives elsewhere: no name to report.
                let observed = try await lab.links.observe()
                #expect(observed.link(named: "veth100i0")?.spec.kind == .veth(VethLinkSettings(peer: "")))
            }
        }
    }

    @Test(.systemTest(paths: ["/dev/net/tun"]))
    func tap() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(.createLink(LinkSpec(name: "tap100i0", kind: .tap, mtu: 1400, macAddress: mac("02:00:00:00:64:00"), alias: "sdn:guest/100")))
            let link = try lab.link("tap100i0")
            #expect(link["linkinfo", "info_kind"] as? String == "tun")
            #expect(link["linkinfo", "info_data", "type"] as? String == "tap")
            #expect(link["linkinfo", "info_data", "persist"] as? Bool == true)
            #expect(link["mtu"] as? Int == 1400)
            #expect(link["address"] as? String == "02:00:00:00:64:00")
            #expect(link["ifalias"] as? String == "sdn:guest/100")
            #expect(!link.flags.contains("UP"))
        }
    }

    @Test func macvlan() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(
                .createLink(LinkSpec(name: "lower", kind: .bridge(BridgeLinkSettings()))),
                .createLink(LinkSpec(name: "mv0", kind: .macvlan(MacvlanLinkSettings(parent: "lower", mode: .private))))
            )
            let link = try lab.link("mv0")
            #expect(link["linkinfo", "info_kind"] as? String == "macvlan")
            #expect(link["linkinfo", "info_data", "mode"] as? String == "private")
            #expect(link["link"] as? String == "lower")
        }
    }

    @Test func existingNameFailsWithEEXIST() async throws {
        try await LinkLab.run { lab in
            let spec = LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))
            try await lab.perform(.createLink(spec))
            let error = await lab.failure(of: .createLink(spec))
            #expect(error?.errno == EEXIST)
            #expect(error?.message.contains("vnet1") == true)
            #expect(error?.operation == .createLink(spec))
        }
    }

    @Test(.systemTest(paths: ["/dev/net/tun"]))
    func existingTapNameFailsWithEEXIST() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(.createLink(LinkSpec(name: "tap1", kind: .tap)))
            let error = await lab.failure(of: .createLink(LinkSpec(name: "tap1", kind: .tap)))
            #expect(error?.errno == EEXIST)
        }
    }

    @Test func missingParentFailsWithENODEV() async throws {
        try await LinkLab.run { lab in
            let error = await lab.failure(of: .createLink(LinkSpec(name: "mv0", kind: .macvlan(MacvlanLinkSettings(parent: "nothere")))))
            #expect(error?.errno == ENODEV)
            #expect(error?.message.contains("nothere") == true)
        }
    }

    @Test func deleteLink() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(.createLink(LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))), .deleteLink(name: "vnet1"))
            #expect(try !lab.linkExists("vnet1"))
            let error = await lab.failure(of: .deleteLink(name: "vnet1"))
            #expect(error?.errno == ENODEV)
        }
    }

    @Test func recreatedNameIsFoundAfterItsIndexChanged() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(
                .createLink(LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))),
                .createLink(LinkSpec(name: "port", kind: .veth(VethLinkSettings(peer: "portp")))),
                .setMaster(name: "port", master: "vnet1")
            )
            // Behind our back: the bridge is replaced by another one with the same name (a new index).
            try lab.shell("ip", "link", "del", "vnet1")
            try lab.shell("ip", "link", "add", "vnet1", "type", "bridge")
            try await lab.perform(.setMaster(name: "port", master: "vnet1"))
            #expect(try lab.link("port")["master"] as? String == "vnet1")
        }
    }
}
