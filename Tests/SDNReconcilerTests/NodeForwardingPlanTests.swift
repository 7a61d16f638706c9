import SDNConfig
import SDNDataplane
import SDNModel
import SDNNFTables
import SDNHostNetwork
import SDNReconciler
import Testing

/// The node-wide IPv6 forwarding switch and the uplinks' accept_ra in the desired state and the plan:
/// when they are wanted, in which order they are written, what undoes them, and what is left alone.
@Suite struct NodeForwardingPlanTests {
    static let topology = """
        nodes:
          n1:
            uplinks:
              eth0: {}
              eth1: {}
              eth2: {}
              eth3: {}
              bond0: { bond: { mode: active-backup, members: [eth2, eth3] } }
        zones:
          local: { type: simple }
        vnets:
          lan:
            zone: local
            subnets:
              10.10.0.0/24: { gateway: 10.10.0.1 }
              %IPV6%
        """

    static func network(ipv6: Bool) throws -> NodeNetwork {
        let text = topology.replacingOccurrences(of: "%IPV6%", with: ipv6 ? "\"fd00:10::/64\": { gateway: \"fd00:10::1\" }" : "")
        let (validated, diagnostics) = ConfigLoader.loadAndValidate([ConfigDocument(path: "topology.yaml", text: text, kind: .topology)])
        return NodeNetworkBuilder.build(try #require(validated, "\(diagnostics)"), node: "n1")
    }

    /// The kernel of a node that routes nothing yet: every uplink takes advertisements.
    static func hostKernel(ipv6Forwarding: Bool = false, acceptRA: [String: Int] = ["eth0": 1, "eth1": 1, "eth2": 1, "eth3": 1]) -> ObservedNetwork {
        var observed = ObservedNetwork()
        for (index, name) in ["eth0", "eth1", "eth2", "eth3"].enumerated() {
            observed.links.append(ObservedLink(spec: LinkSpec(name: name, kind: .other(""), mtu: 1500, up: true), index: Int32(index + 2), operationallyUp: true))
            observed.forwarding.append(ForwardingSetting(interface: name, family: .ipv6, enabled: ipv6Forwarding))
        }
        observed.routerAdvertisements = acceptRA.sorted { $0.key < $1.key }.map { RouterAdvertisementSetting(interface: $0.key, acceptRA: $0.value) }
        observed.nodeForwarding = [NodeForwardingSetting(family: .ipv4, enabled: false), NodeForwardingSetting(family: .ipv6, enabled: ipv6Forwarding)]
        observed.defaultAcceptRA = 1
        return observed
    }

    func index(of operation: LinkOperation, in plan: Plan) -> Int? {
        plan.steps.firstIndex { $0.action == .link(operation) }
    }

    @Test func aNodeThatRoutesIPv6TurnsOnNodeWideForwardingAndKeepsItsUplinksTakingAdvertisements() throws {
        let desired = try Self.network(ipv6: true)
        #expect(desired.nodeForwarding == [NodeForwardingSetting(family: .ipv6, enabled: true)])
        // Bond members carry no traffic of their own: the bond does.
        #expect(desired.routerAdvertisementUplinks == ["eth0", "eth1", "bond0"])
        #expect(desired.observationScope.nodeWideIPv6)

        var observed = Self.hostKernel(acceptRA: ["eth0": 1, "eth1": 0, "eth2": 1, "eth3": 1])
        // Someone turned IPv6 forwarding on for eth1 by hand: undoing the node-wide switch must bring it back.
        observed.forwarding = observed.forwarding.map { $0.interface == "eth1" ? ForwardingSetting(interface: "eth1", family: .ipv6, enabled: true) : $0 }
        let firewall = FirewallTransaction(changes: [.addTable(.inet, "sdn")], undo: [.deleteTable(.inet, "sdn")], expectedGeneration: 1)
        let plan = Planner.plan(desired: desired, observed: observed, firewall: firewall)

        let eth0 = try #require(index(of: .setRouterAdvertisements(RouterAdvertisementSetting(interface: "eth0", acceptRA: 2)), in: plan), "\(PlanRenderer.render(plan))")
        // A new bond starts with default's accept_ra (1): it gets 2 as well, after it is created.
        let bond = try #require(index(of: .setRouterAdvertisements(RouterAdvertisementSetting(interface: "bond0", acceptRA: 2)), in: plan))
        let created = try #require(plan.steps.firstIndex { if case .link(.createLink(let spec)) = $0.action { spec.name == "bond0" } else { false } })
        #expect(created < bond)
        #expect(plan.steps[bond].undo.isEmpty, "deleting the new bond undoes it")
        #expect(plan.steps[eth0].undo == [.link(.setRouterAdvertisements(RouterAdvertisementSetting(interface: "eth0", acceptRA: 1)))])
        #expect(!plan.steps.contains { if case .link(.setRouterAdvertisements(let setting)) = $0.action { setting.interface == "eth1" } else { false } },
                "eth1 takes no advertisements (accept_ra 0): left alone")

        let nodeWide = try #require(index(of: .setNodeForwarding(NodeForwardingSetting(family: .ipv6, enabled: true)), in: plan))
        let firstIPv6Switch = try #require(plan.steps.firstIndex { if case .link(.setForwarding(let setting)) = $0.action { setting.family == .ipv6 } else { false } })
        #expect(max(eth0, bond) < firstIPv6Switch, "accept_ra goes before every IPv6 forwarding write:\n\(PlanRenderer.render(plan))")
        let firewallStep = try #require(plan.steps.firstIndex { $0.category == .firewall })
        #expect(firewallStep < nodeWide, "the node routes nothing new before the firewall is in")
        let vnetUp = try #require(index(of: .setUp(name: "lan", up: true), in: plan))
        #expect(nodeWide < vnetUp, "new links come up last")
        #expect(plan.steps[nodeWide].undo == [
            .link(.setNodeForwarding(NodeForwardingSetting(family: .ipv6, enabled: false))),
            .link(.setForwarding(ForwardingSetting(interface: "eth1", family: .ipv6, enabled: true))),
        ])
        #expect(PlanRenderer.render(plan).contains("~ set ipv6 forwarding on (all interfaces)   # off → on"), "\(PlanRenderer.render(plan))")
        #expect(!plan.steps.contains { if case .link(.setNodeForwarding(let setting)) = $0.action { setting.family == .ipv4 } else { false } })
    }

    @Test func nothingToDoWhenTheKernelAlreadyForwardsAndTheUplinksKeepAdvertisements() throws {
        let desired = try Self.network(ipv6: true)
        var observed = Self.hostKernel(ipv6Forwarding: true, acceptRA: ["eth0": 2, "eth1": 2, "eth2": 1, "eth3": 1, "bond0": 2])
        observed.links.append(ObservedLink(spec: LinkSpec(name: "bond0", kind: .bond(BondLinkSettings(mode: .activeBackup)), mtu: 1500, up: true,
                                                          alias: "sdn:uplink:bond0"), index: 9, operationallyUp: true))
        let plan = Planner.plan(desired: desired, observed: observed)
        #expect(!plan.steps.contains {
            switch $0.action {
            case .link(.setNodeForwarding), .link(.setRouterAdvertisements): true
            default: false
            }
        }, "\(PlanRenderer.render(plan))")
    }

    @Test func anUplinkWhoseSettingTheKernelDoesNotReportIsLeftAlone() throws {
        let plan = Planner.plan(desired: try Self.network(ipv6: true), observed: Self.hostKernel(acceptRA: [:]))
        #expect(!plan.steps.contains { if case .link(.setRouterAdvertisements(let setting)) = $0.action { setting.interface != "bond0" } else { false } },
                "\(PlanRenderer.render(plan))")
    }

    @Test func anIPv4OnlyNodeTouchesNoNodeWideSetting() throws {
        let desired = try Self.network(ipv6: false)
        #expect(desired.nodeForwarding.isEmpty)
        #expect(desired.routerAdvertisementUplinks.isEmpty)
        #expect(!desired.observationScope.nodeWideIPv6)
        let plan = Planner.plan(desired: desired, observed: Self.hostKernel())
        #expect(!plan.steps.contains {
            switch $0.action {
            case .link(.setNodeForwarding), .link(.setRouterAdvertisements): true
            default: false
            }
        }, "\(PlanRenderer.render(plan))")
        // IPv4 forwards by the switch of the interface a packet comes in on: the vnet bridge's.
        #expect(plan.steps.contains { $0.action == .link(.setForwarding(ForwardingSetting(interface: "lan", family: .ipv4, enabled: true))) })
        #expect(plan.notes.isEmpty, "\(plan.notes)")
    }

    /// sdn does not turn node-wide forwarding off or lower accept_ra when IPv6 routing goes away; the
    /// plan says so instead of staying silent.
    @Test func noLongerRoutingIPv6LeavesTheSwitchOnAndSaysSo() throws {
        let plan = Planner.plan(desired: try Self.network(ipv6: false), observed: Self.hostKernel(ipv6Forwarding: true, acceptRA: ["eth0": 2, "eth1": 2]))
        #expect(!plan.steps.contains {
            switch $0.action {
            case .link(.setNodeForwarding), .link(.setRouterAdvertisements): true
            default: false
            }
        }, "\(PlanRenderer.render(plan))")
        #expect(plan.notes.contains { $0.hasPrefix("net.ipv6.conf.all.forwarding stays on") }, "\(plan.notes)")
    }
}
