import Foundation
import SDNTesting
import Testing

/// `sdn apply --links` inside the lab guest. In the same (serialized) suite as the harness tests,
/// so no two guests boot at once.
extension KernelLabTests {
    /// `sdn apply --links` programs a bond, a VLAN-aware bridge and a VLAN sub-interface through
    /// rtnetlink (libnl-3) where the kernel has them, and `ip`/`bridge` read back exactly what
    /// Fixtures/links-basic describes; a second apply succeeds too.
    @Test func appliesBondVLANAwareBridgeAndVLAN() async throws {
        let result = try await KernelLab.run(
            script: """
                # The node's NICs: dummies with the MACs the topology names.
                ip link add eno1 address b4:96:91:00:10:01 type dummy
                ip link add eno2 address b4:96:91:00:10:02 type dummy
                sdn apply --links --config /lab/fixture --node lab --yes
                echo "apply status $?"
                sdn apply --links --config /lab/fixture --node lab --yes
                echo "second apply status $?"
                section links ip -j -d link show
                section addresses ip -j address show
                section vlans bridge -j -c vlan show
                """,
            files: ["/lab/fixture": fixturesDirectory("links-basic")],
            binaries: [try KernelLab.productBinary()]
        )
        print("kernel lab: apply --links boot \(Self.timing(result))")
        #expect(result.stdout.contains("apply status 0"), "sdn apply failed:\n\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("second apply status 0"), "second sdn apply failed:\n\(result.stdout)\n\(result.stderr)")

        let links = try result.decodeSection("links", as: [IPLink].self)
        let bond = try #require(links["bond0"], "no bond0; links: \(links.map(\.ifname))")
        #expect(bond.kind == "bond")
        #expect(bond.linkinfo?.infoData?.mode == "802.3ad")
        #expect(bond.mtu == 9000)
        #expect(bond.master == "vmbr0")
        #expect(links["eno1"]?.master == "bond0")
        #expect(links["eno2"]?.master == "bond0")

        let bridge = try #require(links["vmbr0"])
        #expect(bridge.kind == "bridge")
        #expect(bridge.linkinfo?.infoData?.vlanFiltering == 1)
        #expect(bridge.mtu == 9000)

        let management = try #require(links["vmbr0.10"])
        #expect(management.kind == "vlan")
        #expect(management.link == "vmbr0")
        #expect(management.linkinfo?.infoData?.id == 10)

        struct Addresses: Decodable {
            var ifname: String
            var addrInfo: [Address]
            struct Address: Decodable {
                var local: String
                var prefixlen: Int
            }
            enum CodingKeys: String, CodingKey { case ifname, addrInfo = "addr_info" }
        }
        let addresses = try result.decodeSection("addresses", as: [Addresses].self)
        let managementAddresses = addresses.first { $0.ifname == "vmbr0.10" }?.addrInfo.map { "\($0.local)/\($0.prefixlen)" } ?? []
        #expect(managementAddresses.contains("192.168.10.11/24"))

        let ports = try result.decodeSection("vlans", as: [BridgeVLANPort].self)
        let bondPort = try #require(ports.first { $0.ifname == "bond0" }, "bond0 carries no VLANs")
        #expect(bondPort.vids == Set(1...4094))
        #expect(bondPort.pvid == 1)
    }
}
