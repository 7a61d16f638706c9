import Foundation
import SDNConfig
import SDNDataplane
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNNFTablesNetlink
import SDNNetns
import SDNHostNetwork
import SDNReconciler
import SDNRouteNetlink
import SDNTesting
import Testing

/// Two nodes (namespaces) joined by a veth underlay, a VXLAN zone across them, containers (namespaces)
/// on each: one plan per node (links and firewall together) is applied, and then real ping and TCP
/// cross the overlay exactly as the policy says (examples/overlay-demo).
@Suite(.serialized, .systemTest(tools: ["ip", "nc", "ping", "sysctl"], linkKinds: ["bridge", "vxlan", "veth"]))
struct OverlayTrafficTests {
    /// `sdntest-<pid>-…`: a killed run's namespaces are removed by the next test run.
    let prefix = "sdntest-\(getpid())-ov"

    func name(_ suffix: String) -> String { "\(prefix)-\(suffix)" }

    func ip(_ arguments: String...) throws { try Shell.output(["ip"] + arguments) }

    func teardown() {
        for suffix in ["n1", "n2", "g101", "g102", "g103"] {
            _ = try? Shell.run(["ip", "netns", "delete", name(suffix)])
        }
    }

    @Test func guestsOnTwoNodesTalkThroughTheOverlayAsThePolicySays() async throws {
        teardown()
        defer { teardown() }
        let validated = try #require(ConfigLoader.loadAndValidate(loadExampleDocuments(repositoryRoot + "/examples/overlay-demo")).validated)
        var nodes: [String: NetworkNamespace] = [:]
        for node in ["n1", "n2"] {
            nodes[node] = try NetworkNamespace.create(named: name(node))
            try ip("-n", name(node), "link", "set", "lo", "up")
        }
        try ip("-n", name("n1"), "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", name("n2"))
        // Containers as LXC starts them: the host end `veth<vmid>i0` in the node, eth0 in the container.
        for guest in validated.value.guests {
            let nic = try #require(guest.nics.first)
            let namespace = name("g\(guest.id)")
            _ = try NetworkNamespace.create(named: namespace)
            try ip("-n", namespace, "link", "set", "lo", "up")
            try ip("-n", name(guest.node), "link", "add", "veth\(guest.id)i0", "type", "veth", "peer", "name", "eth0", "netns", namespace)
            try ip("-n", namespace, "link", "set", "eth0", "address", try #require(nic.mac).description, "mtu", "1450")
            try ip("-n", namespace, "addr", "add", "\(try #require(nic.ips.first).address)/24", "dev", "eth0")
            try ip("-n", namespace, "link", "set", "eth0", "up")
        }

        for (node, namespace) in nodes.sorted(by: { $0.key < $1.key }) {
            let features = detectedKernelFeatures
            if features.guestMode == .brNetfilter {
                for key in ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"] {
                    try Shell.output(["sysctl", "-qw", "net.bridge.\(key)=1"], in: namespace)
                }
            }
            let links = try NetlinkLinks(namespace: namespace)
            let firewall = try NetlinkFirewall(namespace: namespace)
            let ruleset = await FirewallCompiler.compile(validated, node: node, features: features).ruleset.canonical()
            let observedFirewall = try await firewall.observe(tables: [(.inet, "sdn"), (.bridge, "sdn")])
            let transaction = FirewallTransaction(from: observedFirewall, to: ruleset)
            let desired = NodeNetworkBuilder.build(validated, node: node)
            let plan = Planner.plan(desired: desired, observed: try await links.observe(), firewall: transaction)
            // The firewall goes in before any port comes up.
            let firewallStep = try #require(plan.steps.firstIndex { $0.category == .firewall })
            let firstUp = try #require(plan.steps.firstIndex { if case .link(.setUp(_, true)) = $0.action { true } else { false } })
            #expect(firewallStep < firstUp, "\(PlanRenderer.render(plan))")
            _ = try await Applier(links: links, firewall: firewall).apply(plan)
            let again = Planner.plan(desired: desired, observed: try await links.observe(desired.observationScope))
            #expect(again.isEmpty, "node \(node): \(PlanRenderer.render(again))")
        }

        func pings(_ from: Int, _ to: String) throws -> Bool {
            try Shell.run(["ping", "-c", "1", "-W", "2", to], in: NetworkNamespace.named(name("g\(from)"))).status == 0
        }
        func connects(_ from: Int, _ to: Int, _ address: String, port: UInt16) throws -> Bool {
            try tcpConnects(from: NetworkNamespace.named(name("g\(from)")), to: NetworkNamespace.named(name("g\(to)")), address: address, port: port)
        }

        #expect(try pings(102, "10.50.0.11"), "client on n2 pings web on n1 through VXLAN")
        #expect(try pings(103, "10.50.0.11"), "Ping is allowed from anyone")
        #expect(try connects(102, 101, "10.50.0.11", port: 80), "client → web tcp/80 is allowed")
        #expect(try !connects(103, 101, "10.50.0.11", port: 80), "intruder → web tcp/80 is dropped")
        #expect(try !connects(102, 101, "10.50.0.11", port: 22), "client → web tcp/22 falls to policy-in drop")
        #expect(try !connects(101, 102, "10.50.0.12", port: 8080), "the client keeps the default policy-in drop")
    }
}
