import Foundation
import SDNTesting
import Testing

/// The kernel lab itself: link kinds this machine's kernel lacks, created with the real `ip` inside
/// a QEMU guest running Debian's kernel, and the `sdn` executable running there. Each test is one
/// boot (seconds under TCG); the suite is serialized so boots don't fight over the two cores.
@Suite(.serialized, .kernelLab)
struct KernelLabTests {
    static let bondModes = ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"]

    /// Bonds in all seven modes over two dummies each, an 802.1Q and an 802.1ad VLAN, a
    /// VLAN-filtering bridge with a veth port carrying VLANs 10–20 (PVID 10 untagged) and a VRF,
    /// in one boot, read back with `ip -j -d link` and `bridge -j vlan`.
    @Test func linkKindsTheSandboxKernelLacks() async throws {
        var script = "set -e\n"
        for (index, mode) in Self.bondModes.enumerated() {
            script += """
                ip link add bond\(index) type bond mode \(mode)
                ip link add bond\(index)a type dummy
                ip link add bond\(index)b type dummy
                ip link set bond\(index)a master bond\(index)
                ip link set bond\(index)b master bond\(index)

                """
        }
        script += """
            ip link add trunk type dummy
            ip link add link trunk name trunk.100 type vlan id 100
            ip link add link trunk name trunk.200 type vlan protocol 802.1ad id 200
            ip link add br0 type bridge vlan_filtering 1
            ip link add port0 type veth peer name port0peer
            ip link set port0 master br0
            bridge vlan add dev port0 vid 10-20
            bridge vlan add dev port0 vid 10 pvid untagged
            bridge vlan del dev port0 vid 1
            ip link add blue type vrf table 10
            ip link set trunk.100 master blue
            section links ip -j -d link show
            section vlans bridge -j vlan show

            """
        let result = try await KernelLab.run(script: script)
        print("kernel lab: links boot \(Self.timing(result))")
        #expect(result.exitCode == 0, "script failed: \(result.stderr)")

        let links = try result.decodeSection("links", as: [IPLink].self)
        for (index, mode) in Self.bondModes.enumerated() {
            let bond = try #require(links["bond\(index)"], "bond\(index) (\(mode)) missing")
            #expect(bond.kind == "bond")
            #expect(bond.linkinfo?.infoData?.mode == mode)
            for member in ["bond\(index)a", "bond\(index)b"] {
                #expect(links[member]?.master == "bond\(index)", "\(member) is not in bond\(index)")
                #expect(links[member]?.linkinfo?.infoSlaveKind == "bond")
            }
        }

        let dot1q = try #require(links["trunk.100"])
        #expect(dot1q.kind == "vlan")
        #expect(dot1q.link == "trunk")
        #expect(dot1q.linkinfo?.infoData?.protocol == "802.1Q")
        #expect(dot1q.linkinfo?.infoData?.id == 100)
        #expect(dot1q.master == "blue")
        let dot1ad = try #require(links["trunk.200"])
        #expect(dot1ad.linkinfo?.infoData?.protocol == "802.1ad")
        #expect(dot1ad.linkinfo?.infoData?.id == 200)

        let bridge = try #require(links["br0"])
        #expect(bridge.kind == "bridge")
        #expect(bridge.linkinfo?.infoData?.vlanFiltering == 1)
        #expect(links["port0"]?.master == "br0")

        let vrf = try #require(links["blue"])
        #expect(vrf.kind == "vrf")
        #expect(vrf.linkinfo?.infoData?.table == 10)

        let ports = try result.decodeSection("vlans", as: [BridgeVLANPort].self)
        let vlans = try result.section("vlans")
        let port = try #require(ports.first { $0.ifname == "port0" }, "port0 has no VLANs: \(vlans)")
        #expect(port.vids == Set(10...20))
        #expect(port.pvid == 10)
        #expect(port.untagged == [10])
    }

    /// The `sdn` executable built from this tree runs in the guest: every shared library it links
    /// is there, `--help` works, and `sdn validate` reads an example from the guest's file system.
    @Test func productExecutableRunsInTheGuest() async throws {
        let sdn = try KernelLab.productBinary()
        let example = repositoryRoot + "/examples/three-node-vxlan"
        let result = try await KernelLab.run(
            script: """
                section libraries /lib64/ld-linux-x86-64.so.2 --list /usr/local/bin/sdn
                section help sdn --help
                section validate sdn validate --output json /lab/example
                echo "validate status $?"
                """,
            files: ["/lab/example": example],
            binaries: [sdn]
        )
        print("kernel lab: sdn boot \(Self.timing(result))")
        #expect(result.exitCode == 0, "script failed: \(result.stderr)")

        let libraries = try result.section("libraries")
        #expect(!libraries.contains("not found"), "missing libraries in the guest:\n\(libraries)")
        #expect(libraries.contains("libnl-3.so"))
        #expect(try result.section("help").contains("USAGE: sdn <subcommand>"), "stderr: \(result.stderr)")

        #expect(result.stdout.contains("validate status 0"), "sdn validate failed: \(result.stderr)")
        struct Validation: Decodable {
            var valid: Bool
            var files: [String]
        }
        let validation = try result.decodeSection("validate", as: Validation.self)
        #expect(validation.valid)
        #expect(validation.files.count == 4)
    }

    /// A guest that never finishes is killed at the timeout, and the error carries its console.
    @Test func hungGuestIsKilledAtTheTimeout() async throws {
        let started = ContinuousClock.now
        let error = try await #require(throws: KernelLabError.self) {
            try await KernelLab.run(script: "sleep 600", timeout: .seconds(3))
        }
        #expect(error.code == .timedOut)
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    static func timing(_ result: KernelLabResult) -> String {
        let boot = result.bootSeconds.map { String(format: "%.2f s", $0) } ?? "?"
        let guest = result.guestSeconds.map { String(format: "%.2f s", $0) } ?? "?"
        return "to script start \(boot), guest total \(guest), wall \(result.wallTime)"
    }
}
