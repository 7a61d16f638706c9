import Foundation
import SDNModel
import SDNNetns
import SDNNFTables
import SDNNFTablesNetlink
import SDNTesting
import Testing

/// The catalog's protocol names against the kernel: one counting rule per name `meta l4proto`
/// knows, loaded both by `nft -f` (nft's reading of the names) and by our netlink encoder; one real
/// IPv4 packet per protocol number, sent over `lo` from a raw socket; the kernel's counters must be
/// exactly the rules `PacketInterpreter` (what `sdn trace` runs) says each packet matches. This is the
/// test the `ipip` mix-up (4 in the interpreter, 94 in the kernel) fails.
@Suite("Catalog names: kernel vs interpreter", .systemTest(tools: ["nft", "ip", "python3"]))
struct CatalogKernelTests {
    static let source = try! IPAddress("127.0.0.2")
    static let destination = try! IPAddress("127.0.0.1")

    /// Every protocol name, and one number nft has no name for.
    static let ruleset: Ruleset = {
        let rules = Datatype.inetProtocol.symbols.pairs.map { name, _ in
            Rule(id: "l4proto-\(name)", statements: [
                .match(.payload(.ipSaddr), .equal, .value(.address(source))),
                .match(.meta(.l4proto), .equal, .value(.symbol(named: name))),
                .counter,
            ])
        } + [Rule(id: "l4proto-253", statements: [
            .match(.payload(.ipSaddr), .equal, .value(.address(source))), .match(.meta(.l4proto), .equal, .value(.integer(253))), .counter,
        ])]
        let input = Chain(name: "input", base: BaseChain(type: .filter, hook: .input, priority: 0, policy: .accept), rules: rules)
        return Ruleset(tables: [Table(family: .inet, name: "catalog", chains: [input])])
    }()

    static let numbers: [UInt8] = Array(Set(Datatype.inetProtocol.symbols.pairs.map { UInt8($0.value) } + [253, 200])).sorted()

    /// The size of the packet sent for protocol `number`: each has its own, so a rule's byte counter
    /// tells which packets it matched, not only how many.
    static func size(_ number: UInt8) -> Int { 28 + Int(number) }

    /// Sends one IPv4 packet from 127.0.0.2 to 127.0.0.1 per protocol number (of ``size(_:)`` bytes,
    /// zeros after the header). Each raw socket also
    /// receives its protocol, so the kernel answers nothing (no ICMP protocol-unreachable); any answer
    /// would come from 127.0.0.1 and match no rule anyway.
    static let sender = """
        import socket, struct, sys
        sockets = []
        for number in map(int, sys.argv[1:]):
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, number)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            payload = bytes(8 + number)
            header = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 0, 0, 64, number, 0,
                                 socket.inet_aton('127.0.0.2'), socket.inet_aton('127.0.0.1'))
            s.sendto(header + payload, ('127.0.0.1', 0))
            sockets.append(s)
        """

    struct Count: Equatable, CustomStringConvertible {
        var packets = 0
        var bytes = 0
        var description: String { "\(packets) packets, \(bytes) bytes" }
    }

    /// Rule id → its counter, from `nft list ruleset`.
    static func counters(in namespace: NetworkNamespace) throws -> [String: Count] {
        var result: [String: Count] = [:]
        for line in try Shell.output(["nft", "list", "ruleset"], in: namespace).split(separator: "\n") {
            guard let comment = line.range(of: "comment \""), let packets = line.range(of: "counter packets "),
                  let bytes = line.range(of: " bytes ") else { continue }
            let id = line[comment.upperBound...].prefix { $0 != "\"" }
            result[String(id)] = Count(packets: Int(line[packets.upperBound...].prefix { $0.isNumber }) ?? -1,
                                       bytes: Int(line[bytes.upperBound...].prefix { $0.isNumber }) ?? -1)
        }
        return result
    }

    /// What the interpreter says: for each rule, the packets that match it.
    static func expectedCounters() throws -> [String: Count] {
        let interpreter = PacketInterpreter(ruleset: ruleset)
        var result = Dictionary(uniqueKeysWithValues: ruleset.tables[0].chains[0].rules.map { ($0.id, Count()) })
        for number in numbers {
            let packet = Packet(iifname: "lo", saddr: source, daddr: destination, l4proto: .number(number))
            for id in try interpreter.trace(packet, at: PacketInterpreter.HookPoint(.inet, .input)).matchedRuleIDs {
                result[id, default: Count()].packets += 1
                result[id, default: Count()].bytes += size(number)
            }
        }
        return result
    }

    static func sendAndCompare(in namespace: NetworkNamespace, loadedBy loader: String) throws {
        try Shell.output(["python3", "-c", sender] + numbers.map(String.init), in: namespace)
        let expected = try expectedCounters()
        let actual = try counters(in: namespace)
        for (id, count) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(actual[id] == count, "\(id) (loaded by \(loader)): kernel counted \(actual[id].map(String.init) ?? "nothing"), the interpreter says \(count)")
        }
        // Every named rule saw exactly its packet: the test cannot pass by matching nothing.
        #expect(expected.values.allSatisfy { $0.packets == 1 })
    }

    @Test func nftReadsTheNamesAsTheInterpreterDoes() throws {
        try withTemporaryNetworkNamespace { namespace in
            try Shell.output(["ip", "link", "set", "lo", "up"], in: namespace)
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-catalog-\(UUID().uuidString).nft")
            try NFTTextRenderer.render(Self.ruleset).write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            try Shell.output(["nft", "-f", file.path], in: namespace)
            try Self.sendAndCompare(in: namespace, loadedBy: "nft -f")
        }
    }

    @Test func ourEncoderWritesTheNamesAsTheInterpreterReadsThem() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            try Shell.output(["ip", "link", "set", "lo", "up"], in: namespace)
            let firewall = try NetlinkFirewall(namespace: namespace)
            _ = try await firewall.apply(RulesetDiff.changes(from: Ruleset(), to: Self.ruleset), expectedGeneration: nil)
            try Self.sendAndCompare(in: namespace, loadedBy: "netlink")
        }
    }
}
