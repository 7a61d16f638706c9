import Foundation
import SDNNetns
import SDNTesting
import Testing

/// `sdn plan`, `sdn apply` and `sdn diff` as a user runs them, against a namespace made per test: exit
/// statuses, a second apply with nothing to do, drift found and repaired, and a conflict refused with
/// nothing changed.
@Suite(.serialized, .systemTest(tools: ["ip", "bridge"], linkKinds: ["bridge", "vxlan", "veth"]))
struct PlanApplyCommandTests {
    var config: [String] {
        let example = repositoryRoot + "/examples/overlay-demo"
        return ["--config", example + "/Topologies", "--config", example + "/Policies", "--node", "n1"]
    }

    func sdn(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(SDNExecutableTests.binary, "the sdn executable was not built next to the tests")
        return try Shell.run([binary] + arguments)
    }

    @Test func planApplyDiffAndDrift() throws {
        try withTemporaryNetworkNamespace { namespace in
            let target = ["--netns", namespace.name!]
            try Shell.output(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"], in: namespace)

            let plan = try sdn(["plan"] + config + target + ["--links"])
            #expect(plan.status == 3, "changes pending: \(plan.stdout)\(plan.stderr)")
            #expect(plan.stdout.contains("+ create vxlan vxlan_blue"), "\(plan.stdout)")

            let apply = try sdn(["apply"] + config + target + ["--links", "--yes"])
            #expect(apply.status == 0, "\(apply.stdout)\(apply.stderr)")
            #expect(apply.stdout.contains("converged"), "\(apply.stdout)")
            let fdb = try Shell.output(["bridge", "fdb", "show", "dev", "vxlan_blue"], in: namespace)
            #expect(fdb.contains("dst 192.0.2.2"), "\(fdb)")

            let again = try sdn(["apply"] + config + target + ["--links", "--yes"])
            #expect(again.status == 0 && again.stdout.contains("up to date"), "\(again.stdout)")
            #expect(try sdn(["plan"] + config + target + ["--links"]).status == 0)

            try Shell.output(["ip", "link", "set", "vxlan_blue", "mtu", "1400"], in: namespace)
            let drift = try sdn(["diff"] + config + target + ["--links"])
            #expect(drift.status == 3)
            #expect(drift.stdout.contains("set vxlan_blue mtu 1450"), "\(drift.stdout)")
            #expect(try sdn(["apply"] + config + target + ["--links", "--yes"]).status == 0)
            #expect(try sdn(["diff"] + config + target + ["--links"]).status == 0)
        }
    }

    @Test func aConflictIsRefusedAndNothingChanges() throws {
        try withTemporaryNetworkNamespace { namespace in
            let target = ["--netns", namespace.name!]
            try Shell.output(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"], in: namespace)
            // Someone else's bridge with the vnet's name.
            try Shell.output(["ip", "link", "add", "blue", "type", "bridge"], in: namespace)
            let before = try Shell.output(["ip", "-d", "link", "show"], in: namespace)

            let plan = try sdn(["plan"] + config + target + ["--links"])
            #expect(plan.status == 1)
            #expect(plan.stdout.contains("conflict: blue exists and was not created by sdn"), "\(plan.stdout)")
            let apply = try sdn(["apply"] + config + target + ["--links", "--yes"])
            #expect(apply.status == 1)
            #expect(apply.stderr.contains("refusing to apply"), "\(apply.stderr)")
            #expect(try Shell.output(["ip", "-d", "link", "show"], in: namespace) == before)
        }
    }

    @Test func nonInteractiveApplyWithoutYesAsksForIt() throws {
        try withTemporaryNetworkNamespace { namespace in
            try Shell.output(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"], in: namespace)
            let apply = try sdn(["apply"] + config + ["--netns", namespace.name!, "--links"])
            #expect(apply.status == 2)
            #expect(apply.stderr.contains("pass --yes"), "\(apply.stderr)")
            let links = try Shell.output(["ip", "link", "show"], in: namespace)
            #expect(!links.contains("vxlan_blue"))
        }
    }
}
