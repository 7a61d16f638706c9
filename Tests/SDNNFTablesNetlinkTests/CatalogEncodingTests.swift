import SDNModel
import SDNNFTables
import SDNTesting
@testable import SDNNFTablesNetlink
import Testing

/// The netlink encoder and decoder read the same catalog as text, JSON and the interpreter: a name
/// becomes on the wire exactly the number the catalog gives it, and comes back as a name of it.
@Suite("Catalog on the wire")
struct CatalogEncodingTests {
    @Test(arguments: Array(Field.netlinkFields).sorted { $0.description < $1.description })
    func everyNameOfAFieldEncodesToItsCatalogNumber(_ field: Field) throws {
        let datatype = field.datatype
        for (name, number) in datatype.symbols.pairs {
            let value: Value = datatype.isBitmask ? .flags([name]) : .symbol(named: name)
            let bytes = try datatype.encode(value)
            #expect(bytes.count == field.length)
            let wire = datatype.isHostOrderOnWire ? ValueKind.number(hostOrder: bytes) : ValueKind.number(bigEndian: bytes)
            #expect(wire == number, "\(field) \(name): wire \(wire), catalog \(number)")
            let back: String? = switch datatype.decode(bytes) {
            case .symbol(let printed)?: printed.name
            case .flags(let names)? where names.count == 1: names[0]
            default: nil
            }
            #expect(back.flatMap(datatype.number(named:)) == number, "\(field) \(name) decodes as \(back ?? "no name")")
        }
    }

    /// The `ipip` mix-up, on the wire: nft's `ipip` is 94, `ipencap` 4 (what the policy word `ipip` compiles to).
    @Test func ipipTravelsAs94AndIpencapAs4() throws {
        #expect(try Datatype.inetProtocol.encode(.symbol(named: "ipip")) == [94])
        #expect(try Datatype.inetProtocol.encode(.symbol(named: "ipencap")) == [4])
        #expect(Datatype.inetProtocol.decode([4]) == .symbol(named: "ipencap"))
        #expect(Datatype.inetProtocol.decode([94]) == .symbol(named: "ipip"))
    }
}
