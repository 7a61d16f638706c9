import Foundation
import SDNNetns
import SDNTesting
import Testing

/// Every command takes its configuration both ways — paths as arguments and repeated `--config` — and
/// means the same by them; `--kernel auto` really asks the kernel; `sdn trace` answers in JSON.
@Suite struct CommandInputTests {
    static let topologies = repositoryRoot + "/Topologies"
    static let policies = repositoryRoot + "/Policies"

    static func sdn(_ arguments: [String], in namespace: NetworkNamespace? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(SDNExecutableTests.binary, "the sdn executable was not built next to the tests")
        return try Shell.run([binary] + arguments, in: namespace)
    }

    /// Runs `command` with the demo configuration as arguments, as `--config`, and half and half.
    static func bothWays(_ command: [String], _ rest: [String] = []) throws -> [(status: Int32, stdout: String, stderr: String)] {
        [
            try sdn(command + [topologies, policies] + rest),
            try sdn(command + ["--config", topologies, "--config", policies] + rest),
            try sdn(command + [topologies, "--config", policies] + rest),
        ]
    }

    @Test(arguments: [
        ["validate"], ["validate", "--output", "json"], ["show"], ["show", "--output", "json"],
        ["compile", "--kernel", "full"], ["compile", "--kernel", "minimal", "--output", "json"],
    ])
    func dryCommandsTakePathsBothWays(_ command: [String]) throws {
        let runs = try Self.bothWays(command)
        #expect(runs[0].status == 0, "\(runs[0].stderr)")
        #expect(!runs[0].stdout.isEmpty)
        for run in runs.dropFirst() {
            #expect(run.status == runs[0].status, "\(run.stderr)")
            #expect(run.stdout == runs[0].stdout)
        }
    }

    @Test func traceTakesPathsBothWaysAndTheServiceAnywhere() throws {
        let question = ["--from", "101", "--to", "10.20.0.11", "--kernel", "minimal", "--color", "never"]
        let runs = try Self.bothWays(["trace"] + question, ["tcp/5432"])
        let serviceFirst = try Self.sdn(["trace", "tcp/5432", Self.topologies, Self.policies] + question)
        for run in runs + [serviceFirst] {
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout == runs[0].stdout)
        }
        #expect(runs[0].stdout.hasSuffix("verdict: accept\n"))
        let typo = try Self.sdn(["trace", "tcp/5432", Self.topologies + "x"] + question)
        #expect(typo.status == 2)
        #expect(typo.stderr.contains("no such file or directory"), "\(typo.stderr)")
    }

    @Test func traceAnswersInJSONWithEveryHook() throws {
        let result = try Self.sdn(["trace", Self.topologies, Self.policies, "--from", "102", "--to", "201", "tcp/5432", "--kernel", "full", "--output", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["complete"] as? Bool == true)
        let verdict = try #require(object["verdict"] as? String)
        let legs = try #require(object["legs"] as? [[String: Any]])
        // Routed web → db in the full layout, up to where a leg refuses it.
        let hooks = legs.compactMap { $0["hook"] as? String }
        let all = ["bridge prerouting", "bridge input", "inet prerouting", "inet forward", "inet postrouting", "bridge output", "bridge postrouting"]
        #expect(hooks == Array(all.prefix(hooks.count)), "\(hooks)")
        #expect(verdict == "accept" ? hooks == all : legs.last?["verdict"] as? String == verdict)
        let first = try #require(legs.first?["packet"] as? [String: Any])
        #expect(first["iifname"] as? String == "veth102i0" && first["ibrname"] as? String == "web")
        #expect(first["saddr"] as? String == "10.10.0.12" && first["daddr"] as? String == "10.20.0.11" && first["dport"] as? Int == 5432)

        // An address no guest declares: the path stops where the node hands it to the bridge.
        let undeclared = try Self.sdn(["trace", Self.topologies, Self.policies, "--from", "node", "--to", "10.20.0.99", "ping", "--kernel", "full", "--output", "json"])
        let stopped = try #require(try JSONSerialization.jsonObject(with: Data(undeclared.stdout.utf8)) as? [String: Any], "\(undeclared.stderr)")
        if stopped["verdict"] as? String == "accept" {
            #expect(stopped["complete"] as? Bool == false)
            #expect((stopped["incomplete"] as? String)?.contains("--dst-ip 10.20.0.99") == true)
        }
        #expect((stopped["legs"] as? [[String: Any]])?.first?["hook"] as? String == "inet output")
    }

    @Test func traceRefusesImpossibleQuestionsWithTheFix() throws {
        let base = ["trace", Self.topologies, Self.policies, "--kernel", "full"]
        let spoof = try Self.sdn(base + ["--from", "203.0.113.9", "--src-ip", "10.10.0.99", "--to", "101", "ping"])
        #expect(spoof.status == 2)
        #expect(spoof.stderr.contains("--src-ip needs a guest NIC"), "\(spoof.stderr)")
        let badMAC = try Self.sdn(base + ["--from", "101", "--src-mac", "52:54:00:zz:00:01", "--to", "102", "ping"])
        #expect(badMAC.status == 2)
        #expect(badMAC.stderr.contains("is not a MAC address"), "\(badMAC.stderr)")
    }
}

/// The commands that reach a kernel, both ways, in a namespace of their own; and `--kernel auto`.
@Suite(.serialized, .systemTest(tools: ["ip", "nft", "setpriv"], linkKinds: ["bridge", "vxlan", "veth"]))
struct KernelCommandInputTests {
    static let example = repositoryRoot + "/examples/overlay-demo"

    @Test func planDiffAndApplyTakePathsBothWays() throws {
        try withTemporaryNetworkNamespace { namespace in
            try Shell.output(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"], in: namespace)
            let target = ["--node", "n1", "--netns", namespace.name!, "--links"]
            let positional = [Self.example + "/Topologies", Self.example + "/Policies"]
            let options = ["--config", Self.example + "/Topologies", "--config", Self.example + "/Policies"]
            for command in [["plan"], ["diff"], ["apply", "--dry-run"]] {
                let one = try CommandInputTests.sdn(command + positional + target)
                let other = try CommandInputTests.sdn(command + options + target)
                #expect(one.status == 3 || (command[0] == "apply" && one.status == 0), "\(command): \(one.stdout)\(one.stderr)")
                #expect(other.status == one.status)
                #expect(other.stdout == one.stdout, "\(command)")
                #expect(one.stdout.contains("vxlan_blue"), "\(command): \(one.stdout)")
            }
        }
    }

    @Test func compileProbesTheKernelByDefaultAndItsOutputLoads() throws {
        try withTemporaryNetworkNamespace { namespace in
            let input = [CommandInputTests.topologies, CommandInputTests.policies]
            let byDefault = try CommandInputTests.sdn(["compile"] + input, in: namespace)
            let auto = try CommandInputTests.sdn(["compile", "--kernel", "auto"] + input, in: namespace)
            #expect(byDefault.status == 0 && auto.status == 0, "\(byDefault.stderr)")
            #expect(byDefault.stdout == auto.stdout)
            #expect(!auto.stderr.contains("cannot probe"), "\(auto.stderr)")
            // The probe leaves nothing behind.
            #expect(!(try Shell.output(["nft", "list", "tables"], in: namespace)).contains("sdn_probe"))
            // What auto chose is one of the two layouts, and the one this kernel loads: `sdn compile | nft -f -`.
            let full = try CommandInputTests.sdn(["compile", "--kernel", "full"] + input)
            let minimal = try CommandInputTests.sdn(["compile", "--kernel", "minimal"] + input)
            #expect(auto.stdout == full.stdout || auto.stdout == minimal.stdout)
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-auto-\(getpid()).nft")
            try auto.stdout.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let loaded = try Shell.run(["nft", "-f", file.path], in: namespace)
            #expect(loaded.status == 0, "\(loaded.stderr)")
            // Where the two layouts differ, the other one does not load here: auto did not just pick `full`.
            if full.stdout != minimal.stdout {
                let other = auto.stdout == full.stdout ? minimal.stdout : full.stdout
                try other.write(to: file, atomically: true, encoding: .utf8)
                _ = try Shell.run(["nft", "delete", "table", "bridge", "sdn"], in: namespace)
                _ = try Shell.run(["nft", "delete", "table", "inet", "sdn"], in: namespace)
                let otherLoad = try Shell.run(["nft", "-c", "-f", file.path], in: namespace)
                #expect(otherLoad.status != 0 || auto.stdout == full.stdout, "the layout auto did not choose loads too; auto should have chosen full")
            }
        }
    }

    @Test func withoutPrivilegesCompileSaysWhichLayoutItAssumed() throws {
        let binary = try #require(SDNExecutableTests.binary)
        let input = [CommandInputTests.topologies, CommandInputTests.policies]
        let unprivileged = try Shell.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", binary, "compile"] + input)
        try #require(!unprivileged.stderr.contains("Permission denied"), "the sdn binary is not readable by nobody: \(unprivileged.stderr)")
        #expect(unprivileged.status == 0, "\(unprivileged.stderr)")
        #expect(unprivileged.stderr.contains("cannot probe the kernel"), "\(unprivileged.stderr)")
        #expect(unprivileged.stderr.contains("assuming the full layout"))
        #expect(unprivileged.stdout == (try CommandInputTests.sdn(["compile", "--kernel", "full"] + input)).stdout)
    }
}
