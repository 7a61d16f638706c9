import SDNConfig
import SDNFirewall
import SDNModel
import SDNTesting
import Testing

@Suite struct ShadowLintTests {
    static let topology = """
        nodes:
          n1: { address: 192.0.2.1, management: [192.0.2.0/24] }
        zones:
          local: { type: simple }
        vnets:
          lan: { zone: local, subnets: { 10.0.0.0/24: { gateway: 10.0.0.1 } } }
        guests:
          100: { node: n1, nics: { net0: { vnet: lan, mac: "52:54:00:00:00:01" }, net1: { vnet: lan, mac: "52:54:00:00:00:02" } } }
        """

    static let objects = """
        aliases:
          office: 203.0.113.0/24
          office6: "2001:db8::/48"
        ipsets:
          admins: [192.0.2.0/28]
          admins-copy: [192.0.2.0/28]

        """

    /// The findings for guest 100's rules, given as one-line rules.
    static func findings(guestRules rules: [String]) throws -> [Diagnostic] {
        let policy = objects + "guests:\n  100:\n    rules:\n" + rules.map { "      - \"\($0)\"\n" }.joined()
        let validated = try validate([
            ConfigDocument(path: "Topologies/t.yaml", text: topology, kind: .topology),
            ConfigDocument(path: "Policies/p.yaml", text: policy, kind: .policy),
        ])
        return ShadowLint.findings(in: validated.value)
    }

    /// The line (in `Policies/p.yaml`) of guest rule `index`.
    static func line(ofRule index: Int) -> Int { objects.split(separator: "\n", omittingEmptySubsequences: false).count - 1 + 3 + index + 1 }

    // MARK: shadowed

    @Test(arguments: [
        ("in drop tcp", "in accept tcp dport 22"),
        ("in accept", "in accept udp dport 53 from 10.0.0.0/8"),
        ("in accept tcp dport 80,443", "in accept HTTPS"),
        ("in accept tcp dport 1000-2000", "in accept tcp dport 1500"),
        ("in accept tcp dport 1000-1999,2000-3000", "in accept tcp dport 1500-2500"),
        ("in accept tcp dport 1000-2000", "in accept tcp dport 1000-2000,1200"),
        ("in accept DNS", "in accept tcp dport 53"),
        ("in accept DNS", "in accept DNS from 10.0.0.0/8"),
        ("in accept udp", "in accept NTP"),
        ("in accept tcp sport 1024-65535", "in accept tcp sport 2000 dport 22"),
        ("in accept from 10.0.0.0/8", "in drop tcp dport 22 from 10.1.0.0/16"),
        ("in accept from 10.0.0.0/8", "in accept from 10.1.0.1-10.1.0.9"),
        ("in accept from 10.0.0.0/9,10.128.0.0/9", "in accept from 10.0.0.0/8"),
        ("in accept from 203.0.113.0/24", "in accept SSH from @office"),
        ("in accept from @office", "in accept SSH from 203.0.113.7"),
        ("in accept from @office,@office6", "in accept SSH from 2001:db8::1"),
        ("in accept to 10.0.0.0/24", "in accept tcp dport 80 to 10.0.0.5"),
        ("in accept SSH from @admins", "in drop SSH from @admins"),
        ("in accept from @admins,10.0.0.0/8", "in accept from @admins,10.0.0.1"),
        ("in accept Ping", "in accept icmpv6 type 128"),
        ("in accept Ping", "in accept icmp type echo-request from 10.0.0.0/8"),
        ("in accept icmp", "in accept icmp type echo-reply"),
        ("in accept proto 47", "in accept gre"),
        ("in accept proto 6", "in accept SSH"),
        ("out drop tcp dport 25", "out accept SMTP"),
        ("in accept HTTP", "in accept HTTP iface net1"),
        ("in accept HTTP iface net1", "in accept HTTP iface net1 log info"),
        ("in accept HTTP log info", "in accept HTTP"),
        ("in reject tcp", "in accept tcp dport 80"),
    ])
    func reportsShadowedRule(_ earlier: String, _ later: String) throws {
        let findings = try Self.findings(guestRules: [earlier, later])
        try #require(findings.count == 1, "\(earlier) ⟹ \(later): \(findings.map(\.description))")
        let finding = findings[0]
        #expect(finding.code == .shadowedRule)
        #expect(finding.severity == .warning)
        #expect(finding.location == SourceLocation(file: "Policies/p.yaml", line: Self.line(ofRule: 1), column: 9))
        #expect(finding.path == "guests.100.rules[1]")
        #expect(finding.related == [SourceLocation(file: "Policies/p.yaml", line: Self.line(ofRule: 0), column: 9)])
        #expect(finding.message.contains("Policies/p.yaml:\(Self.line(ofRule: 0)):9"), "names the earlier rule's place: \(finding.message)")
    }

    @Test func differentActionSaysTheRuleNeverTakesEffect() throws {
        let finding = try #require(try Self.findings(guestRules: ["in drop tcp", "in accept SSH"]).first)
        #expect(finding.message == "rule 'in accept SSH' in guest 100 is shadowed by the earlier rule 'in drop tcp' at Policies/p.yaml:\(Self.line(ofRule: 0)):9, which drops everything this rule matches: this rule never takes effect")
        let same = try #require(try Self.findings(guestRules: ["in accept tcp", "in accept SSH"]).first)
        #expect(same.message.hasSuffix("which already accepts everything this rule matches: this rule never matches"))
    }

    @Test func reportsEachShadowedRuleOnceAtTheFirstShadowingRule() throws {
        let findings = try Self.findings(guestRules: ["in accept tcp dport 22", "in drop tcp", "in accept SSH", "in accept tcp dport 80"])
        #expect(findings.map(\.location?.line) == [Self.line(ofRule: 2), Self.line(ofRule: 3)])
        #expect(findings.map(\.related) == [[SourceLocation(file: "Policies/p.yaml", line: Self.line(ofRule: 0), column: 9)],
                                             [SourceLocation(file: "Policies/p.yaml", line: Self.line(ofRule: 1), column: 9)]])
    }

    // MARK: not shadowed

    @Test(arguments: [
        ("in accept tcp", "out accept tcp"),
        ("in accept tcp dport 22", "in accept tcp"),
        ("in accept tcp dport 22", "in accept udp dport 22"),
        ("in accept tcp dport 1000-2000", "in accept tcp dport 1500-2500"),
        ("in accept tcp dport 1000-1999,2001-3000", "in accept tcp dport 1500-2500"),
        ("in accept udp dport 53", "in accept DNS"),
        ("in accept tcp sport 1024-65535", "in accept tcp dport 22"),
        ("in accept from 10.1.0.0/16", "in accept from 10.0.0.0/8"),
        ("in accept from 10.1.0.0/16", "in accept tcp dport 22"),
        ("in accept from 10.0.0.0/8", "in accept to 10.0.0.0/8"),
        ("in accept from 10.0.0.0/8", "in accept from 10.0.0.0/8,192.0.2.1"),
        ("in accept from 10.0.0.0/8", "in accept from fd00::1"),
        ("in accept from @admins", "in accept from @admins-copy"),
        ("in accept from 192.0.2.0/24", "in accept from @admins"),
        ("in accept from @admins", "in accept from 192.0.2.1"),
        ("in accept icmp type echo-request", "in accept icmp"),
        ("in accept icmp type echo-request", "in accept icmp type echo-reply"),
        ("in accept Ping", "in accept icmp"),
        ("in accept HTTP iface net0", "in accept HTTP iface net1"),
        ("in accept HTTP iface net0", "in accept HTTP"),
        ("in accept tcp dport 80 disabled", "in accept HTTP"),
        ("in accept tcp", "in accept HTTP disabled"),
        ("in accept tcp dport 80", "in accept tcp dport 8080"),
    ])
    func doesNotReport(_ earlier: String, _ later: String) throws {
        let findings = try Self.findings(guestRules: [earlier, later])
        #expect(findings.isEmpty, "\(earlier) ⟹ \(later): \(findings.map(\.description))")
    }

    @Test func laterRuleNeverShadowsEarlierOne() throws {
        #expect(try Self.findings(guestRules: ["in accept SSH", "in drop tcp"]).isEmpty)
    }

    @Test func groupJumpsAreNotAnalysed() throws {
        let validated = try validate([
            ConfigDocument(path: "Topologies/t.yaml", text: Self.topology, kind: .topology),
            ConfigDocument(path: "Policies/p.yaml", text: """
                groups:
                  all: [in accept tcp]
                guests:
                  100:
                    rules:
                      - group all
                      - in accept SSH
                """, kind: .policy),
        ])
        #expect(ShadowLint.findings(in: validated.value).isEmpty)
    }

    @Test func rulesOfDifferentListsDoNotShadowEachOther() throws {
        let validated = try validate([
            ConfigDocument(path: "Topologies/t.yaml", text: Self.topology, kind: .topology),
            ConfigDocument(path: "Policies/p.yaml", text: """
                groups:
                  web: [in accept HTTP]
                cluster:
                  rules: [in drop tcp]
                nodes:
                  n1: { rules: [in accept SSH] }
                guests:
                  100: { rules: [in drop tcp, group web] }
                """, kind: .policy),
        ])
        #expect(ShadowLint.findings(in: validated.value).isEmpty)
    }

    @Test func findsShadowedRulesInEveryKindOfList() throws {
        let validated = try validate([
            ConfigDocument(path: "Topologies/t.yaml", text: Self.topology, kind: .topology),
            ConfigDocument(path: "Policies/p.yaml", text: """
                groups:
                  web: [in accept tcp dport 80-443, in accept HTTPS]
                cluster:
                  rules: [in drop tcp, in accept SSH]
                nodes:
                  n1: { rules: [out accept, out drop udp] }
                vnets:
                  lan: { rules: [forward drop from 10.0.0.0/8, forward accept PostgreSQL from 10.0.0.0/24] }
                guests:
                  100: { rules: [in accept icmp, in accept icmp type 8] }
                """, kind: .policy),
        ])
        let findings = ShadowLint.findings(in: validated.value)
        #expect(findings.map(\.path) == ["cluster.rules[1]", "nodes.n1.rules[1]", "vnets.lan.rules[1]", "guests.100.rules[1]", "groups.web.rules[1]"])
        #expect(findings.allSatisfy { $0.code == .shadowedRule && $0.location != nil })
    }

    /// The compiler reports the lint's findings with its own.
    @Test func compilerReportsShadowedRules() throws {
        let validated = try validate([
            ConfigDocument(path: "Topologies/t.yaml", text: Self.topology, kind: .topology),
            ConfigDocument(path: "Policies/p.yaml", text: "guests:\n  100: { rules: [in drop tcp, in accept SSH] }\n", kind: .policy),
        ])
        let compiled = FirewallCompiler.compile(validated, node: "n1", features: .minimal)
        #expect(compiled.diagnostics.filter { $0.code == .shadowedRule }.count == 1)
    }
}
