import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// The `reject-non-ip` warning appears only where a non-IP frame can reach a reject: a reject default
/// policy or a reject rule that matches no IP field, not a rule that is `tcp` only.
/// Compiles one node with one guest whose policy has `rules` and `options`.
func compileOneGuest(rules: String, options: String = "{}") throws -> CompiledFirewall {
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
    return FirewallCompiler.compile(validated, node: "n1", features: .full)
}

@Suite struct RejectWarningTests {
    static func warnings(rules: String, options: String = "{}") throws -> [DiagnosticCode] {
        try compileOneGuest(rules: rules, options: options).diagnostics.map(\.code)
    }

    @Test func onlyRejectsANonIPFrameCanReachWarn() throws {
        #expect(try !Self.warnings(rules: "[in reject tcp dport 23]").contains(.rejectNonIp))
        #expect(try !Self.warnings(rules: "[in reject PPtP, out reject udp, in reject from 10.0.0.0/8]").contains(.rejectNonIp))
        #expect(try Self.warnings(rules: "[in reject]").contains(.rejectNonIp))
        #expect(try Self.warnings(rules: "[in reject tcp dport 23]", options: "{ policy-in: reject }").contains(.rejectNonIp))
    }
}

/// A policy's `proto ipip` is Linux's IP-in-IP (protocol 4): the compiled rule must say so in nft's
/// words (`ipencap`), not hand nft the word `ipip`, which nft reads as protocol 94.
@Suite struct ProtocolNameTests {
    static func l4protoValues(rules: String) throws -> [Value] {
        let ruleset = try compileOneGuest(rules: rules).ruleset
        return ruleset.tables.flatMap(\.chains).flatMap(\.rules).flatMap(\.statements).compactMap {
            if case .match(.meta(.l4proto), .equal, .value(let value)) = $0 { value } else { nil }
        }
    }

    @Test func ipipCompilesToProtocol4AndANumberStaysANumber() throws {
        let without = Set(try Self.l4protoValues(rules: "[]"))
        let ipip = Set(try Self.l4protoValues(rules: "[in accept proto ipip]")).subtracting(without)
        #expect(ipip == [.symbol(named: "ipencap")])
        #expect(Datatype.inetProtocol.number(named: "ipencap") == 4)
        #expect(Set(try Self.l4protoValues(rules: "[in accept proto ipencap]")).subtracting(without) == [.symbol(named: "ipencap")])
        #expect(Set(try Self.l4protoValues(rules: "[in accept proto 94]")).subtracting(without) == [.integer(94)])
    }
}
