import SDNNetns
import SDNNFTables
@testable import SDNNFTablesNetlink
import SDNTesting
import Testing

/// What `nft list` does not show: every set attribute (flags, key type and length, data type,
/// userdata with key byte order and typeof description, size, concatenation field lengths) of named and
/// anonymous sets, ours against nft's.
@Suite("Set attributes vs nft -f", .systemTest(tools: ["nft", "ip"]))
struct RawSetDifferentialTests {
    struct Attributes: Hashable, CustomStringConvertible {
        var set: KernelSet

        var description: String {
            "\(set.name): flags \(hex(set.flags)) key \(hex(set.keyType))/\(set.keyLength) data \(set.dataType.map(hex) ?? "-")/\(set.dataLength.map(String.init) ?? "-") "
                + "size \(set.descriptionSize.map(String.init) ?? "-") concat \(set.concatFieldLengths?.description ?? "-") "
                + "userdata \(set.userdata.map { String(format: "%02x", $0) }.joined()) elements \(set.elements.count)"
        }

        private func hex(_ value: UInt32) -> String { String(value, radix: 16) }
    }

    static func sets(in namespace: NetworkNamespace, tables: [Table]) throws -> [String] {
        let socket = try NetlinkSocket(namespace: namespace)
        let reader = RulesetReader(socket: socket)
        var result: [String] = []
        for table in tables {
            guard let dumped = try reader.dump(table.family, table.name) else { continue }
            for set in dumped.sets {
                var sorted = set
                sorted.elements.sort { ($0.key, $0.flags) < ($1.key, $1.flags) }
                result.append("\(table.family.rawValue) \(table.name) \(Attributes(set: sorted))")
                result += sorted.elements.map { "    \($0)" }
            }
        }
        return result
    }

    @Test(arguments: NetlinkFixtures.all)
    func sameSetsAsNft(_ fixture: NetlinkFixtures.Fixture) async throws {
        try await withTemporaryNetworkNamespace { ours in
            try await withTemporaryNetworkNamespace { reference in
                let firewall = try NetlinkFirewall(namespace: ours)
                _ = try await firewall.apply(RulesetDiff.changes(from: Ruleset(), to: fixture.ruleset), expectedGeneration: nil)
                try KernelListing.load(NFTTextRenderer.render(fixture.ruleset), in: reference)
                let expected = try Self.sets(in: reference, tables: fixture.ruleset.tables).joined(separator: "\n")
                let actual = try Self.sets(in: ours, tables: fixture.ruleset.tables).joined(separator: "\n")
                #expect(KernelListing.difference(expected, actual) == nil, "\(KernelListing.difference(expected, actual) ?? "")")
            }
        }
    }
}

private func < (lhs: ([UInt8], UInt32), rhs: ([UInt8], UInt32)) -> Bool {
    lhs.0 == rhs.0 ? lhs.1 < rhs.1 : lhs.0.lexicographicallyPrecedes(rhs.0)
}
