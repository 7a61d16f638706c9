import SDNTesting
import Testing

@Suite("System-test trait")
struct SystemTestTraitTests {
    @Test func missingToolSkipsWithItsName() async throws {
        let trait = ConditionTrait.systemTest(requiresRoot: false, tools: ["sh", "sdn-no-such-tool"])
        #expect(trait.comments.map(\.rawValue) == ["`sdn-no-such-tool` not found in PATH"])
        #expect(try await trait.evaluate() == false)
    }

    @Test func everythingPresentRunsWithoutComment() async throws {
        let trait = ConditionTrait.systemTest(requiresRoot: false, tools: ["sh"], paths: ["/proc/self"])
        #expect(trait.comments.isEmpty)
        #expect(try await trait.evaluate())
    }

    @Test func allMissingThingsAreNamedTogether() async throws {
        let trait = ConditionTrait.systemTest(requiresRoot: false, tools: ["sdn-tool-a", "sdn-tool-b"], paths: ["/sdn/absent"])
        #expect(trait.comments.map(\.rawValue) == [
            "`sdn-tool-a` not found in PATH; `sdn-tool-b` not found in PATH; `/sdn/absent` does not exist",
        ])
    }

    @Test func executableLookupReturnsAbsolutePaths() throws {
        let shell = try #require(ExecutableLookup.find("sh"))
        #expect(shell.hasPrefix("/"))
        #expect(ExecutableLookup.find(shell) == shell)
        #expect(ExecutableLookup.find("sdn-no-such-tool") == nil)
        #expect(ExecutableLookup.find("/nonexistent/sh") == nil)
        // A directory is not an executable even though it has the x bit.
        #expect(ExecutableLookup.find("/usr/bin") == nil)
    }

    @Test(.systemTest(tools: ["ip"]))
    func probesLinkKindsInAThrowawayNamespace() async throws {
        let supported = ConditionTrait.systemTest(tools: ["ip"], linkKinds: ["bridge"])
        #expect(supported.comments.isEmpty)
        #expect(try await supported.evaluate())

        let unsupported = ConditionTrait.systemTest(tools: ["ip"], linkKinds: ["sdnnosuchkind"])
        let comment = try #require(unsupported.comments.first?.rawValue)
        #expect(comment.hasPrefix("kernel cannot create link kind `sdnnosuchkind`"))
        #expect(try await unsupported.evaluate() == false)
    }
}
