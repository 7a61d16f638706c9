import Foundation
import SDNConfig
import SDNTesting
import Testing

/// Runs the real `sdn` binary the way a user does and checks output and exit status.
@Suite struct SDNExecutableTests {
    static let binary: String? = {
        // Test bundles sit next to the package's products in .build/<config>/.
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("sdn").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }()

    func sdn(_ arguments: String...) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(Self.binary, "the sdn executable was not built next to the tests (run `swift build` first)")
        return try Shell.run([binary] + arguments + ["--color", "never"].filter { _ in arguments.first == "validate" })
    }

    @Test func threeErrorsArePrintedWithLocationsAndExitOne() throws {
        let result = try sdn("validate", fixturesDirectory("three-errors"))
        #expect(result.status == 1)
        let located = result.stdout.split(separator: "\n").filter { $0.contains("net.yaml:") && $0.contains(": error: ") }
        #expect(located.count == 3, "\(result.stdout)")
        #expect(result.stdout.contains("net.yaml:7:13: error: zone 'lan' uses bridge 'vmbr0', which node 'pve1' does not have"))
        #expect(result.stdout.contains("net.yaml:11:10: error: VLAN tag 5000"))
        #expect(result.stdout.contains("net.yaml:14:18: error: gateway 10.0.1.1 is not inside subnet 10.0.0.0/24"))
        #expect(result.stdout.contains("invalid: 1 file; 3 errors"))
    }

    @Test func cleanExamplesExitZero() throws {
        for example in ["three-node-vxlan", "vlan-bond", "hardened-web"] {
            let directory = repositoryRoot + "/examples/" + example
            let result = try sdn("validate", directory + "/Topologies", directory + "/Policies")
            #expect(result.status == 0, "\(example): \(result.stdout)")
            #expect(result.stdout.hasPrefix("valid:"))
        }
    }

    @Test func unreadableInputExitsTwo() throws {
        let result = try sdn("validate", "/nonexistent/Topologies")
        #expect(result.status == 2)
        #expect(result.stderr.contains("no such file or directory"))
    }

    @Test func jsonOutputIsMachineReadable() throws {
        let result = try sdn("validate", "--output", "json", fixturesDirectory("three-errors"))
        #expect(result.status == 1)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["valid"] as? Bool == false)
        #expect((object?["diagnostics"] as? [[String: Any]])?.count == 3)
        #expect((object?["diagnostics"] as? [[String: Any]])?.first?["line"] as? Int == 7)
    }

    @Test func showOutputValidatesAgain() throws {
        let shown = try sdn("show", repositoryRoot + "/Topologies", repositoryRoot + "/Policies")
        #expect(shown.status == 0)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-show-\(getpid()).yaml")
        try shown.stdout.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let validated = try sdn("validate", file.path)
        #expect(validated.status == 0, "\(validated.stdout)")
        // Not just valid: the same model, every default now explicit.
        let original = try #require(ConfigLoader.loadAndValidate(loadExampleDocuments(repositoryRoot)).validated?.value)
        let reloaded = try #require(ConfigLoader.loadAndValidate([ConfigDocument(path: file.path, text: shown.stdout, kind: ConfigDocument.kind(impliedBy: file.path))]).validated?.value)
        #expect(reloaded.nodes == original.nodes)
        #expect(reloaded.zones == original.zones)
        #expect(reloaded.vnets == original.vnets)
        #expect(reloaded.guests == original.guests)
        #expect(reloaded.firewall.groups == original.firewall.groups)
        #expect(reloaded.firewall.aliases == original.firewall.aliases)
        #expect(reloaded.firewall.ipsets == original.firewall.ipsets)
        for policy in original.firewall.allPolicies {
            #expect(reloaded.firewall.policy(for: policy.scope)?.rules == policy.rules, "rules of \(policy.scope)")
            #expect(reloaded.firewall.effectiveOptions(for: policy.scope) == original.firewall.effectiveOptions(for: policy.scope), "options of \(policy.scope)")
        }
        let json = try sdn("show", "--output", "json", repositoryRoot + "/Topologies", repositoryRoot + "/Policies")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["topology"] as? [String: Any])?["nodes"] != nil)
    }

    @Test func shellCompletionScriptsAreGenerated() throws {
        for shell in ["bash", "zsh", "fish"] {
            let result = try sdn("--generate-completion-script", shell)
            #expect(result.status == 0)
            #expect(result.stdout.contains("validate"))
        }
    }
}

extension SDNExecutableTests {
    @Test func policyThatLocksTheOperatorOutIsRefused() throws {
        let directory = fixturesDirectory("lockout")
        let result = try sdn("compile", directory + "/Topologies", directory + "/Policies", "--kernel", "full")
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty, "no ruleset may be printed")
        #expect(result.stderr.contains("would block SSH (22) from management network 192.0.2.0/24"))
        #expect(result.stderr.contains("policy.yaml:2:41"))
    }

    @Test func traceExplainsAVerdictWithThePolicyLine() throws {
        let result = try sdn("trace", "--config", repositoryRoot + "/Topologies", "--config", repositoryRoot + "/Policies",
                             "--from", "101", "--to", "10.20.0.11", "tcp/5432", "--kernel", "minimal", "--color", "never")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Policies/demo.yaml:35:9"))
        #expect(result.stdout.hasSuffix("verdict: accept\n"))
        let denied = try sdn("trace", "--config", repositoryRoot + "/Topologies", "--config", repositoryRoot + "/Policies",
                             "--from", "102", "--to", "10.10.0.11", "tcp/9100", "--kernel", "minimal", "--color", "never")
        #expect(denied.stdout.hasSuffix("verdict: drop\n"))
    }
}
