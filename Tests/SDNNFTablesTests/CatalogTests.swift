import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// The field and datatype catalog: one table that text, JSON, the interpreter and netlink all read.
@Suite("Field and datatype catalog")
struct CatalogTests {
    private static func trace(_ statements: [Statement], _ packet: Packet) throws -> Trace {
        let chain = Chain(name: "input", base: BaseChain(type: .filter, hook: .input, priority: 0, policy: .drop),
                          rules: [Rule(id: "r", statements: statements)])
        let ruleset = Ruleset(tables: [Table(family: .inet, name: "t", chains: [chain])])
        return try PacketInterpreter(ruleset: ruleset).trace(packet, at: PacketInterpreter.HookPoint(.inet, .input))
    }

    private static func packet(_ proto: IPProtocolName) throws -> Packet {
        Packet(iifname: "eth0", saddr: try IPAddress("192.0.2.7"), daddr: try IPAddress("192.0.2.1"), l4proto: proto)
    }

    /// `meta l4proto ipip` is protocol 94 to nft and the kernel (/etc/protocols), so `sdn trace` must
    /// say so too; it used to resolve the name through the policy language, where `ipip` is 4.
    @Test func ipipIsProtocol94AndIpencapIs4InTheIR() throws {
        let ipip: [Statement] = [.match(.meta(.l4proto), .equal, .value(.symbol(named: "ipip"))), .verdict(.accept)]
        #expect(try Self.trace(ipip, Self.packet(.number(94))).verdict == .accept)
        #expect(try Self.trace(ipip, Self.packet(.ipip)).verdict == .drop)
        let ipencap: [Statement] = [.match(.meta(.l4proto), .equal, .value(.symbol(named: "ipencap"))), .verdict(.accept)]
        #expect(try Self.trace(ipencap, Self.packet(.ipip)).verdict == .accept)
        #expect(try Self.trace(ipencap, Self.packet(.number(94))).verdict == .drop)
        #expect(Datatype.inetProtocol.number(named: "ipip") == 94)
        #expect(Datatype.inetProtocol.symbols.name(of: 4) == "ipencap")
    }

    /// Every name of every datatype means the same number to the interpreter as to the catalog (what
    /// the netlink encoder writes): a rule comparing a field with the name matches exactly the
    /// packets whose field has that number.
    @Test func everyProtocolNameMeansItsNumberToTheInterpreter() throws {
        for (name, number) in Datatype.inetProtocol.symbols.pairs {
            let rule: [Statement] = [.match(.meta(.l4proto), .equal, .value(.symbol(named: name))), .verdict(.accept)]
            let proto = IPProtocolName.number(UInt8(number))
            #expect(try Self.trace(rule, Self.packet(proto)).verdict == .accept, "meta l4proto \(name) should match protocol \(number)")
            let other = IPProtocolName.number(UInt8((number + 1) % 256))
            #expect(try Self.trace(rule, Self.packet(other)).verdict == .drop, "meta l4proto \(name) should not match protocol \(other.number)")
        }
    }

    /// Each name maps to one number and the printed name of that number maps back to it.
    @Test(arguments: Datatype.all)
    func symbolTablesAreTwoWay(_ datatype: Datatype) {
        for (name, number) in datatype.symbols.pairs {
            #expect(datatype.number(named: name) == number, "\(datatype) \(name)")
            let printed = datatype.symbols.name(of: number)
            #expect(printed.flatMap(datatype.number(named:)) == number, "\(datatype) \(number) prints as \(printed ?? "nothing")")
        }
        if datatype.isBitmask {
            for (_, bit) in datatype.symbols.pairs { #expect(bit.nonzeroBitCount == 1, "\(datatype) flag \(bit) is one bit") }
        }
    }

    /// Every field is found by its nft name, and survives the JSON codec and the text renderer.
    @Test(arguments: Field.all)
    func fieldsRoundTripThroughTheirNames(_ field: Field) throws {
        #expect(Field.named(field.protocolName, field.name) === field)
        #expect(field.expression.field === field)
        #expect(NFTTextRenderer.render(expression: field.expression).hasSuffix(field.name))
        let constant: Value = switch field.datatype.representation {
        case .interfaceName: .string("eth0")
        case .ipv4Address: .address(try IPAddress("192.0.2.1"))
        case .ipv6Address: .address(try IPAddress("2001:db8::1"))
        case .etherAddress: .ether(try MACAddress("52:54:00:00:00:01"))
        case .number, .verdict: field.datatype.isBitmask ? .flags([field.datatype.symbols.pairs[0].name]) : .integer(1)
        }
        let rule = Rule(id: "r", statements: [.match(field.expression, .equal, .value(constant)), .verdict(.accept)])
        let ruleset = Ruleset(tables: [Table(family: .inet, name: "t", chains: [Chain(name: "c", rules: [rule])])])
        let decoded = try NFTJSON.parse(NFTJSON.render(ruleset))
        #expect(decoded.tables.first?.chains.first?.rules.first?.statements.first == rule.statements.first)
    }

    /// The protocol graph's numbers come from the catalog's names; a misspelt name would leave a gap.
    @Test func protocolGraphNumbers() {
        let expected: [(ProtocolHeader, ProtocolHeader, UInt64)] = [
            (.inet, .ip, 2), (.inet, .ip6, 10), (.netdev, .ip, 0x0800), (.ether, .ip6, 0x86dd), (.ether, .arp, 0x0806),
            (.ip, .icmp, 1), (.ip6, .icmpv6, 58), (.inetService, .tcp, 6), (.ip6, .udp, 17), (.ip, .udplite, 136),
            (.inetService, .dccp, 33), (.ip, .sctp, 132),
        ]
        for (lower, upper, number) in expected {
            #expect(lower.number(of: upper) == number, "\(lower) → \(upper)")
            #expect(lower.upper(for: number) == upper, "\(lower) \(number)")
        }
        #expect(ProtocolHeader.ip.number(of: .icmpv6) == nil)
        #expect(ProtocolHeader.inet.number(of: .tcp) == nil)
        let pairs = ProtocolHeader.allCases.flatMap { lower in ProtocolHeader.allCases.compactMap { lower.number(of: $0) } }
        #expect(pairs.count == 27)
    }

    @Test func unknownFieldsAreRefusedByTheJSONReader() {
        let text = #"{"nftables": [{"table": {"family": "inet", "name": "t"}}, {"chain": {"family": "inet", "table": "t", "name": "c"}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "skuid"}}, "right": 0}}]}}]}"#
        #expect(throws: NFTJSONError.self) { try NFTJSON.parse(text) }
    }
}
