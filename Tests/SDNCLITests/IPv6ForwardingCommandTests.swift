import Foundation
import SDNNetns
import SDNTesting
import Testing

/// `sdn plan`, `sdn apply` and `sdn diff` on a node that routes IPv6: the node-wide switch and the
/// uplink's accept_ra are steps of the plan, a second apply writes nothing, and drift on either is
/// reported and repaired.
@Suite(.serialized, .systemTest(tools: ["ip", "sysctl"], linkKinds: ["bridge", "veth"]))
struct IPv6ForwardingCommandTests {
    var config: [String] { ["--config", fixturesDirectory("ipv6-routing"), "--node", "n1", "--links"] }

    func sdn(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(SDNExecutableTests.binary, "the sdn executable was not built next to the tests")
        return try Shell.run([binary] + arguments)
    }

    func sysctl(_ key: String, in namespace: NetworkNamespace) throws -> String {
        try Shell.output(["sysctl", "-n", key], in: namespace).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func planApplyAndDriftOfNodeWideForwardingAndAcceptRA() throws {
        try withTemporaryNetworkNamespace { namespace in
            let target = ["--netns", namespace.name!]
            try Shell.output(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"], in: namespace)

            let plan = try sdn(["plan"] + config + target)
            #expect(plan.status == 3, "\(plan.stdout)\(plan.stderr)")
            let lines = plan.stdout.split(separator: "\n").map(String.init)
            let acceptRA = try #require(lines.firstIndex { $0.contains("~ set ipv6 accept_ra 2 dev eth0") }, "\(plan.stdout)")
            let nodeWide = try #require(lines.firstIndex { $0.contains("~ set ipv6 forwarding on (all interfaces)   # off → on") }, "\(plan.stdout)")
            #expect(acceptRA < nodeWide)

            let apply = try sdn(["apply"] + config + target + ["--yes"])
            #expect(apply.status == 0, "\(apply.stdout)\(apply.stderr)")
            #expect(try sysctl("net.ipv6.conf.all.forwarding", in: namespace) == "1")
            #expect(try sysctl("net.ipv6.conf.eth0.accept_ra", in: namespace) == "2")
            #expect(try sysctl("net.ipv4.ip_forward", in: namespace) == "0", "IPv4 needs no node-wide switch")
            let again = try sdn(["apply"] + config + target + ["--yes"])
            #expect(again.status == 0 && again.stdout.contains("up to date"), "\(again.stdout)")

            try Shell.output(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"], in: namespace)
            try Shell.output(["sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=1"], in: namespace)
            let drift = try sdn(["diff"] + config + target)
            #expect(drift.status == 3, "\(drift.stdout)\(drift.stderr)")
            #expect(drift.stdout.contains("set ipv6 accept_ra 2 dev eth0"), "\(drift.stdout)")
            #expect(drift.stdout.contains("set ipv6 forwarding on (all interfaces)"), "\(drift.stdout)")
            #expect(try sdn(["apply"] + config + target + ["--yes"]).status == 0)
            #expect(try sdn(["diff"] + config + target).status == 0)
            #expect(try sysctl("net.ipv6.conf.all.forwarding", in: namespace) == "1")
        }
    }
}
