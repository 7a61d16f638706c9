import SDNConfig
import SDNModel
import Testing

/// One JSON string escaper (SDNModel's), used by the config trees, the YAML writer and nft's JSON.
@Suite("JSON string literals")
struct JSONLiteralTests {
    static let awkward = "a \"quoted\" \\path\\\n\r\t\u{08}\u{0C}\u{01}\u{1F} é ✓"
    static let escaped = #""a \"quoted\" \\path\\\n\r\t\b\f\u0001\u001f é ✓""#

    @Test func escapesQuotesBackslashesAndControlCharacters() {
        #expect(Self.awkward.jsonLiteral == Self.escaped)
        var output = "x="
        Self.awkward.appendJSONLiteral(to: &output)
        #expect(output == "x=" + Self.escaped)
        #expect("".jsonLiteral == "\"\"")
    }

    @Test func theTreeAndTheYAMLWriterUseIt() {
        #expect(RenderedTree.string(Self.awkward).json() == Self.escaped)
        #expect(RenderedTree.map([(Self.awkward, .integer(1))]).json() == "{\n  \(Self.escaped): 1\n}")
        #expect(YAMLWriter.quoted(Self.awkward) == Self.escaped)
    }
}
