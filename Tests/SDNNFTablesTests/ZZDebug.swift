import Foundation
import SDNModel
import SDNNetns
import SDNNFTables
import SDNTesting
import Testing
@Test(arguments: ["hw-min", "vxm"]) func zzCompilerListing(_ name: String) throws {
    let text = try String(contentsOfFile: "/tmp/nftx/\(name).json", encoding: .utf8)
    let parsed = try NFTJSON.parse(text)
    print(parsed.tables.map { "\($0.family) \($0.name): \($0.chains.count) chains, \($0.sets.count) sets, \($0.chains.map(\.rules.count).reduce(0, +)) rules" })
    let again = try withTemporaryNetworkNamespace { ns in
        try nftLoad(NFTTextRenderer.render(parsed), in: ns)
        return try nftListing(in: ns)
    }
    expectSameKernelMeaning(again, parsed)
    #expect(again == parsed)
    let viaJSON = try withTemporaryNetworkNamespace { ns in
        try nftLoad(NFTJSON.render(parsed), json: true, in: ns)
        return try nftListing(in: ns)
    }
    #expect(viaJSON == parsed)
    // interpreter smoke
    let interp = PacketInterpreter(ruleset: parsed)
    for family in [TableFamily.inet, .bridge] { for hook in [BaseChain.Hook.prerouting, .input, .forward, .output, .postrouting] {
        let p = Packet(iifname: "tap100i0", oifname: "tap101i0", etherSource: try MACAddress("bc:24:11:00:00:01"), saddr: try IPAddress("10.0.0.5"), daddr: try IPAddress("10.0.0.6"), l4proto: .tcp, sport: 1, dport: 22, tcpFlags: [.syn])
        let t = try interp.trace(p, at: .init(family, hook))
        if hook == .forward && family == .bridge { print(t) }
    } }
}
