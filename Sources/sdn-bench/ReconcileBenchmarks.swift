import Foundation
import SDNDataplane
import SDNModel
import SDNNetns
import SDNHostNetwork
import SDNReconciler
import SDNRouteNetlink

// MARK: - links-reconcile

/// The whole product path for links, at scale: a VXLAN zone of N vnets (bridge, VXLAN device, one
/// flood entry per peer — three peers) planned and applied from scratch, then the no-op reconcile
/// (observe + plan) that a second `sdn apply` or a drift check does, with its kernel write count.
func benchLinksReconcile() async throws {
    let repeats = iterations(10)
    for vnets in guestCounts([1_000]) {
        let state = vxlanZoneState(vnets: vnets, peers: 3)
        guard let validated = state.validate().validated else {
            print("links-reconcile: the synthetic topology does not validate")
            exit(1)
        }
        let (desired, buildTime) = timed { NodeNetworkBuilder.build(validated, node: "n0") }
        print("links-reconcile: \(vnets) vnets, \(desired.links.count) links, \(desired.fdb.count) FDB entries (build \(String(format: "%.1f", buildTime)) ms)")
        try await withBenchNamespace { namespace in
            _ = try run(["ip", "-n", namespace.name!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"])
            let links = try NetlinkLinks(namespace: namespace)
            let (plan, coldPlan) = try await timedAsync { Planner.plan(desired: desired, observed: try await links.observe(desired.observationScope)) }
            let (_, coldApply) = try await timedAsync { try await Applier(links: links).apply(plan) }
            print(String(format: "  cold: observe+plan %.1f ms, apply %.1f ms (%d writes), total %.1f ms", coldPlan, coldApply, plan.linkWriteCount, coldPlan + coldApply))

            var observeSamples: [Double] = []
            var planSamples: [Double] = []
            var totalSamples: [Double] = []
            let writesBefore = links.writeCount
            for _ in 0..<repeats {
                let (observed, observeTime) = try await timedAsync { try await links.observe(desired.observationScope) }
                let (noop, planTime) = timed { Planner.plan(desired: desired, observed: observed) }
                let (_, applyTime) = try await timedAsync { try await Applier(links: links).apply(noop) }
                guard noop.isEmpty else {
                    print("  no-op plan is not empty:\n" + PlanRenderer.render(noop))
                    exit(1)
                }
                observeSamples.append(observeTime)
                planSamples.append(planTime)
                totalSamples.append(observeTime + planTime + applyTime)
            }
            report("  no-op reconcile: observe", observeSamples)
            report("  no-op reconcile: plan", planSamples)
            report("  no-op reconcile: total (kernel writes: \(links.writeCount - writesBefore))", totalSamples)
        }
    }
}

/// Node n0 and `peers` other nodes, one VXLAN zone over all of them with `vnets` vnets.
func vxlanZoneState(vnets: Int, peers: Int) -> DesiredState {
    let nodes = (0...peers).map { index in
        let address = try! IPAddress("10.77.0.\(index + 1)")
        return Node(name: "n\(index)", address: address, management: [try! IPPrefix("10.77.0.0/24")],
                    uplinks: [Uplink(name: try! InterfaceName("eth0"), kind: .physical(mac: nil), mtu: try! MTU(1500), addresses: [IPPrefix(address: address, length: 24)])])
    }
    let zone = Zone(name: "overlay", kind: .vxlan(VXLANZone()))
    let vnets = (1...vnets).map { VNet(name: "v\($0)", zone: "overlay", tag: 10_000 + $0) }
    return DesiredState(nodes: nodes, zones: [zone], vnets: vnets)
}
