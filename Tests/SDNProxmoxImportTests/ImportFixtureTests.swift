import Foundation
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNProxmoxImport
import SDNTesting
import Testing

/// Every `Fixtures/<case>/input/` is a Proxmox tree; `expected.txt` holds every file the import writes.
let importFixtures = FixtureCase.all(in: fixturesDirectory())

@Suite("Proxmox import fixtures")
struct ImportFixtureTests {
    @Test("there are fixtures")
    func fixturesExist() {
        #expect(importFixtures.count >= 6)
    }

    @Test("the import matches its golden output", arguments: importFixtures)
    func golden(_ fixture: FixtureCase) throws {
        let result = ProxmoxImporter.run(try readTree(fixture.path("input")))
        Golden.assertMatches(goldenText(result), goldenFile: fixture.path("expected.txt"))
    }

    @Test("the imported configuration validates as written", arguments: importFixtures.filter { $0.name != "malformed" })
    func validates(_ fixture: FixtureCase) throws {
        let result = ProxmoxImporter.run(try readTree(fixture.path("input")))
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(result.documents)
        #expect(validated != nil, "\(diagnostics.map(\.description).joined(separator: "\n"))")
        #expect(!result.report.diagnostics.hasErrors, "\(result.report.diagnostics.map(\.description).joined(separator: "\n"))")
    }

    @Test("every input line is accounted for", arguments: importFixtures)
    func everyLineAccounted(_ fixture: FixtureCase) throws {
        let tree = try readTree(fixture.path("input"))
        let result = ProxmoxImporter.run(tree)
        #expect(result.ledger.unaccounted(in: tree).isEmpty, "unaccounted: \(result.ledger.unaccounted(in: tree).map(\.description))")
        // The ledger holds exactly the input's lines, no more.
        let inputLines = tree.files.reduce(0) { count, file in count + file.value.split(separator: "\n", omittingEmptySubsequences: false).count - (file.value.hasSuffix("\n") ? 1 : 0) }
        let accounted = result.ledger.counts.values.reduce(0, +)
        #expect(inputLines == accounted)
        #expect(inputLines > 0)
        // Every report entry and error names a line the ledger counts as reported or wrong.
        for entry in result.report.entries {
            #expect([.reported, .error].contains(result.ledger.disposition(file: entry.location.file, line: entry.location.line)), "\(entry.location)")
        }
    }

    @Test("re-importing unchanged input gives byte-identical output", arguments: importFixtures)
    func deterministic(_ fixture: FixtureCase) throws {
        let tree = try readTree(fixture.path("input"))
        let first = ProxmoxImporter.run(tree)
        let second = ProxmoxImporter.run(tree)
        #expect(first.files == second.files)
    }

    @Test("malformed lines give located diagnostics")
    func malformed() throws {
        let fixture = try #require(importFixtures.first { $0.name == "malformed" })
        let tree = try readTree(fixture.path("input"))
        let result = ProxmoxImporter.run(tree)
        let errors = result.report.diagnostics.errors
        #expect(errors.count >= 40)
        for error in errors {
            let location = try #require(error.location, "\(error)")
            #expect(location.line >= 1 && location.column >= 1)
            #expect(tree.files[location.file] != nil)
        }
        // Every rule line of [RULES] in the malformed cluster.fw is wrong, and each is reported.
        let lines = tree.files["firewall/cluster.fw"]!.split(separator: "\n", omittingEmptySubsequences: false)
        let rulesStart = try #require(lines.firstIndex(of: "[RULES]"))
        let groupStart = try #require(lines.firstIndex(of: "[group grp]"))
        for number in (rulesStart + 2)...(groupStart - 1) where !lines[number].isEmpty {
            #expect(errors.contains { $0.location?.file == "firewall/cluster.fw" && $0.location?.line == number + 1 }, "line \(number + 1): \(lines[number])")
        }
        #expect(result.report.losesSomething)
    }
}
