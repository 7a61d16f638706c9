@testable import SDNModel
import Testing

/// Values the kernel or nft would refuse are refused by the model already, with a reason.
@Suite struct KernelBoundsTests {
    @Test(arguments: ["eth\"0", "@x", "x*", "a\\b", "e*x"])
    func interfaceNamesNftCannotWriteAreRejected(_ text: String) {
        #expect(InterfaceName.problem(with: text) != nil, "\(text)")
        #expect(throws: ScalarParseError.self) { try InterfaceName(text) }
    }

    @Test(arguments: ["x@y", "e$x", "e'x", "e#x", "br-lan", "abcdefghijklmno"])
    func unusualButWritableNamesAreAccepted(_ text: String) {
        #expect(InterfaceName.problem(with: text) == nil, "\(String(describing: InterfaceName.problem(with: text)))")
    }

    @Test func interfacePatternsAllowOneTrailingWildcard() {
        #expect(InterfaceName.patternProblem(with: "eth*") == nil)
        #expect(InterfaceName.patternProblem(with: "abcdefghijklmn*") == nil)
        #expect(InterfaceName.patternProblem(with: "abcdefghijklmno*")?.reason.contains("16 bytes") == true)
        #expect(InterfaceName.patternProblem(with: "*")?.reason.contains("every interface") == true)
        #expect(InterfaceName.patternProblem(with: "e*x")?.offset == 1)
        #expect(InterfaceName.patternProblem(with: "**")?.offset == 0)
        #expect(InterfaceName.patternProblem(with: "@x*") != nil)
        #expect(InterfaceName.patternProblem(with: "") != nil)
    }

    /// The largest bursts measured against this machine's kernel with `nft -c`: one more is refused
    /// with EOVERFLOW (see the property test, which loads the extremes).
    @Test func maximumBurstFollowsTheKernelsTokenCounter() {
        #expect(LogRateLimit(rate: 1, unit: .day, burst: 1).maximumBurst == 213_503)
        #expect(LogRateLimit(rate: 1, unit: .hour, burst: 1).maximumBurst == 5_124_095)
        #expect(LogRateLimit(rate: 1, unit: .minute, burst: 1).maximumBurst == 307_445_734)
        #expect(LogRateLimit(rate: 1, unit: .second, burst: 1).maximumBurst == Int(UInt32.max))
        #expect(LogRateLimit(rate: Int(UInt32.max), unit: .second, burst: 1).maximumBurst == Int(UInt32.max))
    }

    @Test func logRateLimitTextIsBoundedWithTheOffsetOfTheCulprit() throws {
        #expect(try LogRateLimit("1/day burst 213503").burst == 213_503)
        #expect(try LogRateLimit("4294967295/second burst 4294967295").rate == Int(UInt32.max))
        for (text, offset) in [("1/hour burst 4294967295", 13), ("1/second burst 4294967296", 15), ("1/second burst 99999999999999999999", 15),
                               ("4294967296/second", 0), ("0/second", 0), ("99999999999999999999/second", 0)] {
            do {
                _ = try LogRateLimit(text)
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.reason.contains("out of range"), "\(text): \(error.reason)")
                #expect(error.offset == offset, "\(text)")
            }
        }
        #expect(throws: ScalarParseError.self) { try LogRateLimit("/second") }
    }

    @Test func validatorRefusesALimitBuiltInCode() {
        var state = DesiredState()
        state.firewall.cluster.options.logRateLimit = LogRateLimit(rate: 1, unit: .hour, burst: Int(UInt32.max))
        let outcome = state.validate()
        #expect(outcome.validated == nil)
        #expect(outcome.diagnostics.contains { $0.code == .outOfRange && $0.path == "cluster.options.log-rate-limit" })
    }

    @Test func ruleIDsHaveAtMost32Characters() {
        #expect(Identifier.ruleIDProblem(with: String(repeating: "a", count: 32)) == nil)
        #expect(Identifier.ruleIDProblem(with: String(repeating: "a", count: 33)) != nil)
        // Other names keep 63.
        #expect(Identifier.problem(with: String(repeating: "a", count: 63)) == nil)
        var state = DesiredState()
        state.firewall.cluster.rules = [FirewallRule(id: String(repeating: "a", count: 33), hasExplicitID: true, body: .match(RuleMatch(direction: .in, action: .accept)))]
        #expect(state.validate().diagnostics.contains { $0.code == .invalidName && $0.message.contains("rule id") })
    }
}
