import SDNModel
import SDNNFTables
import Testing

/// Symbols written in code are static members (a typo does not compile); names from input are checked
/// against their datatype's table.
@Suite("Symbols")
struct SymbolTests {
    @Test func everyStaticMemberIsACatalogName() {
        for symbol in Symbol.allKnown {
            #expect(Datatype.all.contains { $0.number(named: symbol.name) != nil }, "\(symbol) is in no datatype's table")
        }
        #expect(Symbol.tcp.name == "tcp")
        #expect(Symbol.ndNeighborSolicit.name == "nd-neighbor-solicit")
    }

    @Test func theCheckedInitializerAcceptsTheDatatypesNames() throws {
        #expect(try Symbol("echo-request", of: .icmpType) == Symbol(unchecked: "echo-request"))
        #expect(try Symbol("ipencap", of: .inetProtocol).name == "ipencap")
    }

    @Test func anUnknownNameIsRefusedNamingTheDatatype() {
        let error = #expect(throws: UnknownSymbolError.self) { try Symbol("tpc", of: .inetProtocol) }
        #expect(error?.name == "tpc")
        #expect(error?.datatype == .inetProtocol)
        #expect(error?.description.hasPrefix("unknown inet_proto value \"tpc\"") == true, "\(String(describing: error))")
        do {
            _ = try Symbol("nd-neighbour-solicit", of: .icmpv6Type)
            Issue.record("a misspelt ICMPv6 type was accepted")
        } catch {
            #expect(error.description.contains("icmpv6_type"))
            #expect(error.description.contains("\"nd-neighbour-solicit\""))
            #expect(error.description.contains("nd-neighbor-solicit"), "the message lists the names the datatype has")
        }
        // A datatype with no names at all says to write a number.
        #expect(throws: UnknownSymbolError.self) { try Symbol("ssh", of: .inetService) }
        #expect((try? Symbol("ssh", of: .inetService)) == nil)
    }

    /// nft JSON that names a value its field's datatype lacks is refused with the datatype and the path.
    @Test func nftJSONWithAnUnknownSymbolIsRefused() throws {
        let json = """
        {"nftables": [{"table": {"family": "inet", "name": "t"}}, {"chain": {"family": "inet", "table": "t", "name": "c"}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tpc"}}]}}]}
        """
        do {
            _ = try NFTJSON.parse(json)
            Issue.record("an unknown protocol name was accepted")
        } catch {
            #expect(error.code == .invalid)
            #expect(error.description.contains("inet_proto"), "\(error)")
            #expect(error.description.contains("\"tpc\""), "\(error)")
            #expect(error.path.hasPrefix("nftables[2].rule.expr[0]"), "\(error.path)")
        }
    }
}

@Suite("nft JSON strings")
struct NFTJSONStringTests {
    /// nft's JSON writes strings with SDNModel's escaper, and reads back what it wrote.
    @Test func stringsUseTheSharedEscaperAndRoundTrip() throws {
        let awkward = "a \"quoted\" \\path\\\n\r\t\u{08}\u{0C}\u{01} é"
        #expect(NFTJSONValue.string(awkward).serialized() == awkward.jsonLiteral)
        #expect(try NFTJSONValue(parsing: NFTJSONValue.string(awkward).serialized()) == .string(awkward))
    }
}
