import SDNConfig
import SDNModel
import SDNTesting
import Testing

/// A load through the cache of parsed documents gives what a load without it gives, whether the documents
/// come from the cache or not, for valid and invalid input alike; and it parses only what changed.
@Suite struct ParsedDocumentCacheTests {
    static func expectSame(_ cached: LoadResult, _ plain: LoadResult, _ what: String) {
        #expect(cached.state == plain.state, "\(what): the state differs")
        #expect(cached.diagnostics == plain.diagnostics, "\(what): \(cached.diagnostics) ≠ \(plain.diagnostics)")
        #expect(cached.unreadable == plain.unreadable, "\(what): unreadable")
    }

    static func expectCachedLoadsEqualPlainOnes(_ documents: [ConfigDocument]) {
        let plain = ConfigLoader.load(documents)
        let cache = ParsedDocumentCache()
        expectSame(ConfigLoader.load(documents, cache: cache), plain, "cold")
        expectSame(ConfigLoader.load(documents, cache: cache), plain, "warm")
        let statistics = cache.statistics
        #expect(statistics.hits == documents.count && statistics.misses == documents.count, "\(statistics)")
        #expect(ConfigLoader.validate(ConfigLoader.load(documents, cache: cache)).diagnostics == ConfigLoader.validate(plain).diagnostics)
    }

    @Test(arguments: exampleDirectories())
    func anExampleLoadsTheSameThroughTheCache(_ directory: String) throws {
        let documents = loadExampleDocuments(directory)
        try #require(!documents.isEmpty, "no documents in \(directory)")
        Self.expectCachedLoadsEqualPlainOnes(documents)
    }

    @Test(arguments: FixtureCase.all(in: fixturesDirectory("invalid")))
    func anInvalidFixtureLoadsTheSameThroughTheCache(_ fixture: FixtureCase) throws {
        let documents = loadDocuments(under: fixture.directory)
        try #require(!documents.isEmpty, "fixture \(fixture.name) has no YAML input")
        Self.expectCachedLoadsEqualPlainOnes(documents)
    }

    @Test func onlyTheChangedDocumentIsParsedAgainAndTheResultFollowsIt() throws {
        let documents = [
            ConfigDocument(path: "Topologies/t.yaml", text: "nodes:\n  pve1: {}\n", kind: .topology),
            ConfigDocument(path: "Policies/a.yaml", text: "aliases:\n  web: 10.0.0.1\n", kind: .policy),
            ConfigDocument(path: "Policies/b.yaml", text: "aliases:\n  db: 10.0.0.2\n", kind: .policy),
        ]
        let cache = ParsedDocumentCache()
        _ = ConfigLoader.load(documents, cache: cache)
        var changed = documents
        changed[2].text = "aliases:\n  db: 10.0.0.3\n"
        let loaded = ConfigLoader.load(changed, cache: cache)
        #expect(cache.statistics.hits == 2 && cache.statistics.misses == 4, "\(cache.statistics)")
        #expect(loaded.state.firewall.aliases.first { $0.name == "db" }?.cidr.compactDescription == "10.0.0.3")
        Self.expectSame(loaded, ConfigLoader.load(changed), "after one change")

        // A name the unchanged file defines, now defined by the changed one too: the clash is found
        // although one side came from the cache, at the same places as without it.
        changed[2].text = "aliases:\n  web: 10.0.0.4\n"
        let clash = ConfigLoader.load(changed, cache: cache)
        Self.expectSame(clash, ConfigLoader.load(changed), "a clash")
        #expect(clash.diagnostics.contains { $0.code == .duplicateName && $0.location?.file == "Policies/b.yaml" }, "\(clash.diagnostics)")

        // The same text under another path is another document (diagnostics name their file).
        var moved = changed
        moved[2].path = "Policies/c.yaml"
        let before = cache.statistics.misses
        Self.expectSame(ConfigLoader.load(moved, cache: cache), ConfigLoader.load(moved), "a moved file")
        #expect(cache.statistics.misses == before + 1)
    }

    @Test func aBrokenDocumentIsReportedFromTheCacheAsWhenParsed() {
        let documents = [
            ConfigDocument(path: "Policies/p.yaml", text: "cluster:\n  rules:\n    - in acept SSH\n  options: {policy-in: drop\n", kind: .policy),
        ]
        let cache = ParsedDocumentCache()
        let plain = ConfigLoader.load(documents)
        #expect(plain.diagnostics.hasErrors)
        _ = ConfigLoader.load(documents, cache: cache)
        Self.expectSame(ConfigLoader.load(documents, cache: cache), plain, "warm")
    }
}
