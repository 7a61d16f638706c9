import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// The compiler's threads are a parameter: serial, a fixed number of threads, one per core, and the
/// `async` compile on child tasks must give the same ruleset and the same findings in the same order.
/// The fixtures are too small to be split (a piece is 256 guests, a lint piece 512 rule lists), so this
/// state has enough guests on one node for several pieces of both.
@Suite struct ParallelismTests {
    static let guestCount = 1_100

    /// One node, one vnet, `guestCount` guests each with its own policy: a shadowed rule in every
    /// policy (a lint finding per guest) and, on every tenth guest, ipfilter on a NIC without a MAC
    /// (a compiler finding per such guest), so both kinds of finding come from every piece.
    static func validatedState() throws -> Validated<DesiredState> {
        func hex(_ byte: Int) -> String { (byte < 16 ? "0" : "") + String(byte, radix: 16) }
        var topology = """
            nodes:
              n1: { address: 192.0.2.1, management: [192.0.2.0/24] }
            zones:
              local: { type: simple }
            vnets:
              a: { zone: local, subnets: { 10.1.0.0/16: { gateway: 10.1.0.1, snat: true } } }
            guests:

            """
        var policy = "guests:\n"
        for index in 0..<guestCount {
            let id = 1_000 + index
            let address = "10.1.\(1 + index / 250).\(1 + index % 250)"
            let mac = index % 10 == 0 ? "" : ", mac: \"52:54:00:00:\(hex(index / 256)):\(hex(index % 256))\""
            topology += "  \(id): { node: n1, nics: { net0: { vnet: a\(mac), ip: [\(address)] } } }\n"
            policy += "  \(id): { options: { ipfilter: true }, rules: [in accept tcp dport 22, in accept tcp dport 22 from 10.1.0.0/24, in accept tcp dport \(8_000 + index % 100)] }\n"
        }
        return try validate([
            ConfigDocument(path: "Topologies/generated.yaml", text: topology, kind: .topology),
            ConfigDocument(path: "Policies/generated.yaml", text: policy, kind: .policy),
        ])
    }

    @Test func everyParallelismCompilesTheSameRulesetAndFindings() async throws {
        let validated = try Self.validatedState()
        for features in [KernelFeatures.full, .minimal] {
            let reference = Self.compileBlocking(validated, features: features, parallelism: .serial)
            let referenceText = NFTTextRenderer.render(reference.ruleset, replacing: true)
            // Both kinds of finding, from every piece: the test would prove nothing without them.
            #expect(reference.diagnostics.filter { $0.code == ShadowLint.code }.count == Self.guestCount)
            #expect(reference.diagnostics.filter { $0.code != ShadowLint.code }.count >= Self.guestCount / 10)

            var variants: [(String, CompiledFirewall)] = []
            for parallelism in [Parallelism.threads(2), .threads(3), .automatic] {
                variants.append(("\(parallelism)", Self.compileBlocking(validated, features: features, parallelism: parallelism)))
                variants.append(("async \(parallelism)", await FirewallCompiler.compile(validated, node: "n1", features: features, parallelism: parallelism)))
            }
            variants.append(("async serial", await FirewallCompiler.compile(validated, node: "n1", features: features, parallelism: .serial)))
            for (name, compiled) in variants {
                if let difference = LineDifference.describe(expected: referenceText, actual: NFTTextRenderer.render(compiled.ruleset, replacing: true)) {
                    Issue.record("\(features.guestMode), \(name): the ruleset differs from the serial compile\n\(difference)")
                }
                #expect(compiled.diagnostics == reference.diagnostics, "\(features.guestMode), \(name)")
            }
        }
    }

    @Test func theLintFindsTheSameOnEveryParallelism() async throws {
        let state = try Self.validatedState().value
        let serial = Self.lintBlocking(state, parallelism: .serial)
        #expect(serial.count == Self.guestCount)
        #expect(Self.lintBlocking(state, parallelism: .threads(3)) == serial)
        #expect(await ShadowLint.findings(in: state, parallelism: .threads(3)) == serial)
    }

    /// The synchronous compile: from a synchronous function, a call picks the blocking overload.
    static func compileBlocking(_ validated: Validated<DesiredState>, features: KernelFeatures, parallelism: Parallelism) -> CompiledFirewall {
        FirewallCompiler.compile(validated, node: "n1", features: features, parallelism: parallelism)
    }

    static func lintBlocking(_ state: DesiredState, parallelism: Parallelism) -> [Diagnostic] {
        ShadowLint.findings(in: state, parallelism: parallelism)
    }

    @Test func widthIsAtLeastOne() {
        #expect(Parallelism.threads(0).width == 1)
        #expect(Parallelism.threads(-4).width == 1)
        #expect(Parallelism.serial.width == 1)
        #expect(Parallelism.automatic.width >= 1)
        #expect(Parallelism.threads(3).description == "3 threads")
    }
}
