import SDNConfig
import Testing

/// `RenderedTree.read`: JSON as an ordered tree, the way object writes of the API read their body.
@Suite struct RenderedTreeReadTests {
    @Test func keepsMemberOrderAndScalarTypes() throws {
        let tree = try RenderedTree.read(#"{"subnets": {"10.1.0.0/24": {}, "10.0.0.0/24": {"snat": true}}, "tag": 100, "rate": 2.5, "name": "100", "mac": null}"#)
        #expect(tree == .map([
            ("subnets", .map([("10.1.0.0/24", .map([])), ("10.0.0.0/24", .map([("snat", .bool(true))]))])),
            ("tag", .integer(100)), ("rate", .number(2.5)), ("name", .string("100")),
        ]))
        #expect(try RenderedTree.read("") == nil)
    }

    @Test func nullListItemsAndAliasBombsAreRefused() {
        #expect(throws: TreeReadError(message: "a list item is null; leave it out", pointer: "/object/ip/1")) {
            try RenderedTree.read(#"{"object": {"ip": ["10.0.0.1", null]}}"#)
        }
        // A body is JSON (the server checks), but YAML read here stays bounded: aliases past the loader's budget are refused.
        var bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { bomb += "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]\n" }
        #expect(throws: TreeReadError.self) { try RenderedTree.read(bomb) }
    }
}
