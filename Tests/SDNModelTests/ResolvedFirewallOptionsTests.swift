import Foundation
import SDNModel
import Testing

@Suite struct ResolvedFirewallOptionsTests {
    /// The `options` table of docs/schema.md: key → default, as written between backticks.
    static func documentedDefaults() throws -> [String: String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/schema.md"), encoding: .utf8)
        let section = try #require(text.range(of: "### `options`"))
        let afterSection = text[section.upperBound...]
        let body = afterSection.prefix { $0 != "#" }  // up to the next heading
        var defaults: [String: String] = [:]
        for line in body.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 5 else { continue }
            defaults[cells[1].trimmingCharacters(in: ["`"])] = cells[3].trimmingCharacters(in: ["`"])
        }
        return defaults
    }

    /// Every stored property of `ResolvedFirewallOptions.defaults`, by its schema key (`allowInvalid` →
    /// `allow-invalid`) and printed value, read by reflection so a new option cannot be left out.
    static func typeDefaults() -> [String: String] {
        var defaults: [String: String] = [:]
        for child in Mirror(reflecting: ResolvedFirewallOptions.defaults).children {
            guard let label = child.label else { continue }
            let key = label.unicodeScalars.map { CharacterSet.uppercaseLetters.contains($0) ? "-" + String($0).lowercased() : String($0) }.joined()
            defaults[key] = "\(child.value)"
        }
        return defaults
    }

    @Test func defaultsAreTheDocumentedOnes() throws {
        let documented = try Self.documentedDefaults()
        let type = Self.typeDefaults()
        #expect(type.count == 18, "ResolvedFirewallOptions has \(type.count) options: \(type.keys.sorted())")
        #expect(documented == type)
    }

    @Test func eachLevelKeepsWhatItSetsAndInheritsTheRest() {
        var firewall = FirewallConfig()
        firewall.cluster.options.policyIn = .reject
        firewall.cluster.options.logLevelIn = .info
        firewall.guests = [FirewallPolicy(scope: .guest(100))]
        firewall.guests[0].options.logLevelIn = .warning
        firewall.guests[0].options.macfilter = false

        let cluster = firewall.resolvedOptions(for: .cluster)
        #expect(cluster.policyIn == .reject)
        #expect(cluster.logLevelIn == .info)
        #expect(cluster.macfilter == ResolvedFirewallOptions.defaults.macfilter)

        let guest = firewall.resolvedOptions(for: .guest(100))
        #expect(guest.policyIn == .reject, "inherited from the cluster")
        #expect(guest.logLevelIn == .warning, "its own value wins over the cluster's")
        #expect(guest.macfilter == false)
        #expect(guest.ipfilter == ResolvedFirewallOptions.defaults.ipfilter, "set nowhere: the default")

        #expect(firewall.resolvedOptions(for: .guest(101)) == cluster, "a scope without a policy has the cluster's options")
        #expect(firewall.effectiveOptions(for: .guest(100)) == FirewallOptions(guest))
    }

    @Test func applyingNothingChangesNothing() {
        #expect(ResolvedFirewallOptions.defaults.applying(FirewallOptions()) == .defaults)
        var everything = FirewallOptions(ResolvedFirewallOptions.defaults)
        everything.policyForward = .drop
        #expect(ResolvedFirewallOptions.defaults.applying(everything).policyForward == .drop)
    }
}
