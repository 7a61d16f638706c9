import Foundation
import Glibc
import SDNConfig
import SDNDataplane
import SDNModel
import SDNHostNetwork
import SDNReconciler
import SDNTesting
import Testing

/// Planner and applier scenarios on the in-memory dataplane: each fixture holds the topology before
/// and after, the links the "kernel" has that sdn did not make, and optionally a write that fails. The
/// golden file is the printed plan, every write in order (with the rollback), and what followed.
@Suite struct PlannerScenarioTests {
    static let cases = FixtureCase.all(in: fixturesDirectory())

    @Test(arguments: cases)
    func scenario(_ fixture: FixtureCase) async throws {
        let scenario = try Scenario(text: fixture.read("scenario") ?? "")
        let dataplane = InMemoryLinkDataplane(scenario.initialNetwork)
        if FileManager.default.fileExists(atPath: fixture.path("before")) {
            let before = NodeNetworkBuilder.build(try validate(fixture.path("before")), node: scenario.node)
            let setup = Planner.plan(desired: before, observed: try await dataplane.observe())
            #expect(setup.conflicts.isEmpty)
            _ = try await Applier(links: dataplane).apply(setup)
        }
        dataplane.clearTrace()
        let snapshot = dataplane.network

        let desired = NodeNetworkBuilder.build(try validate(fixture.path("after")), node: scenario.node)
        let plan = Planner.plan(desired: desired, observed: try await dataplane.observe(desired.observationScope))
        var report = ["# plan", PlanRenderer.render(plan)]

        if !plan.conflicts.isEmpty {
            // The CLI refuses a plan with conflicts; nothing in it may touch the foreign link.
            for conflict in plan.conflicts {
                let name = String(conflict.prefix { $0 != " " })
                #expect(!plan.steps.contains { if case .link(let operation) = $0.action { operation.linkName == name } else { false } },
                        "the plan writes to \(name), which sdn did not create")
            }
            Golden.assertMatches(report.joined(separator: "\n") + "\n", goldenFile: fixture.path("expected.txt"))
            return
        }

        if let failAt = scenario.failAt { dataplane.setFault(.init(write: failAt, errno: EINVAL)) }
        do {
            let applied = try await Applier(links: dataplane).apply(plan)
            #expect(scenario.failAt == nil, "the injected fault did not stop the apply")
            report += ["# writes"] + dataplane.trace
            #expect(applied.linkWrites == plan.linkWriteCount)
            // A second apply of the same state makes no kernel write.
            dataplane.setFault(nil)
            let again = Planner.plan(desired: desired, observed: try await dataplane.observe(desired.observationScope))
            #expect(again.isEmpty, "second plan is not empty:\n\(PlanRenderer.render(again))")
            _ = try await Applier(links: dataplane).apply(again)
            #expect(dataplane.writeCount == 0)
            report += ["# second plan", PlanRenderer.render(again)]
        } catch let error as ApplyFailure {
            report += ["# writes"] + dataplane.trace + ["# failure", error.description]
            #expect(scenario.failAt != nil, "unexpected failure: \(error)")
            #expect(error.rolledBack)
            // Exactly the state from before the apply, link by link.
            #expect(withoutIndexes(dataplane.network) == withoutIndexes(snapshot))
        }
        Golden.assertMatches(report.joined(separator: "\n") + "\n", goldenFile: fixture.path("expected.txt"))
    }

    /// Every shipped example, on every node, from an empty kernel (plus the physical NICs it names):
    /// the apply works and a second plan is empty.
    @Test(arguments: exampleDirectories())
    func exampleConverges(_ directory: String) async throws {
        let (loaded, diagnostics) = ConfigLoader.loadAndValidate(loadExampleDocuments(directory))
        let validated = try #require(loaded, "\(diagnostics)")
        for node in validated.value.nodes {
            var initial = ObservedNetwork()
            var index: Int32 = 1
            for uplink in node.uplinks {
                guard case .physical = uplink.kind else { continue }
                initial.links.append(ObservedLink(spec: LinkSpec(name: uplink.name.rawValue, kind: .other(""), mtu: 1500, up: true), index: index, operationallyUp: true))
                index += 1
            }
            let dataplane = InMemoryLinkDataplane(initial)
            let desired = NodeNetworkBuilder.build(validated, node: node.name)
            let plan = Planner.plan(desired: desired, observed: initial)
            #expect(plan.conflicts.isEmpty)
            _ = try await Applier(links: dataplane).apply(plan)
            let again = Planner.plan(desired: desired, observed: try await dataplane.observe(desired.observationScope))
            #expect(again.isEmpty, "\(directory) node \(node.name): second plan:\n\(PlanRenderer.render(again))")
        }
    }
}

/// The `scenario` file: `node NAME`, `physical NAME…`, `tap NAME…`, `foreign-bridge NAME…`, `fail-at N`,
/// `node-forwarding ipv4|ipv6 on|off` (every link's switch follows it, as in the kernel),
/// `accept-ra VALUE NAME…`, `default-accept-ra VALUE`.
struct Scenario {
    var node = ""
    var initialNetwork = ObservedNetwork()
    var failAt: Int?

    init(text: String) throws {
        var index: Int32 = 1
        func add(_ spec: LinkSpec) {
            initialNetwork.links.append(ObservedLink(spec: spec, index: index, operationallyUp: spec.up))
            index += 1
        }
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            guard let keyword = words.first else { continue }
            let names = words.dropFirst()
            switch keyword {
            case "node": node = names.first ?? ""
            case "physical": names.forEach { add(LinkSpec(name: $0, kind: .other(""), mtu: 1500, up: true)) }
            case "tap": names.forEach { add(LinkSpec(name: $0, kind: .tap, mtu: 1500, up: false)) }
            case "foreign-bridge": names.forEach { add(LinkSpec(name: $0, kind: .bridge(BridgeLinkSettings()), mtu: 1500, up: true)) }
            case "fail-at": failAt = names.first.flatMap { Int($0) }
            case "node-forwarding":
                guard words.count == 3, let family = IPAddress.Family(rawValue: words[1]), ["on", "off"].contains(words[2]) else {
                    throw ScenarioError(line: String(line))
                }
                initialNetwork.nodeForwarding.append(NodeForwardingSetting(family: family, enabled: words[2] == "on"))
            case "accept-ra":
                guard let value = names.first.flatMap({ Int($0) }) else { throw ScenarioError(line: String(line)) }
                names.dropFirst().forEach { initialNetwork.routerAdvertisements.append(RouterAdvertisementSetting(interface: $0, acceptRA: value)) }
            case "default-accept-ra":
                guard let value = names.first.flatMap({ Int($0) }) else { throw ScenarioError(line: String(line)) }
                initialNetwork.defaultAcceptRA = value
            default: throw ScenarioError(line: String(line))
            }
        }
        // The kernel reports every link's switch; those nobody set follow the node-wide one.
        for setting in initialNetwork.nodeForwarding {
            for link in initialNetwork.links where !initialNetwork.forwarding.contains(where: { $0.interface == link.spec.name && $0.family == setting.family }) {
                initialNetwork.forwarding.append(ForwardingSetting(interface: link.spec.name, family: setting.family, enabled: setting.enabled))
            }
        }
    }
}

struct ScenarioError: Error { var line: String }

func validate(_ directory: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> Validated<DesiredState> {
    let (validated, diagnostics) = ConfigLoader.loadAndValidate(loadDocuments(under: directory))
    guard let validated else {
        Issue.record("\(directory) does not validate:\n\(diagnostics.map(\.description).joined(separator: "\n"))", sourceLocation: sourceLocation)
        throw ScenarioError(line: directory)
    }
    return validated
}

/// A recreated link gets a new ifindex from the kernel; everything else must be as it was.
func withoutIndexes(_ network: ObservedNetwork) -> ObservedNetwork {
    var network = network
    for i in network.links.indices { network.links[i].index = 0 }
    return network
}
