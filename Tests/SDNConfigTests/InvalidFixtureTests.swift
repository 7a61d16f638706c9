import SDNConfig
import SDNModel
import SDNTesting
import Testing

/// Each folder under `Fixtures/invalid/` holds YAML input (in `Topologies/` and/or `Policies/`) and
/// `expected.txt`: every diagnostic the input must produce, one `Diagnostic.description` each.
/// Re-record with `SDN_RECORD_GOLDEN=1 swift test --filter InvalidFixtureTests` and review the diff.
@Suite struct InvalidFixtureTests {
    static let cases = FixtureCase.all(in: fixturesDirectory("invalid"))

    @Test func thereAreEnoughInvalidFixtures() {
        #expect(Self.cases.count >= 25)
    }

    @Test(arguments: cases)
    func reportsExpectedDiagnostics(_ fixture: FixtureCase) throws {
        let documents = loadDocuments(under: fixture.directory)
        try #require(!documents.isEmpty, "fixture \(fixture.name) has no YAML input")
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
        #expect(validated == nil, "an invalid fixture must not validate")
        #expect(diagnostics.hasErrors)
        for diagnostic in diagnostics where diagnostic.severity == .error {
            #expect(diagnostic.location != nil, "every error needs a location: \(diagnostic)")
        }
        let rendered = diagnostics.map(\.description).joined(separator: "\n") + "\n"
        Golden.assertMatches(rendered, goldenFile: fixture.path("expected.txt"))
    }
}
