import Foundation
import SDNConfig
import SDNModel
import Testing

/// Input size and alias expansion are bounded before anything walks the input, and locations stay
/// right in CR LF files and in rules folded over several lines.
@Suite struct InputBoundsTests {
    func load(_ text: String, path: String = "Policies/fw.yaml") -> [Diagnostic] {
        ConfigLoader.loadAndValidate([ConfigDocument(path: path, text: text, kind: ConfigDocument.kind(impliedBy: path))]).diagnostics
    }

    @Test func aliasesThatShareAPolicyAreFine() {
        var text = "guests:\n  100:\n    options: &hardened { policy-in: drop, macfilter: true, ipfilter: true }\n"
        for id in 101...150 { text += "  \(id):\n    options: *hardened\n" }
        var topology = "nodes:\n  pve1: {}\nguests:\n"
        for id in 100...150 { topology += "  \(id): { node: pve1 }\n" }
        let (validated, diagnostics) = ConfigLoader.loadAndValidate([
            ConfigDocument(path: "Topologies/net.yaml", text: topology, kind: .topology),
            ConfigDocument(path: "Policies/fw.yaml", text: text, kind: .policy),
        ])
        #expect(diagnostics.isEmpty, "\(diagnostics.map(\.description))")
        #expect(validated?.value.firewall.guests.count == 51)
    }

    /// 9^10 nodes as a mapping key: refused in well under a second (before, Yams hashed the key).
    @Test(.timeLimit(.minutes(1))) func aliasBombIsRefusedQuickly() {
        var text = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { text += "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]\n" }
        text += "? *l9\n: x\n"
        let started = ContinuousClock.now
        let diagnostics = load(text)
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(diagnostics.map(\.code) == [.aliasExpansion])
    }

    /// A syntax error after aliases is located in the original text, not in the copy the budget
    /// measures (whose placeholders are longer than the aliases).
    @Test func syntaxErrorAfterAnAliasKeepsItsColumn() {
        let diagnostics = load("a: &a [1, 2]\nb: [*a, *a, @x]\n", path: "x.yaml")
        let syntax = diagnostics.first { $0.code == .yamlSyntax }
        #expect(syntax?.location?.line == 2)
        #expect(syntax?.location?.column == 13)
    }

    /// Documents before a broken one are still read when the file has aliases.
    @Test func documentsBeforeABrokenOneAreReadWithAliases() {
        let text = "kind: topology\nnodes:\n  pve1: &node {}\n  pve2: *node\n---\nnodes: [\n"
        let loaded = ConfigLoader.load([ConfigDocument(path: "net.yaml", text: text)])
        #expect(loaded.state.nodes.map(\.name) == ["pve1", "pve2"])
        #expect(loaded.diagnostics.map(\.code) == [.yamlSyntax])
    }

    @Test func oversizedTextIsRefusedUnread() {
        let text = String(repeating: "#", count: ConfigDocument.maximumFileSize + 1)
        let diagnostics = load(text)
        #expect(diagnostics.map(\.code) == [.fileTooLarge])
        #expect(diagnostics.first?.location?.line == 1)
    }

    @Test func crlfLinesAreLinesOfTheirOwn() {
        let lines = ConfigDocument.lines(of: "a: 1\r\nb: 2\r\n\r\nc: 3\rd: 4\ne: 5")
        #expect(lines == ["a: 1", "b: 2", "", "c: 3", "d: 4", "e: 5"])
    }

    @Test func ruleFoldedOverThreeLinesIsLocatedOnTheLineOfTheMistake() {
        let text = "cluster:\n  rules:\n    - in accept tcp\n      dport 22\n\n      from 10.0.0.0/8 log loud\n"
        let diagnostic = load(text).first { $0.code == .ruleSyntax }
        #expect(diagnostic?.location?.line == 6)
        #expect(diagnostic?.location?.column == 27)
    }
}
