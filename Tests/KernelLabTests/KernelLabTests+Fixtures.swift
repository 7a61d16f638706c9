import Foundation
import SDNTesting
import Testing

/// `sdn apply --links` on the kernel lab fixtures, in one boot: every bond mode, a VLAN-aware bridge
/// over a bond with 802.1Q and 802.1ad sub-interfaces, vlan and qinq zones and guest ports with access
/// tags and trunks. Each apply is followed by `sdn plan` (exit 0: nothing left to do, so a second apply
/// makes no kernel write); then one attribute of each class changes and the plan's words are checked
/// against what the kernel did.
extension KernelLabTests {
    static func jsonObjects(_ result: KernelLabResult, _ section: String) throws -> [String: [String: Any]] {
        let text = try result.section(section)
        let array = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
        return Dictionary(array.map { ($0["ifname"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
    }

    static func info(_ link: [String: Any]?) -> [String: Any] {
        ((link?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any]) ?? [:]
    }

    @Test func sdnProgramsEveryBondModeVLANsQinQAndGuestPorts() async throws {
        let fixtures = fixturesDirectory()
        let bondMembers = ["rr", "ab", "xor", "bc", "lacp", "tlb", "alb"].flatMap { ["\($0)a", "\($0)b"] }
        let result = try await KernelLab.run(
            script: """
                for n in eno1 eno2 eno3 \(bondMembers.joined(separator: " ")); do ip link add $n type dummy; done
                for t in tap300i0 tap300i1 tap301i0; do ip tuntap add dev $t mode tap; done
                sdn apply --links --config /lab/vlans --node lab --yes >/tmp/apply-vlans 2>&1; echo "apply vlans $?"
                sdn plan --links --config /lab/vlans --node lab >/tmp/plan-vlans 2>&1; echo "plan vlans $?"
                section vlans-links ip -j -d link show
                section vlans-bridge bridge -j vlan show
                section vlans-addresses ip -j addr show
                sdn apply --links --config /lab/bonds --node lab --yes >/tmp/apply-bonds 2>&1; echo "apply bonds $?"
                sdn plan --links --config /lab/bonds --node lab >/tmp/plan-bonds 2>&1; echo "plan bonds $?"
                section bonds-links ip -j -d link show
                sdn plan --links --config /lab/bonds-changed --node lab >/tmp/plan-changed 2>&1; echo "plan changed $?"
                section plan-changed cat /tmp/plan-changed
                sdn apply --links --config /lab/bonds-changed --node lab --yes >/tmp/apply-changed 2>&1; echo "apply changed $?"
                sdn plan --links --config /lab/bonds-changed --node lab >/tmp/plan-after 2>&1; echo "plan after $?"
                section changed-links ip -j -d link show
                for f in /tmp/apply-* /tmp/plan-vlans /tmp/plan-bonds /tmp/plan-after; do echo "--- $f"; cat $f; done
                """,
            files: ["/lab/vlans": fixtures + "/vlans", "/lab/bonds": fixtures + "/bonds", "/lab/bonds-changed": fixtures + "/bonds-changed"],
            binaries: [try KernelLab.productBinary()],
            timeout: .seconds(240)
        )
        print("kernel lab: sdn fixtures boot \(Self.timing(result))")
        // The plan predicted the kernel exactly: no apply needed a second round.
        #expect(!result.stdout.contains("differs from the plan's prediction"), "\(result.stdout)")
        for line in ["apply vlans 0", "plan vlans 0", "apply bonds 0", "plan bonds 0", "plan changed 3", "apply changed 0", "plan after 0"] {
            #expect(result.stdout.contains(line), "expected `\(line)`:\n\(result.stdout)")
        }

        // VLANs: uplinks, zones and guest ports as the topology says.
        let links = try Self.jsonObjects(result, "vlans-links")
        #expect(Self.info(links["bond0"])["mode"] as? String == "active-backup")
        #expect(links["bond0"]?["master"] as? String == "vmbr0")
        #expect(links["bond0"]?["mtu"] as? Int == 9000)
        #expect(links["vmbr0"]?["mtu"] as? Int == 9000)
        #expect(Self.info(links["vmbr0"])["vlan_filtering"] as? Int == 1)
        #expect(links["vmbr0"]?["ifalias"] as? String == "sdn:uplink:vmbr0")
        for (name, parent, id, proto) in [("vmbr0.10", "vmbr0", 10, "802.1Q"), ("eno3.200", "eno3", 200, "802.1ad"),
                                          ("vmbr0.20", "vmbr0", 20, "802.1Q"), ("eno3.500", "eno3", 500, "802.1ad"),
                                          ("carrier.10", "eno3.500", 10, "802.1Q")] {
            let link = try #require(links[name], "\(name) missing")
            #expect(link["link"] as? String == parent, "\(name) parent")
            #expect(Self.info(link)["id"] as? Int == id, "\(name) id")
            #expect(Self.info(link)["protocol"] as? String == proto, "\(name) protocol")
        }
        #expect(links["vmbr0.20"]?["master"] as? String == "web")
        #expect(links["carrier.10"]?["master"] as? String == "cust-a")
        #expect(links["tap301i0"]?["master"] as? String == "vmbr0")
        let addresses = try Self.jsonObjects(result, "vlans-addresses")
        #expect((addresses["vmbr0.10"]?["addr_info"] as? [[String: Any]] ?? []).contains { $0["local"] as? String == "192.168.10.11" })

        let ports = try result.decodeSection("vlans-bridge", as: [BridgeVLANPort].self)
        func port(_ name: String) -> BridgeVLANPort? { ports.first { $0.ifname == name } }
        #expect(port("bond0")?.vids == Set(1...100))
        #expect(port("bond0")?.pvid == 1)
        #expect(port("tap300i0")?.vids == [42], "access port carries only its tag")
        #expect(port("tap300i0")?.pvid == 42)
        #expect(port("tap300i0")?.untagged == [42])
        #expect(port("tap300i1")?.vids == Set(Array(100...110) + [120, 1]), "trunk port")
        #expect(port("tap300i1")?.untagged == [1])
        #expect(port("tap301i0")?.vids == [20])
        #expect(port("tap301i0")?.pvid == 20)
        #expect(port("vmbr0.30")?.vids == Set(1...4094))

        // Every bond mode.
        let bonds = try Self.jsonObjects(result, "bonds-links")
        for (bond, mode) in [("bond-rr", "balance-rr"), ("bond-ab", "active-backup"), ("bond-xor", "balance-xor"), ("bond-bc", "broadcast"),
                             ("bond-lacp", "802.3ad"), ("bond-tlb", "balance-tlb"), ("bond-alb", "balance-alb")] {
            #expect(Self.info(bonds[bond])["mode"] as? String == mode, "\(bond)")
            let short = bond.dropFirst("bond-".count)
            for member in ["\(short)a", "\(short)b"] { #expect(bonds[member]?["master"] as? String == bond, "\(member) in \(bond)") }
        }
        #expect(Self.info(bonds["bond-lacp"])["ad_lacp_rate"] as? String == "fast")
        #expect(Self.info(bonds["bond-lacp"])["xmit_hash_policy"] as? String == "layer3+4")
        #expect(Self.info(bonds["bond-ab"])["primary"] as? String == "aba")

        // One change per class: MTU in place, lacp_rate by flap, mode by recreate — as the plan said.
        let plan = try result.section("plan-changed")
        #expect(plan.contains("~ set bond-bc mtu 9000"), "\(plan)")
        #expect(plan.contains("! set bond-lacp down"), "\(plan)")
        #expect(plan.contains("± delete link bond-rr"), "\(plan)")
        let changed = try Self.jsonObjects(result, "changed-links")
        #expect(changed["bond-bc"]?["ifindex"] as? Int == bonds["bond-bc"]?["ifindex"] as? Int, "in place keeps the link")
        #expect(changed["bond-bc"]?["mtu"] as? Int == 9000)
        #expect(changed["bond-lacp"]?["ifindex"] as? Int == bonds["bond-lacp"]?["ifindex"] as? Int, "a flap keeps the link")
        #expect(Self.info(changed["bond-lacp"])["ad_lacp_rate"] as? String == "slow")
        #expect(changed["bond-rr"]?["ifindex"] as? Int != bonds["bond-rr"]?["ifindex"] as? Int, "a recreate makes a new link")
        #expect(Self.info(changed["bond-rr"])["mode"] as? String == "active-backup")
        for member in ["rra", "rrb"] { #expect(changed[member]?["master"] as? String == "bond-rr", "\(member) back in the recreated bond") }
        for untouched in ["bond-ab", "bond-xor", "bond-tlb", "bond-alb", "vmbr0", "bond0"] {
            #expect(changed[untouched]?["ifindex"] as? Int == bonds[untouched]?["ifindex"] as? Int, "\(untouched) untouched")
        }
    }
}
