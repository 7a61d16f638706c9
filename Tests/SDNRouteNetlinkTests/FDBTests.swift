import Foundation
import SDNDataplane
import SDNModel
import SDNNetns
import SDNRouteNetlink
import SDNTesting
import Testing

/// Forwarding database entries, checked with `bridge -j fdb`.
@Suite("NetlinkLinks FDB entries", .systemTest(tools: ["ip", "bridge"]))
struct FDBTests {
    @Test func vxlanHeadEndReplicationToThreePeers() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(
                .createLink(LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))),
                .createLink(LinkSpec(name: "vxlan_vnet1", kind: .vxlan(VXLANLinkSettings(vni: 100, local: address("192.0.2.1"))))),
                .setMaster(name: "vxlan_vnet1", master: "vnet1")
            )
            let peers = ["192.0.2.2", "192.0.2.3", "192.0.2.4"].map {
                FDBEntrySpec(interface: "vxlan_vnet1", mac: FDBEntrySpec.floodMAC, kind: .vxlanRemote, destination: address($0))
            }
            for peer in peers { try await lab.perform(.addFDB(peer)) }
            // Appending the same remote again changes nothing and is no error.
            try await lab.perform(.addFDB(peers[0]))

            let shown = try lab.json("bridge", "fdb", "show", "dev", "vxlan_vnet1").filter { $0["mac"] as? String == "00:00:00:00:00:00" }
            #expect(shown.count == 3)
            #expect(Set(shown.compactMap { $0["dst"] as? String }) == ["192.0.2.2", "192.0.2.3", "192.0.2.4"])
            #expect(shown.allSatisfy { $0["state"] as? String == "permanent" && ($0["flags"] as? [String] ?? []).contains("self") })

            let observed = try await lab.links.observe()
            // Only our entries: not the bridge's permanent entry for the vxlan's own address.
            #expect(Set(observed.fdb) == Set(peers))

            try await lab.perform(.deleteFDB(peers[1]))
            let after = try await lab.links.observe()
            #expect(Set(after.fdb) == [peers[0], peers[2]])
        }
    }

    @Test func bridgeStaticEntry() async throws {
        try await LinkLab.run { lab in
            try await lab.perform(
                .createLink(LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))),
                .createLink(LinkSpec(name: "tap100i0", kind: .veth(VethLinkSettings(peer: "guest0")))),
                .setMaster(name: "tap100i0", master: "vnet1")
            )
            let entry = FDBEntrySpec(interface: "tap100i0", mac: mac("52:54:00:12:34:56"), kind: .bridgeStatic)
            try await lab.perform(.addFDB(entry))
            let shown = try lab.json("bridge", "fdb", "show", "dev", "tap100i0").filter { $0["mac"] as? String == "52:54:00:12:34:56" }
            #expect(shown.count == 1)
            #expect(shown.first?["state"] as? String == "static")
            #expect(shown.first?["master"] as? String == "vnet1")

            let observed = try await lab.links.observe()
            #expect(observed.fdb == [entry])
            let duplicate = await lab.failure(of: .addFDB(entry))
            #expect(duplicate?.errno == EEXIST)

            try await lab.perform(.deleteFDB(entry))
            #expect(try lab.json("bridge", "fdb", "show", "dev", "tap100i0").allSatisfy { $0["mac"] as? String != "52:54:00:12:34:56" })
        }
    }
}
