import Glibc
import SDNDataplane
import SDNNFTables
import SDNTesting
import Testing

/// The firewall fake keeps the kernel's transaction rules, or the reconciler scenarios built on it
/// would prove nothing: a failing message fails the whole batch, a stale generation is refused whole,
/// a commit moves the generation by one, and an empty batch commits nothing.
@Suite struct InMemoryFirewallDataplaneTests {
    static let load: [FirewallChange] = [
        .addTable(.inet, "sdn"),
        .addChain(.inet, table: "sdn", Chain(name: "input", base: BaseChain(type: .filter, hook: .input, priority: 0, policy: .drop))),
        .addRule(.inet, table: "sdn", chain: "input", Rule(id: "lo", statements: [.verdict(.accept)])),
    ]

    @Test func aBatchCommitsAsOneAndMovesTheGenerationByOne() async throws {
        let kernel = InMemoryFirewallDataplane(generation: 41)
        let report = try await kernel.apply(Self.load, expectedGeneration: 41)
        #expect(report == FirewallApplyReport(messageCount: 3, generation: 42))
        let observed = try await kernel.observe(tables: [(.inet, "sdn"), (.bridge, "sdn")])
        #expect(observed.generation == 42)
        #expect(observed.ruleset.table(.inet, "sdn")?.chain("input")?.rules.map(\.id) == ["lo"])
        #expect(try await kernel.apply([], expectedGeneration: 42).generation == 42, "an empty batch commits nothing")
    }

    @Test func aRejectedMessageFailsTheWholeBatch() async throws {
        let kernel = InMemoryFirewallDataplane()
        kernel.rejectMessage(3, errno: EPERM)
        let error = await #expect(throws: FirewallApplyError.self) { try await kernel.apply(Self.load, expectedGeneration: 1) }
        #expect(error?.code == .rejected && error?.failedChangeIndex == 2 && error?.errno == EPERM)
        #expect(kernel.ruleset == Ruleset() && kernel.generation == 1 && kernel.committedBatches == 0)
        // The fault was for that batch only.
        #expect(try await kernel.apply(Self.load, expectedGeneration: 1).generation == 2)
    }

    @Test func theKernelsOwnRulesRejectToo() async throws {
        let kernel = InMemoryFirewallDataplane()
        let error = await #expect(throws: FirewallApplyError.self) {
            try await kernel.apply([.addTable(.inet, "sdn"), .deleteChain(.inet, table: "sdn", chain: "missing")], expectedGeneration: nil)
        }
        #expect(error?.errno == ENOENT && error?.failedChangeIndex == 1)
        #expect(kernel.ruleset == Ruleset(), "the table of message 1 must not stay")
    }

    @Test func aStaleGenerationIsRefusedWhole() async throws {
        let kernel = InMemoryFirewallDataplane()
        try kernel.commitAsAnotherWriter([.addTable(.ip, "theirs")])
        let error = await #expect(throws: FirewallApplyError.self) { try await kernel.apply(Self.load, expectedGeneration: 1) }
        #expect(error?.code == .generationChanged && error?.errno == ERESTART)
        #expect(kernel.ruleset.tables.map(\.name) == ["theirs"])
        // Unguarded, the same batch goes through.
        #expect(try await kernel.apply(Self.load, expectedGeneration: nil).generation == 3)

        kernel.anotherWriterCommitsBefore(nextBatches: 1)
        await #expect(throws: FirewallApplyError.self) { try await kernel.apply([.deleteTable(.inet, "sdn")], expectedGeneration: 3) }
        #expect(try await kernel.apply([.deleteTable(.inet, "sdn")], expectedGeneration: 4).generation == 5)
    }
}
