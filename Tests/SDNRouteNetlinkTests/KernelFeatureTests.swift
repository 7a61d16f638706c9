import Foundation
import SDNDataplane
import SDNModel
import SDNNetns
import SDNRouteNetlink
import SDNTesting
import Testing

/// Bonds, 802.1Q/802.1ad VLAN links and VLAN-aware bridges: verified with `ip`/`bridge` where the kernel
/// has them (the kernel lab), and where it does not (this sandbox) they must fail with an error that
/// names the problem, never succeed silently.
@Suite("NetlinkLinks kernel features that may be missing", .systemTest(tools: ["ip", "bridge"]))
struct KernelFeatureTests {
    @Test func bond() async throws {
        try await LinkLab.run { lab in
            let spec = LinkSpec(name: "bond0", kind: .bond(BondLinkSettings(mode: .lacp, miimon: 100, lacpRate: .fast, transmitHashPolicy: .layer3and4, minLinks: 1)))
            if let error = await lab.error(of: .createLink(spec)) {
                #expect(error.errno == EOPNOTSUPP)
                #expect(error.message.contains("bond0"))
                #expect(error.message.contains("Unknown device type"), "the kernel's own reason: \(error.message)")
                #expect(error.message.contains("`bond`"), "says which kind: \(error.message)")
                #expect(try !lab.linkExists("bond0"))
            } else {
                let link = try lab.link("bond0")
                #expect(link["linkinfo", "info_data", "mode"] as? String == "802.3ad")
                #expect(link["linkinfo", "info_data", "miimon"] as? Int == 100)
                #expect(link["linkinfo", "info_data", "ad_lacp_rate"] as? String == "fast")
                #expect(link["linkinfo", "info_data", "xmit_hash_policy"] as? String == "layer3+4")
                #expect(link["linkinfo", "info_data", "min_links"] as? Int == 1)
                let observed = try await lab.links.observe()
                #expect(observed.link(named: "bond0")?.spec.kind == spec.kind)
            }
        }
    }

    @Test(arguments: [VLANProtocol.dot1Q, .dot1ad])
    func vlan(_ proto: VLANProtocol) async throws {
        try await LinkLab.run { lab in
            try await lab.perform(.createLink(LinkSpec(name: "uplink", kind: .veth(VethLinkSettings(peer: "uplinkp")))))
            let spec = LinkSpec(name: "uplink.100", kind: .vlan(VLANLinkSettings(parent: "uplink", id: 100, proto: proto)))
            if let error = await lab.error(of: .createLink(spec)) {
                #expect(error.errno == EOPNOTSUPP)
                #expect(error.message.contains("Unknown device type"), "the kernel's own reason: \(error.message)")
                #expect(error.message.contains("`vlan`"))
            } else {
                let link = try lab.link("uplink.100")
                #expect(link["linkinfo", "info_data", "id"] as? Int == 100)
                #expect(link["linkinfo", "info_data", "protocol"] as? String == proto.rawValue)
                #expect(link["link"] as? String == "uplink")
                let observed = try await lab.links.observe()
                #expect(observed.link(named: "uplink.100")?.spec.kind == spec.kind)
            }
        }
    }

    @Test func vlanAwareBridge() async throws {
        try await LinkLab.run { lab in
            let settings = BridgeLinkSettings(vlanFiltering: true, vlanProtocol: .dot1Q, defaultPVID: 1)
            if let error = await lab.error(of: .createLink(LinkSpec(name: "vmbr0", kind: .bridge(settings)))) {
                #expect(error.errno == EOPNOTSUPP)
                #expect(error.message.contains("VLAN filtering"), "names the missing feature: \(error.message)")
                #expect(try !lab.linkExists("vmbr0"))
                // Without filtering, adding a bridge VLAN fails just as clearly.
                try await lab.perform(
                    .createLink(LinkSpec(name: "vmbr0", kind: .bridge(BridgeLinkSettings()))),
                    .createLink(LinkSpec(name: "port", kind: .veth(VethLinkSettings(peer: "portp")))),
                    .setMaster(name: "port", master: "vmbr0")
                )
                let vlanError = await lab.failure(of: .addBridgeVLAN(BridgeVLANEntry(interface: "port", vids: 10...20)))
                #expect(vlanError?.errno == EOPNOTSUPP)
                #expect(vlanError?.message.contains("VLAN filtering") == true, "\(vlanError?.message ?? "")")
                let changeError = await lab.failure(of: .changeKind(name: "vmbr0", kind: .bridge(settings)))
                #expect(changeError?.message.contains("VLAN filtering") == true, "\(changeError?.message ?? "")")
                // A service-VLAN protocol alone would be accepted and ignored by such a kernel: refused instead.
                let qinq = BridgeLinkSettings(vlanProtocol: .dot1ad)
                let protocolError = await lab.failure(of: .changeKind(name: "vmbr0", kind: .bridge(qinq)))
                #expect(protocolError?.errno == EOPNOTSUPP)
                let createError = await lab.failure(of: .createLink(LinkSpec(name: "vmbr1", kind: .bridge(qinq))))
                #expect(createError?.message.contains("VLAN filtering") == true, "\(createError?.message ?? "")")
                #expect(try !lab.linkExists("vmbr1"))
                return
            }
            // A kernel with VLAN filtering: ports' VLANs, ranges, pvid/untagged, and the bridge's own.
            try await lab.perform(
                .createLink(LinkSpec(name: "port", kind: .veth(VethLinkSettings(peer: "portp")))),
                .setMaster(name: "port", master: "vmbr0"),
                .addBridgeVLAN(BridgeVLANEntry(interface: "port", vids: 10...20)),
                .addBridgeVLAN(BridgeVLANEntry(interface: "port", vids: 30...30, pvid: true, untagged: true)),
                .deleteBridgeVLAN(BridgeVLANEntry(interface: "port", vids: 1...1, pvid: true, untagged: true)),
                .addBridgeVLAN(BridgeVLANEntry(interface: "vmbr0", vids: 10...10, onBridgeItself: true))
            )
            let shown = try lab.json("bridge", "vlan", "show", "dev", "port")
            let vlans = shown.first?["vlans"] as? [[String: Any]] ?? []
            #expect(vlans.contains { $0["vlan"] as? Int == 10 && $0["vlanEnd"] as? Int == 20 })
            #expect(vlans.contains { $0["vlan"] as? Int == 30 && ($0["flags"] as? [String] ?? []).contains("PVID") })
            let observed = try await lab.links.observe()
            #expect(observed.bridgeVLANs.filter { $0.interface == "port" } == [
                BridgeVLANEntry(interface: "port", vids: 10...20),
                BridgeVLANEntry(interface: "port", vids: 30...30, pvid: true, untagged: true),
            ])
            #expect(observed.bridgeVLANs.contains(BridgeVLANEntry(interface: "vmbr0", vids: 10...10, onBridgeItself: true)))
            #expect(observed.link(named: "vmbr0")?.spec.kind == .bridge(settings))
        }
    }
}
