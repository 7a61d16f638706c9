import Foundation
import SDNDaemon
import SDNDataplane
import SDNStore
import SDNTesting
import Testing

/// The hooks' requests on the in-memory dataplanes: what `prepare`, `plug` and `release` make, attach,
/// refuse and remove, and how running guests' taps follow a new revision. (Real taps, QEMU and LXC:
/// `KVMGuestEndToEndTests`, `LXCGuestEndToEndTests`.)
@Suite struct GuestPortControllerTests {
    typealias Fixture = NodeControllerTests

    static func documents(topology: String) -> [StoredDocument] {
        [StoredDocument(path: "Topologies/t.yaml", text: topology), Fixture.documents[1]]
    }

    static let twoNICs = DaemonFixtures.topology(guests: [101]) + "      net1: { vnet: web, mac: \"52:54:00:00:11:01\" }\n"

    @Test func prepareMakesTheTapsAndAttachesThemWithTheirFirewall() async throws {
        let (controller, kernel, _, _) = try await NodeControllerTests().makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        let report = try await controller.preparePorts(guest: 101)
        #expect(report.complete)
        #expect(report.ports.map(\.name) == ["tap101i0"])
        #expect(report.ports.first?.created == true)
        #expect(report.ports.first?.firewall == .loaded)
        let tap = kernel.linkPlane.network.link(named: "tap101i0")
        #expect(tap?.spec.kind == .tap)
        #expect(tap?.spec.master == "web" && tap?.spec.up == true, "\(String(describing: tap))")
        // libvirt's host-end MAC: the guest's (52:54:00:00:01:01) with fe: first, never the bridge's lowest.
        #expect(tap?.spec.macAddress?.description == "fe:54:00:00:01:01", "\(String(describing: tap))")
        // Again (libvirt's prepare of a restart after a crash): nothing new is made.
        let again = try await controller.preparePorts(guest: 101)
        #expect(again.complete && again.ports.first?.created == false)
    }

    @Test func prepareRefusesAGuestTheRevisionDoesNotPutHere() async throws {
        let (controller, kernel, _, _) = try await NodeControllerTests().makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        await #expect(throws: NodeControlError.self) { try await controller.preparePorts(guest: 999) }
        #expect(kernel.linkPlane.network.link(named: "tap999i0") == nil)
        do {
            _ = try await controller.preparePorts(guest: 999)
        } catch {
            #expect("\(error)".contains("guest 999 is not declared on node n1"), "\(error)")
        }
    }

    @Test func aPrepareThatCannotBeMadeReadyLeavesNoTapBehind() async throws {
        let (controller, kernel, _, _) = try await NodeControllerTests().makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        // The tap is made (write 1); putting it in its bridge (write 2) fails.
        kernel.linkPlane.setFault(.init(write: 2, errno: EBUSY))
        do {
            _ = try await controller.preparePorts(guest: 101)
            Issue.record("prepared a tap that is in no bridge")
        } catch {
            #expect("\(error)".contains("tap101i0 is not attached to web"), "\(error)")
        }
        kernel.linkPlane.setFault(nil)
        #expect(kernel.linkPlane.network.link(named: "tap101i0") == nil, "the refused prepare left its tap")
        // The next start prepares it from scratch.
        #expect(try await controller.preparePorts(guest: 101).complete)
    }

    @Test func prepareBeforeAnyApplySaysThereIsNoFirewallYet() async throws {
        let (controller, _, _, _) = try await NodeControllerTests().makeController()
        do {
            _ = try await controller.preparePorts(guest: 101)
            Issue.record("prepare succeeded with nothing applied")
        } catch {
            #expect("\(error)".contains("not declared"), "\(error)")
        }
    }

    @Test func anLXCGuestIsPluggedNotPrepared() async throws {
        let store = InMemoryStateStore()
        let topology = DaemonFixtures.topology(guests: [101]) + "  201:\n    node: n1\n    kind: lxc\n    nics:\n      net0: { vnet: web, ip: [10.10.0.111] }\n"
        _ = try await store.createRevision(documents: Self.documents(topology: topology),
                                           author: "test", message: "lxc", expectedHead: .some(nil))
        let kernel = NodeControllerTests.ScriptedKernel()
        let controller = NodeController(store: store, kernel: kernel, options: ControllerOptions(resyncInterval: .seconds(3600)))
        _ = try await controller.apply(revision: nil, author: "test")
        do {
            _ = try await controller.preparePorts(guest: 201)
            Issue.record("prepare made a veth's host end")
        } catch {
            #expect("\(error)".contains("lxc-config"), "\(error)")
        }
        // LXC made the pair; its host end is in no bridge.
        try await kernel.linkPlane.perform(.createLink(LinkSpec(name: "veth201i0", kind: .other("veth"), up: false)))
        let report = try await controller.plugPort(named: "veth201i0")
        #expect(report.complete && report.guest == 201 && report.operation == .plug)
        #expect(kernel.linkPlane.network.link(named: "veth201i0")?.spec.master == "web")
        // A port of nobody.
        await #expect(throws: NodeControlError.self) { try await controller.plugPort(named: "veth999i0") }
        // A port LXC did not make (veth.pair missing from the config): said, not hung.
        _ = try await controller.releasePorts(guest: 201)
        do {
            _ = try await controller.plugPort(named: "veth201i0")
            Issue.record("plugged a port that is not there")
        } catch {
            #expect("\(error)".contains("veth201i0 is not present"), "\(error)")
        }
    }

    @Test func releaseRemovesOnlyTheGuestsTapsAndVeths() async throws {
        let (controller, kernel, _, _) = try await NodeControllerTests().makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        _ = try await controller.preparePorts(guest: 101)
        // Something else of a look-alike name that is not a tap stays.
        try await kernel.linkPlane.perform(.createLink(LinkSpec(name: "tap101i9", kind: .other("dummy"), up: false)))
        let report = try await controller.releasePorts(guest: 101)
        #expect(report.ports.map(\.name) == ["tap101i0"])
        #expect(kernel.linkPlane.network.link(named: "tap101i0") == nil)
        #expect(kernel.linkPlane.network.link(named: "tap101i9") != nil)
        #expect(kernel.linkPlane.network.link(named: "web") != nil)
        // Nothing left: an empty report, no error.
        #expect(try await controller.releasePorts(guest: 101).ports.isEmpty)
    }

    @Test func aRunningGuestsTapsFollowItsNICsAndItsNode() async throws {
        let store = InMemoryStateStore()
        _ = try await store.createRevision(documents: Fixture.documents, author: "test", message: "first", expectedHead: .some(nil))
        let kernel = NodeControllerTests.ScriptedKernel()
        let controller = NodeController(store: store, kernel: kernel, options: ControllerOptions(node: "n1", resyncInterval: .seconds(3600)))
        _ = try await controller.apply(revision: nil, author: "test")
        _ = try await controller.preparePorts(guest: 101)
        // A second NIC: its tap is made at once, ready for attach-device.
        let head = try await store.headNumber()
        _ = try await store.createRevision(documents: Self.documents(topology: Self.twoNICs), author: "test", message: "net1", expectedHead: head)
        _ = try await controller.apply(revision: nil, author: "test")
        #expect(kernel.linkPlane.network.link(named: "tap101i1")?.spec.master == "web")
        // The NIC removed: its tap goes.
        _ = try await store.createRevision(documents: Fixture.documents, author: "test", message: "no net1", expectedHead: try await store.headNumber())
        _ = try await controller.apply(revision: nil, author: "test")
        #expect(kernel.linkPlane.network.link(named: "tap101i1") == nil)
        #expect(kernel.linkPlane.network.link(named: "tap101i0") != nil)
        // The guest moves to another node: while it still runs here (a live migration), its tap stays;
        // the hook's release (libvirt calls it once the domain left) removes it.
        let moved = Fixture.topology.replacingOccurrences(of: "nodes:\n  n1:", with: "nodes:\n  n2:\n    uplinks: { eth1: {} }\n  n1:")
            .replacingOccurrences(of: "    node: n1\n", with: "    node: n2\n")
        _ = try await store.createRevision(documents: Self.documents(topology: moved), author: "test", message: "moved", expectedHead: try await store.headNumber())
        let result = try await controller.apply(revision: nil, author: "test")
        #expect(result.converged, "\(result)")
        #expect(kernel.linkPlane.network.link(named: "tap101i0")?.spec.master == "web")
        #expect(try await controller.releasePorts(guest: 101).ports.map(\.name) == ["tap101i0"])
        #expect(kernel.linkPlane.network.link(named: "tap101i0") == nil)
    }

    @Test func theGuestListSaysWhatRunsWhatIsPluggedAndWhereTheStateCameFrom() async throws {
        let store = InMemoryStateStore()
        _ = try await store.createRevision(documents: Fixture.documents, author: "test", message: "first", expectedHead: .some(nil))
        let kernel = NodeControllerTests.ScriptedKernel()
        // libvirt knows guest 101 (running); nothing else.
        let controller = NodeController(store: store, kernel: kernel, options: ControllerOptions(resyncInterval: .seconds(3600), guestStates: { [101: "running"] }))
        #expect(try await controller.guests().guests.isEmpty, "nothing applied, nothing listed")
        _ = try await controller.apply(revision: nil, author: "test")
        var listed = try await controller.guests()
        var guest = try #require(listed.guests.first { $0.id == 101 })
        #expect(guest.state == "running" && guest.stateSource == "libvirt")
        #expect(guest.ports.map(\.name) == ["tap101i0"] && guest.ports.first?.present == false && guest.ports.first?.firewall == .loaded)
        _ = try await controller.preparePorts(guest: 101)
        listed = try await controller.guests()
        guest = try #require(listed.guests.first { $0.id == 101 })
        #expect(guest.ports.first?.attached == true && guest.ports.first?.bridge == "web", "\(guest)")
        // Without the hypervisor's word, the state is inferred from the ports.
        let inferred = NodeController(store: store, kernel: kernel, options: ControllerOptions(resyncInterval: .seconds(3600)))
        _ = try await inferred.apply(revision: nil, author: "test")
        let seen = try #require(try await inferred.guests().guests.first { $0.id == 101 })
        #expect(seen.state == "running" && seen.stateSource == "ports")
    }

    @Test func aTapOfAGuestNobodyDeclaredIsNotOursToRemove() async throws {
        let (controller, kernel, store, _) = try await NodeControllerTests().makeController()
        _ = try await controller.apply(revision: nil, author: "test")
        // A domain someone runs with type='bridge' and a tap named like ours.
        try await kernel.linkPlane.perform(.createLink(LinkSpec(name: "tap555i0", kind: .tap, up: true)))
        _ = try await store.createRevision(documents: Self.documents(topology: Self.twoNICs), author: "test", message: "net1", expectedHead: try await store.headNumber())
        _ = try await controller.apply(revision: nil, author: "test")
        #expect(kernel.linkPlane.network.link(named: "tap555i0") != nil)
        // Guest 101 does not run (no tap of it): its new NIC gets no tap either.
        #expect(kernel.linkPlane.network.link(named: "tap101i1") == nil)
    }
}
