import SDNConfig
import SDNFirewall
import SDNModel
import SDNTesting
import Testing

/// The `reject-non-ip` warning appears only where a non-IP frame can reach a reject: a reject default
/// policy or a reject rule that matches no IP field, not a rule that is `tcp` only.
@Suite struct RejectWarningTests {
    static func warnings(rules: String, options: String = "{}") throws -> [String] {
        let topology = """
            nodes:
              n1: { address: 192.0.2.1, management: [192.0.2.0/24], uplinks: { eth0: {} } }
            zones:
              local: { type: simple }
            vnets:
              lan: { zone: local, subnets: { 10.0.0.0/24: { gateway: 10.0.0.1 } } }
            guests:
              100: { node: n1, nics: { net0: { vnet: lan, mac: "52:54:00:00:00:01", ip: [10.0.0.10] } } }
            """
        let policy = """
            guests:
              100:
                options: \(options)
                rules: \(rules)
            """
        let validated = try validate([
            ConfigDocument(path: "Topologies/t.yaml", text: topology, kind: .topology),
            ConfigDocument(path: "Policies/p.yaml", text: policy, kind: .policy),
        ])
        return FirewallCompiler.compile(validated, node: "n1", features: .full).diagnostics.map(\.code)
    }

    @Test func onlyRejectsANonIPFrameCanReachWarn() throws {
        #expect(try !Self.warnings(rules: "[in reject tcp dport 23]").contains("reject-non-ip"))
        #expect(try !Self.warnings(rules: "[in reject PPtP, out reject udp, in reject from 10.0.0.0/8]").contains("reject-non-ip"))
        #expect(try Self.warnings(rules: "[in reject]").contains("reject-non-ip"))
        #expect(try Self.warnings(rules: "[in reject tcp dport 23]", options: "{ policy-in: reject }").contains("reject-non-ip"))
    }
}
