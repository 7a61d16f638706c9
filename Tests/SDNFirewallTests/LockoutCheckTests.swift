import SDNConfig
import SDNFirewall
import SDNModel
import Testing

/// The lockout check `sdn validate` (blocking) and the API (child tasks) run before accepting a change.
@Suite("Lockout check")
struct LockoutCheckTests {
    static let topology = """
    nodes:
      n1:
        address: 192.0.2.10
        management: [192.0.2.0/24, 2001:db8::/64]
        uplinks:
          eth0: { addresses: [192.0.2.10/24, 2001:db8::10/64] }
      n2:
        address: 192.0.2.20
        management: [198.51.100.0/24]
        uplinks:
          eth0: { addresses: [192.0.2.20/24] }
    """

    static func validated(policy: String) throws -> Validated<DesiredState> {
        let (validated, diagnostics) = ConfigLoader.loadAndValidate([
            ConfigDocument(path: "Topologies/t.yaml", text: topology, kind: .topology),
            ConfigDocument(path: "Policies/p.yaml", text: policy, kind: .policy),
        ])
        return try #require(validated, "\(diagnostics.map(\.description))")
    }

    /// The blocking variant (a plain call in an async test picks the async one).
    static func blockingFindings(_ validated: Validated<DesiredState>) -> [Diagnostic] { LockoutCheck.findings(in: validated) }

    @Test func theAsyncCheckFindsWhatTheBlockingOneFinds() async throws {
        let locked = try Self.validated(policy: "cluster:\n  options: { policy-in: drop, failsafe: false }\n  rules:\n    - in accept HTTPS\n")
        let blocking = Self.blockingFindings(locked)
        let concurrent = await LockoutCheck.findings(in: locked)
        #expect(concurrent == blocking)
        // SSH and the API, from each management network of both nodes, each once.
        #expect(concurrent.count == 6, "\(concurrent.map(\.description))")
        #expect(concurrent.allSatisfy { $0.code == .lockout })
        #expect(await LockoutCheck.findings(in: locked, parallelism: .serial) == blocking)
    }

    @Test func withTheFailsafeOnNothingIsCompiledOrFound() async throws {
        let withFailsafe = try Self.validated(policy: "cluster:\n  options: { policy-in: drop }\n")
        #expect(await LockoutCheck.findings(in: withFailsafe).isEmpty)
    }
}
