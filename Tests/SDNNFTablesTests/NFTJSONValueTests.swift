import SDNNFTables
import Testing

@Suite("JSON value: parse and serialize")
struct NFTJSONValueTests {
    @Test func parsesNftStyleDocument() throws {
        let text = #"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}, {"rule": {"expr": [{"accept": null}], "x": [true, false, -12, 1.5e3]}}]}"#
        let value = try NFTJSONValue(parsing: text)
        let items = try #require(value["nftables"]?.arrayValue)
        #expect(items.count == 2)
        #expect(items[0]["metainfo"]?["json_schema_version"] == .integer(1))
        #expect(items[1]["rule"]?["expr"] == .array([.object(["accept": .null])]))
        #expect(items[1]["rule"]?["x"] == .array([.bool(true), .bool(false), .integer(-12), .double(1500)]))
    }

    @Test func serializesLikeNftAndRoundTrips() throws {
        let value: NFTJSONValue = .object(["a": .integer(1), "b": .array([.string("x"), .null]), "c": .object([])])
        #expect(value.serialized() == #"{"a": 1, "b": ["x", null], "c": {}}"#)
        #expect(try NFTJSONValue(parsing: value.serialized()) == value)
        #expect(try NFTJSONValue(parsing: value.serialized(pretty: true)) == value)
        #expect(value.serialized(pretty: true) == "{\n  \"a\": 1,\n  \"b\": [\n    \"x\",\n    null\n  ],\n  \"c\": {}\n}")
    }

    @Test func keepsMemberOrder() throws {
        let value = try NFTJSONValue(parsing: #"{"z": 1, "a": 2, "m": 3}"#)
        #expect(value.objectMembers?.map(\.key) == ["z", "a", "m"])
    }

    @Test(arguments: [
        "plain", "quote \" and backslash \\", "slash / tab \t newline \n", "control \u{01}\u{1f}", "unicode é ✓ 🐧", "",
    ])
    func stringsRoundTrip(_ text: String) throws {
        let serialized = NFTJSONValue.string(text).serialized()
        #expect(try NFTJSONValue(parsing: serialized) == .string(text))
    }

    @Test func decodesEscapes() throws {
        #expect(try NFTJSONValue(parsing: #""a\u00e9\ud83d\udc27\/\b\f""#) == .string("aé🐧/\u{08}\u{0C}"))
    }

    @Test func bigCountersBecomeDoubles() throws {
        #expect(try NFTJSONValue(parsing: "18446744073709551615") == .double(Double(UInt64.max)))
        #expect(try NFTJSONValue(parsing: "9223372036854775807") == .integer(.max))
    }

    @Test(arguments: [
        ("", 0), ("{", 1), (#"{"a" 1}"#, 5), ("[1,]", 3), ("[1 2]", 3), (#""abc"#, 4), ("01", 1), ("tru", 0),
        (#""\x""#, 2), (#""\ud800""#, 7), ("1.", 2), ("{} x", 3), ("\"a\nb\"", 2), ("-", 1),
    ])
    func rejectsMalformedText(_ text: String, offset: Int) {
        #expect(throws: NFTJSONSyntaxError.self) { try NFTJSONValue(parsing: text) }
        do {
            _ = try NFTJSONValue(parsing: text)
        } catch {
            #expect(error.offset == offset, "\(error)")
        }
    }

    @Test func refusesAbsurdNesting() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: NFTJSONSyntaxError.self) { try NFTJSONValue(parsing: deep) }
    }
}
