import SDNModel
import SDNNFTables
import SDNTesting
import Testing

@Suite("nft JSON codec")
struct NFTJSONCodecTests {
    static let listingFixtures = FixtureCase.all(in: fixturesDirectory("json-listing"))

    @Test func renderThenParseRoundTripsTheIR() throws {
        let ruleset = BroadRuleset.ruleset
        let parsed = try NFTJSON.parse(NFTJSON.render(ruleset))
        #expect(parsed == ruleset)
        // Rule by rule, so a failure names the statement that changed.
        for (table, parsedTable) in zip(ruleset.tables, parsed.tables) {
            for (chain, parsedChain) in zip(table.chains, parsedTable.chains) {
                for (rule, parsedRule) in zip(chain.rules, parsedChain.rules) {
                    #expect(rule.statements == parsedRule.statements, "\(rule.id)")
                }
            }
        }
        #expect(try NFTJSON.parse(NFTJSON.render(ruleset, pretty: true)) == ruleset)
    }

    @Test func renderedDocumentMatchesGolden() throws {
        let fixture = FixtureCase(directory: fixturesDirectory("json-render", "broad"))
        // One top-level object per line, as small goldens should be.
        let items = NFTJSON.document(BroadRuleset.ruleset)["nftables"]?.arrayValue ?? []
        let text = "{\"nftables\": [\n" + items.map { $0.serialized() }.joined(separator: ",\n") + "\n]}\n"
        Golden.assertMatches(text, goldenFile: fixture.path("expected.json"))
        #expect(try NFTJSON.parse(text) == BroadRuleset.ruleset)
    }

    @Test func rendersTheSchemaNftPrints() throws {
        let table = Table(family: .inet, name: "sdn", chains: [
            Chain(name: "input", base: BaseChain(type: .filter, hook: .input, priority: 0, policy: .drop), rules: [
                Rule(id: "r1", statements: [match(.meta(.iifname), .string("lo")), .counter, .verdict(.accept)]),
            ]),
        ])
        let document = NFTJSON.document(Ruleset(tables: [table]))
        let items = try #require(document["nftables"]?.arrayValue)
        #expect(items.map { $0.objectMembers?.first?.key } == ["metainfo", "table", "chain", "rule"])
        #expect(items[2].serialized() == #"{"chain": {"family": "inet", "table": "sdn", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}"#)
        #expect(items[3].serialized() == #"{"rule": {"family": "inet", "table": "sdn", "chain": "input", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}}, {"counter": null}, {"accept": null}], "comment": "r1"}}"#)
    }

    @Test func fixturesExist() {
        #expect(!Self.listingFixtures.isEmpty)
    }

    /// Real `nft -j list ruleset` output, read into the IR and shown as nft text.
    @Test(arguments: listingFixtures)
    func parsesRealListings(_ fixture: FixtureCase) throws {
        let listing = try #require(fixture.read("listing.json"))
        let ruleset = try NFTJSON.parse(listing)
        Golden.assertMatches(NFTTextRenderer.render(ruleset), goldenFile: fixture.path("expected.nft"))
        // What we read renders back to JSON that reads the same.
        #expect(try NFTJSON.parse(NFTJSON.render(ruleset)) == ruleset)
    }

    @Test func readsListingQuirks() throws {
        let listing = """
        {"nftables": [{"metainfo": {"json_schema_version": 1}},
        {"table": {"family": "inet", "name": "t", "handle": 1}},
        {"set": {"family": "inet", "name": "s", "table": "t", "type": "ipv4_addr", "handle": 2, "flags": ["interval"],
          "elem": [{"elem": {"val": {"prefix": {"addr": "10.0.0.0", "len": 8}}, "expires": 1000}}, {"range": ["10.1.0.1", "10.1.0.9"]}]}},
        {"map": {"family": "inet", "name": "m", "table": "t", "type": ["ifname", "ipv4_addr"], "handle": 3, "map": "verdict",
          "elem": [[{"concat": ["eth0", "10.0.0.1"]}, {"goto": {"target": "c"}}], [{"elem": {"val": {"concat": ["eth1", "10.0.0.2"]}}}, {"drop": null}]]}},
        {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 4}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 5, "comment": "flags", "expr": [
          {"match": {"op": "!", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": ["syn", "rst"]}},
          {"match": {"op": "!=", "left": {"ct": {"key": "state"}}, "right": {"|": ["established", {"|": ["related", "new"]}]}}},
          {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}},
          {"counter": {"packets": 123456789, "bytes": 18446744073709551615}}, {"drop": null}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 6, "expr": [
          {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"set": [{"elem": {"val": "10.0.0.1"}}, "10.0.0.2"]}}},
          {"vmap": {"key": {"concat": [{"meta": {"key": "iifname"}}, {"payload": {"protocol": "ip", "field": "saddr"}}]}, "data": "@m"}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 7, "comment": "reject", "expr": [{"reject": {"type": "icmpx", "expr": "port-unreachable"}}]}}
        ]}
        """
        let table = try #require(try NFTJSON.parse(listing).tables.first)
        #expect(table.sets[0].elements == [SetElement(key: [prefix("10.0.0.0/8")]), SetElement(key: [.range(address("10.1.0.1"), address("10.1.0.9"))])])
        #expect(table.sets[1].elements == [
            SetElement(key: [.string("eth0"), address("10.0.0.1")], data: .verdict(.goto("c"))),
            SetElement(key: [.string("eth1"), address("10.0.0.2")], data: .verdict(.drop)),
        ])
        let rules = try #require(table.chain("c")?.rules)
        #expect(rules.map(\.id) == ["flags", "", "reject"])
        #expect(rules[0].statements == [
            .match(.bitwiseAnd(.payload(.tcpFlags), .value(.flags(["syn", "rst"]))), .equal, .value(.integer(0))),
            match(.ct(.state), .flags(["established", "related", "new"]), .notEqual),
            match(.ct(.state), .flags(["new"]), .implicit),
            .counter, .verdict(.drop),
        ])
        #expect(rules[1].statements == [
            .match(.payload(.ipSaddr), .equal, .set([address("10.0.0.1"), address("10.0.0.2")])),
            .vmap(.concat([.meta(.iifname), .payload(.ipSaddr)]), map: "m"),
        ])
        #expect(rules[2].statements == [.reject(.icmpx("port-unreachable"))])
    }

    @Test func skipsTablesNotAskedFor() throws {
        let listing = """
        {"nftables": [{"table": {"family": "ip", "name": "foreign", "handle": 1}},
        {"flowtable": {"family": "ip", "name": "f", "table": "foreign", "hook": "ingress", "prio": 0, "dev": ["eth0"]}},
        {"chain": {"family": "ip", "name": "c", "table": "foreign", "handle": 2}},
        {"rule": {"family": "ip", "table": "foreign", "chain": "c", "expr": [{"xt": {"type": "match", "name": "conntrack"}}]}},
        {"table": {"family": "inet", "name": "sdn", "handle": 3}}]}
        """
        #expect(throws: NFTJSONError.self) { try NFTJSON.parse(listing) }
        let ours = try NFTJSON.parse(listing) { family, name in family == .inet && name == "sdn" }
        #expect(ours == Ruleset(tables: [Table(family: .inet, name: "sdn")]))
    }

    static let unsupported: [(String, String)] = [
        (#"{"xt": {"type": "match", "name": "conntrack"}}"#, #"statement "xt""#),
        (#"{"queue": {"num": 1}}"#, #"statement "queue""#),
        (#"{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}}"#, #"expression "fib""#),
        (#"{"match": {"op": "==", "left": {"payload": {"base": "nh", "offset": 0, "len": 8}}, "right": 1}}"#, "raw payload"),
        (#"{"match": {"op": "==", "left": {"ct": {"key": "state", "dir": "original"}}, "right": "new"}}"#, #"property "dir""#),
        (#"{"match": {"op": "==", "left": {"concat": [{"meta": {"key": "iifname"}}, {"payload": {"protocol": "ip", "field": "saddr"}}]}, "right": {"set": []}}}"#, "concatenation"),
        (#"{"vmap": {"key": {"meta": {"key": "iifname"}}, "data": {"set": [["eth0", {"accept": null}]]}}}"#, "anonymous verdict map"),
        (#"{"log": {"group": 2}}"#, #"property "group""#),
        (#"{"limit": {"rate": 1, "per": "second", "rate_unit": "kbytes"}}"#, "limit in kbytes"),
        (#"{"limit": {"rate": 1, "per": "second", "inv": true}}"#, "inverted limit"),
        (#"{"reject": {"type": "icmp", "expr": "host-unreachable"}}"#, "reject with icmp host-unreachable"),
        (#"{"masquerade": {"flags": ["random"]}}"#, "masquerade options"),
        (#"{"snat": {"addr": "1.2.3.4", "flags": ["persistent"]}}"#, #"property "flags""#),
        (#"{"counter": "named"}"#, "named counter"),
        (#"{"mangle": {"key": {"meta": {"key": "mark"}}, "value": 1}}"#, #"statement "mangle""#),
        (#"{"match": {"op": "==", "left": {"|": [{"meta": {"key": "mark"}}, 1]}, "right": 1}}"#, #"expression "|""#),
    ]

    @Test(arguments: unsupported)
    func refusesWhatTheIRCannotHold(_ statement: String, mentioning expected: String) throws {
        let listing = """
        {"nftables": [{"table": {"family": "inet", "name": "t"}}, {"chain": {"family": "inet", "table": "t", "name": "c"}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "comment": "r9", "expr": [\(statement)]}}]}
        """
        do {
            _ = try NFTJSON.parse(listing)
            Issue.record("accepted \(statement)")
        } catch {
            #expect(error.code == .unsupported || error.code == .invalid, "\(error)")
            #expect(error.description.contains(expected), "\(error)")
            #expect(error.object == #"rule "r9" in inet t c"#)
            #expect(error.path.hasPrefix("nftables[2].rule.expr[0]"), "\(error.path)")
        }
    }

    static let unsupportedObjects: [(String, String)] = [
        (#"{"set": {"family": "inet", "table": "t", "name": "s", "type": "ipv4_addr", "timeout": 60}}"#, #"property "timeout""#),
        (#"{"set": {"family": "inet", "table": "t", "name": "s", "type": "ipv4_addr", "elem": [{"elem": {"val": "1.2.3.4", "comment": "x"}}]}}"#, #"property "comment""#),
        (#"{"set": {"family": "inet", "table": "t", "name": "s", "type": "icmp_type"}}"#, "set key type 'icmp_type'"),
        (#"{"set": {"family": "inet", "table": "t", "name": "s", "type": "ipv4_addr", "flags": ["dynamic"]}}"#, "set flag 'dynamic'"),
        (#"{"map": {"family": "inet", "table": "t", "name": "m", "type": "ipv4_addr", "map": "icmp_type"}}"#, "map data type 'icmp_type'"),
        (#"{"chain": {"family": "inet", "table": "t", "name": "c", "type": "filter", "hook": "ingress", "prio": 0, "dev": "eth0"}}"#, #"property "dev""#),
        (#"{"counter": {"family": "inet", "table": "t", "name": "k"}}"#, "counter objects"),
        (#"{"table": {"family": "inet", "name": "t", "flags": ["dormant"]}}"#, #"property "flags""#),
    ]

    @Test(arguments: unsupportedObjects)
    func refusesObjectsTheIRCannotHold(_ object: String, mentioning expected: String) {
        let table = object.contains(#"{"table""#) ? "" : #"{"table": {"family": "inet", "name": "t"}}, "#
        do {
            _ = try NFTJSON.parse(#"{"nftables": [\#(table)\#(object)]}"#)
            Issue.record("accepted \(object)")
        } catch {
            #expect(error.code == .unsupported, "\(error)")
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test(arguments: [
        (#"{"nft": []}"#, "top-level"),
        (#"{"nftables": [{"chain": {"family": "inet", "table": "t", "name": "c"}}]}"#, "before the table"),
        (#"{"nftables": [{"table": {"family": "inet", "name": "t"}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "expr": []}}]}"#, "not listed before"),
        (#"{"nftables": [{"table": {"family": "inet", "name": "t"}}, {"set": {"family": "inet", "table": "t", "name": "s", "type": "ipv4_addr", "elem": ["fd00::1"]}}]}"#, "not an IPv4 address"),
        (#"{"nftables": [{"table": {"family": "inet", "name": "t"}}, {"set": {"family": "inet", "table": "t", "name": "s", "type": "ether_addr", "elem": ["zz"]}}]}"#, "not a MAC address"),
        (#"{"nftables": [{"table": {"family": "inet", "name": "t"}}, {"set": {"family": "inet", "table": "t", "name": "s", "type": ["ifname", "ipv4_addr"], "elem": ["eth0"]}}]}"#, "concatenation of 2"),
        (#"{"nftables": [{"table": {"family": "decnet", "name": "t"}}]}"#, "table family 'decnet'"),
        (#"{"nftables": [{"metainfo": {"json_schema_version": 2}}]}"#, "schema version"),
        (#"{"nftables": [{"table": {"family": "inet"}}]}"#, #"missing member "name""#),
        ("{\"nftables\": [", "JSON syntax error"),
    ])
    func reportsInvalidDocuments(_ text: String, mentioning expected: String) {
        do {
            _ = try NFTJSON.parse(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }
}

@Suite("Normalization for comparison")
struct NormalizationTests {
    func rule(_ statements: Statement...) -> Ruleset {
        Ruleset(tables: [Table(family: .inet, name: "t", chains: [Chain(name: "c", rules: [Rule(id: "r", statements: statements)])])])
    }

    @Test func spellsConstantsOneWay() {
        let written = rule(
            match(.payload(.ipSaddr), prefix("10.0.0.1/32")),
            .match(.payload(.ipDaddr), .equal, .set([.range(address("10.0.0.0"), address("10.0.0.255")), address("10.0.1.1"), address("10.0.1.1")])),
            match(.payload(.icmpType), .integer(8)),
            match(.ct(.state), .flags(["related", "established"]), .implicit),
            .match(.payload(.tcpDport), .equal, .set([.integer(22)])),
            match(.payload(.udpDport), .range(.integer(53), .integer(53))),
            .log(prefix: "x", level: .warning),
            .reject(.icmpx("port-unreachable"))
        )
        let listed = rule(
            match(.payload(.ipSaddr), address("10.0.0.1")),
            .match(.payload(.ipDaddr), .equal, .set([address("10.0.1.1"), prefix("10.0.0.0/24")])),
            match(.payload(.icmpType), .symbol(named: "echo-request")),
            match(.ct(.state), .flags(["established", "related"]), .implicit),
            match(.payload(.tcpDport), .integer(22)),
            match(.payload(.udpDport), .integer(53)),
            .log(prefix: "x", level: nil),
            .reject(.default)
        )
        #expect(written != listed)
        #expect(written.normalizedForComparison() == listed.normalizedForComparison())
    }

    @Test func dropsDependenciesNftLeavesOut() {
        let written = rule(
            match(.meta(.nfproto), .symbol(named: "ipv4")), match(.meta(.l4proto), .symbol(named: "tcp")),
            match(.payload(.ipSaddr), address("10.0.0.1")), match(.payload(.thDport), .integer(22)), .verdict(.accept)
        )
        let listed = rule(match(.payload(.ipSaddr), address("10.0.0.1")), match(.payload(.tcpDport), .integer(22)), .verdict(.accept))
        #expect(written.normalizedForComparison() == listed.normalizedForComparison())
        // A protocol match that guards nothing stays: it is the rule's meaning.
        let alone = rule(match(.meta(.l4proto), .symbol(named: "tcp")), .reject(.tcpReset))
        #expect(alone.normalizedForComparison().tables[0].chains[0].rules[0].statements.count == 2)
    }

    @Test func sortsElementsAndObjectsButNotRules() {
        let set = NamedSet(name: "s", keyType: [.ipv4Address], flags: [.interval], elements: [
            SetElement(key: [address("10.0.0.9")]), SetElement(key: [prefix("10.1.0.0/16")]), SetElement(key: [address("10.0.0.1")]),
        ])
        let a = Ruleset(tables: [
            Table(family: .inet, name: "t", sets: [set], chains: [Chain(name: "b"), Chain(name: "a", rules: [Rule(id: "1", statements: []), Rule(id: "2", statements: [])])]),
            Table(family: .bridge, name: "t"),
        ])
        var reordered = set
        reordered.elements.reverse()
        let b = Ruleset(tables: [
            Table(family: .bridge, name: "t"),
            Table(family: .inet, name: "t", sets: [reordered], chains: [Chain(name: "a", rules: [Rule(id: "1", statements: []), Rule(id: "2", statements: [])]), Chain(name: "b")]),
        ])
        #expect(a.normalizedForComparison() == b.normalizedForComparison())
        var swapped = b
        swapped.tables[1].chains[0].rules.reverse()
        #expect(a.normalizedForComparison() != swapped.normalizedForComparison())
    }

    @Test func isIdempotent() {
        let once = BroadRuleset.ruleset.normalizedForComparison()
        #expect(once.normalizedForComparison() == once)
    }
}
