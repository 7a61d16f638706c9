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

    @Test func toolsInSbinAreFoundEvenWithoutItInPATH() throws {
        // `ip` lives in /usr/sbin or /sbin; the lookup must not depend on the caller's PATH.
        try #require(ExecutableLookup.find("ip") != nil || ExecutableLookup.find("/usr/sbin/ip") == nil)
        if let ip = ExecutableLookup.find("ip") {
            #expect(ip.hasPrefix("/"))
        }
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
