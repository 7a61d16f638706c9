import Foundation
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// Validates `documents`, failing the test with every error when they do not validate.
func validate(_ documents: [ConfigDocument], sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> Validated<DesiredState> {
    let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
    guard let validated else {
        Issue.record("the configuration does not validate:\n\(diagnostics.map(\.description).joined(separator: "\n"))", sourceLocation: sourceLocation)
        throw ValidationFailed()
    }
    return validated
}

struct ValidationFailed: Error {}

/// The kernel profiles every fixture is compiled for, by the name used in golden file names.
let kernelProfiles: [(name: String, features: KernelFeatures)] = [("full", .full), ("minimal", .minimal)]

/// One compile of a fixture: for a node, for a kernel profile.
struct CompileVariant {
    var node: String
    var kernel: String
    /// The golden file's name: `expected-<kernel>.nft` for a single-node fixture, else
    /// `expected-<node>-<kernel>.nft`.
    var goldenName: String
    var nft: String
    var diagnostics: [Diagnostic]
}

/// Compiles `validated` for every node and kernel profile, in a stable order (nodes as declared).
func compileVariants(_ validated: Validated<DesiredState>) -> [CompileVariant] {
    let nodes = validated.value.nodes.map(\.name)
    return nodes.flatMap { node in
        kernelProfiles.map { profile in
            let compiled = FirewallCompiler.compile(validated, node: node, features: profile.features)
            let goldenName = nodes.count == 1 ? "expected-\(profile.name).nft" : "expected-\(node)-\(profile.name).nft"
            return CompileVariant(node: node, kernel: profile.name, goldenName: goldenName,
                                  nft: NFTTextRenderer.render(compiled.ruleset, replacing: true), diagnostics: compiled.diagnostics)
        }
    }
}

/// The text of `expected-diagnostics.txt`: one section per compile that reported anything, each
/// diagnostic's `description`; empty when no compile reported anything.
func diagnosticsGolden(_ variants: [CompileVariant], singleNode: Bool) -> String {
    var text = ""
    for variant in variants where !variant.diagnostics.isEmpty {
        text += singleNode ? "== kernel \(variant.kernel) ==\n" : "== node \(variant.node), kernel \(variant.kernel) ==\n"
        text += variant.diagnostics.map { $0.description + "\n" }.joined()
    }
    return text
}

/// The compile fixtures (`Fixtures/compile/<case>/`).
let compileFixtures = FixtureCase.all(in: fixturesDirectory("compile"))

/// A golden nft file of a fixture, as a test argument named `case/file`.
struct GoldenFile: Sendable, CustomTestStringConvertible {
    var fixture: FixtureCase
    var name: String
    var path: String { fixture.path(name) }
    var testDescription: String { "\(fixture.name)/\(name)" }
}

/// Every recorded `expected-*<kernel>.nft` of every compile fixture.
func goldenFiles(kernel: String) -> [GoldenFile] {
    compileFixtures.flatMap { fixture in
        fixture.files(withExtension: "nft").filter { $0.hasSuffix("-\(kernel).nft") }.map { GoldenFile(fixture: fixture, name: $0) }
    }
}

/// Writes `text` to a fresh temporary file and returns its path.
func temporaryFile(_ text: String, name: String = "ruleset.nft") throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-fw-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}
