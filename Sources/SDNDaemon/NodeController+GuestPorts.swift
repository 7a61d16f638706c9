import Foundation
import SDNDataplane
import SDNModel
import SDNNFTables
import SDNFirewall
import SDNReconciler
import SDNStore

/// The hooks' side of the loop: a guest's ports made (KVM taps) or adopted (LXC veths) and attached with
/// their firewall before the guest's first packet, and removed when it stops. Each request runs as one
/// reconcile, after the one in flight, so it sees the applied revision and nothing runs beside it.
extension NodeController {
    /// Makes the taps of KVM guest `guest` (`tap<vmid>i<n>`, persistent, as libvirt's
    /// `<target dev='…' managed='no'/>` expects them) and attaches them to their bridges with VLAN, MTU
    /// and isolation; returns once they are attached. Their firewall chains are part of the applied
    /// revision already (they are keyed by port name), so the first frame QEMU sends meets them.
    public func preparePorts(guest: Int) async throws -> GuestPortsReport {
        try await serializedRequest { controller in try await controller.preparePortsNow(guest: guest) }
    }

    /// Attaches the host end of an LXC guest's veth (made by LXC, not yet in a bridge) the same way.
    public func plugPort(named name: String) async throws -> GuestPortsReport {
        try await serializedRequest { controller in try await controller.plugPortNow(named: name) }
    }

    /// Removes guest `guest`'s ports that are left on this node: the taps the daemon made (QEMU closed
    /// them), the host ends of veths whose container is gone. Works for a guest no longer declared too:
    /// it goes by the port names of its id.
    public func releasePorts(guest: Int) async throws -> GuestPortsReport {
        try await serializedRequest { controller in try await controller.releasePortsNow(guest: guest) }
    }

    // MARK: one request

    private func preparePortsNow(guest id: Int) async throws -> GuestPortsReport {
        let started = ContinuousClock.now
        let (revision, compiled, guest) = try await declaredGuest(id)
        guard guest.kind == .kvm else { throw NodeControlError.wrongGuestKind(id, kind: guest.kind.rawValue, operation: "prepare") }
        guard let links = kernel.links else { throw NodeControlError.kernel("this node's links cannot be read") }
        let present = try await observedLinks(links)
        var created: Set<String> = []
        for nic in guest.nics {
            let name = InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index)
            if present[name] != nil { continue }
            // Made as the plan says (bridge, MTU, port flags); the links-only reconcile below adds VLANs and FDB.
            let spec = Self.tapSpec(name, nic: nic, compiled: compiled)
            do {
                try await links.perform(.createLink(spec))
            } catch {
                throw NodeControlError.kernel("cannot create \(name) for guest \(id): \(error)")
            }
            created.insert(name)
        }
        do {
            return try await attach(guest, revision: revision, compiled: compiled, operation: .prepare, created: created, started: started)
        } catch {
            // A refused prepare leaves nothing behind: libvirt will not start the domain, and a tap of ours
            // with no bridge or no firewall must not wait for someone else to open it.
            for name in created.sorted() { try? await links.perform(.deleteLink(name: name)) }
            throw error
        }
    }

    private func plugPortNow(named name: String) async throws -> GuestPortsReport {
        let started = ContinuousClock.now
        guard let revision = appliedRevision else { throw NodeControlError.notAGuestPort(name, node: nodeName) }
        let validated = try await validatedState(of: revision)
        let node = nodeName
        guard let guest = validated.value.guests.first(where: { guest in
            guest.node == node && guest.nics.contains { InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: $0.index) == name }
        }) else {
            throw NodeControlError.notAGuestPort(name, node: node)
        }
        // A KVM guest's taps are the daemon's to make (prepare), not LXC's to hand over.
        guard guest.kind == .lxc else { throw NodeControlError.wrongGuestKind(guest.id, kind: guest.kind.rawValue, operation: "plug") }
        let compiled = try await compile(revision, complete: false)
        return try await attach(guest, revision: revision, compiled: compiled, operation: .plug, created: [], started: started)
    }

    private func releasePortsNow(guest id: Int) async throws -> GuestPortsReport {
        let started = ContinuousClock.now
        guard let links = kernel.links else { throw NodeControlError.kernel("this node's links cannot be read") }
        let present = try await observedLinks(links)
        let declaredKind = try? await declaredGuestModel(id).guest.kind
        var ports: [GuestPortState] = []
        // Only links named as this guest's ports, and only taps and veths: never a bridge or an uplink.
        for (name, link) in present.sorted(by: { $0.key < $1.key }) {
            guard let nic = Self.guestPortNIC(name, guest: id) else { continue }
            switch link.spec.kind {
            case .tap, .veth: break
            case .other(let kind) where kind == "veth": break
            default: continue
            }
            do {
                try await links.perform(.deleteLink(name: name))
            } catch {
                throw NodeControlError.kernel("cannot remove \(name) of guest \(id): \(error)")
            }
            ports.append(GuestPortState(name: name, nic: "net\(nic)", bridge: link.spec.master, present: false, attached: false, firewall: .off, created: false))
        }
        if !ports.isEmpty {
            // What the loop knows of present ports follows the links it reads.
            var work = PendingWork()
            work.links = ports.map { .removed(name: $0.name, index: 0) }
            _ = await reconcileNow(work, reason: "guest \(id) released")
        }
        return GuestPortsReport(node: nodeName, guest: id, kind: declaredKind?.rawValue ?? (ports.first?.name.hasPrefix("veth") == true ? "lxc" : "kvm"),
                                operation: .release, revision: appliedRevision, ports: ports, milliseconds: (ContinuousClock.now - started).milliseconds)
    }

    /// Every guest of the applied revision; this node's with their state and ports.
    public func guests() async throws -> GuestsReport {
        let node = nodeName
        guard let revision = appliedRevision else { return GuestsReport(node: node, revision: nil, guests: []) }
        let validated = try await validatedState(of: revision)
        let compiled = try await compile(revision, complete: false)
        guard let links = kernel.links else { throw NodeControlError.kernel("this node's links cannot be read") }
        let present = try await observedLinks(links)
        let counters = (try? await links.counters()) ?? [:]
        let domainStates = await options.guestStates?() ?? [:]
        let facts = PortFacts(compiled, firewallInKernel: lastError == nil)
        var entries: [GuestsReport.Guest] = []
        for guest in validated.value.guests.sorted(by: { $0.id < $1.id }) {
            guard guest.node == node else {
                entries.append(GuestsReport.Guest(id: guest.id, name: guest.name, kind: guest.kind.rawValue, node: guest.node,
                                                  state: "on \(guest.node)", stateSource: "other-node", ports: []))
                continue
            }
            let ports = guest.nics.sorted(by: { $0.index < $1.index }).map { nic in
                let port = facts.port(guest, nic, link: present[InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index)])
                return GuestPortState(name: port.name, nic: nic.key, bridge: port.bridge, present: present[port.name] != nil,
                                      attached: port.attached, firewall: port.firewall, counters: counters[port.name])
            }
            let state: String
            let source: String
            if guest.kind == .kvm, let known = domainStates[guest.id] {
                (state, source) = (known, "libvirt")
            } else {
                (state, source) = (ports.contains(where: \.present) ? "running" : "stopped", "ports")
            }
            entries.append(GuestsReport.Guest(id: guest.id, name: guest.name, kind: guest.kind.rawValue, node: guest.node, state: state, stateSource: source, ports: ports))
        }
        return GuestsReport(node: node, revision: revision, guests: entries)
    }

    /// After a new revision: the taps of KVM guests that run here (a tap of theirs is present) follow
    /// their declaration. A NIC added gets its tap, ready for `virsh attach-device` (libvirt needs it to
    /// exist); a NIC removed, or a guest no longer declared here (removed, or moved to another node),
    /// loses its taps, so nothing of it is left on this node. Only taps, and only those the previous
    /// revision gave this node: a tap of a guest nobody declared (a domain someone runs with
    /// `type='bridge'`) is not ours to remove; an LXC veth belongs to its container and goes with it.
    func followRunningGuests(_ state: DesiredState, previous: DesiredState?, compiled: RevisionCompiler.Compiled) async {
        guard let links = kernel.links, let present = try? await observedLinks(links) else { return }
        let node = nodeName
        var running: [Int: [String]] = [:]
        for (name, link) in present where link.spec.kind == .tap {
            guard let port = InterfaceNaming.guestPort(named: name), port.kind == .kvm else { continue }
            running[port.guestID, default: []].append(name)
        }
        guard !running.isEmpty else { return }
        var created: [String] = []
        var removed: [String] = []
        for (id, taps) in running.sorted(by: { $0.key < $1.key }) {
            let declared = state.guests.first { $0.id == id && $0.node == node && $0.kind == .kvm }
            let wanted = Set(declared?.nics.map { InterfaceNaming.guestInterface(kind: .kvm, guestID: id, nicIndex: $0.index) } ?? [])
            let before = previous?.guests.first { $0.id == id && $0.node == node && $0.kind == .kvm }
            let had = Set(before?.nics.map { InterfaceNaming.guestInterface(kind: .kvm, guestID: id, nicIndex: $0.index) } ?? [])
            // A guest moved to another node keeps its taps until it left (the hook's release removes them).
            if state.guests.contains(where: { $0.id == id && $0.node != node }) { continue }
            for name in taps.sorted() where !wanted.contains(name) && had.contains(name) {
                do { try await links.perform(.deleteLink(name: name)); removed.append(name) } catch {
                    logger.error("guest \(id): cannot remove \(name), which revision no longer gives this node: \(error)")
                }
            }
            for nic in declared?.nics ?? [] {
                let name = InterfaceNaming.guestInterface(kind: .kvm, guestID: id, nicIndex: nic.index)
                guard present[name] == nil else { continue }
                let spec = Self.tapSpec(name, nic: nic, compiled: compiled)
                do { try await links.perform(.createLink(spec)); created.append(name) } catch {
                    logger.error("guest \(id): cannot create \(name) for its new NIC: \(error)")
                }
            }
        }
        guard !created.isEmpty || !removed.isEmpty else { return }
        logger.info("guest ports follow the revision: created \(created.joined(separator: ", ")), removed \(removed.joined(separator: ", "))")
        var work = PendingWork()
        work.links = created.map { .added(name: $0, index: 0) } + removed.map { .removed(name: $0, index: 0) }
        _ = await reconcileNow(work, reason: "guest ports follow the revision")
    }

    // MARK: parts

    /// Runs a hook's request after the reconcile in flight, as one unit.
    private func serializedRequest<T: Sendable>(_ body: @escaping @Sendable (isolated NodeController) async throws -> T) async throws -> T {
        try await serialized { controller in
            do { return Result<T, any Error>.success(try await body(controller)) } catch { return .failure(error) }
        }.get()
    }

    /// The guest as the applied revision declares it on this node.
    private func declaredGuestModel(_ id: Int) async throws -> (revision: RevisionNumber, guest: Guest) {
        let node = nodeName
        guard let revision = appliedRevision else { throw NodeControlError.unknownGuest(id, node: node, revision: nil) }
        let validated = try await validatedState(of: revision)
        guard let guest = validated.value.guests.first(where: { $0.id == id }) else {
            throw NodeControlError.unknownGuest(id, node: node, revision: revision)
        }
        guard guest.node == node else { throw NodeControlError.guestOnOtherNode(id, node: node, declaredNode: guest.node) }
        return (revision, guest)
    }

    /// … and the revision compiled for this node (its plan and ruleset).
    private func declaredGuest(_ id: Int) async throws -> (RevisionNumber, RevisionCompiler.Compiled, Guest) {
        let (revision, guest) = try await declaredGuestModel(id)
        return (revision, try await compile(revision, complete: false), guest)
    }

    /// What the applied revision says of each guest port (its bridge, whether it has chains), read once
    /// per request rather than searched per NIC; `firewallInKernel`: that revision's ruleset converged.
    struct PortFacts {
        let bridges: [String: String]
        let chains: Set<String>
        let firewallInKernel: Bool

        init(_ compiled: RevisionCompiler.Compiled, firewallInKernel: Bool) {
            var bridges: [String: String] = [:]
            for link in compiled.desired.network?.links ?? [] { if let master = link.spec.master { bridges[link.spec.name] = master } }
            self.bridges = bridges
            chains = Set(compiled.desired.firewall?.tables.flatMap { $0.chains.map(\.name) } ?? [])
            self.firewallInKernel = firewallInKernel
        }

        /// The port of `guest`'s `nic` as `link` (nil: absent) shows it.
        func port(_ guest: Guest, _ nic: GuestNIC, link: ObservedLink?) -> (name: String, bridge: String?, attached: Bool, firewall: GuestPortState.Firewall) {
            let name = InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index)
            let bridge = bridges[name]
            let attached = link.map { bridge != nil && $0.spec.master == bridge && $0.spec.up } ?? false
            let hasChain = chains.contains(FirewallNaming.guestChain(guest: guest.id, nic: nic.index, .out))
            return (name, bridge, attached, hasChain ? (firewallInKernel ? .loaded : .missing) : .off)
        }
    }

    /// A links-only reconcile (the ports' bridge, VLANs, MTU, FDB, up), then what the kernel holds.
    private func attach(_ guest: Guest, revision: RevisionNumber, compiled: RevisionCompiler.Compiled, operation: GuestPortsReport.Operation,
                        created: Set<String>, started: ContinuousClock.Instant) async throws -> GuestPortsReport {
        guard let links = kernel.links else { throw NodeControlError.kernel("this node's links cannot be read") }
        let names = guest.nics.map { InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: $0.index) }
        var work = PendingWork()
        work.links = names.map { .added(name: $0, index: 0) }
        _ = await reconcileNow(work, reason: "guest \(guest.id) \(operation.rawValue)")
        let present = try await observedLinks(links)
        let facts = PortFacts(compiled, firewallInKernel: appliedRevision == revision && lastError == nil)
        let ports = guest.nics.map { nic in
            let port = facts.port(guest, nic, link: present[InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index)])
            return GuestPortState(name: port.name, nic: nic.key, bridge: port.bridge, present: present[port.name] != nil, attached: port.attached,
                                  firewall: port.firewall, created: created.contains(port.name))
        }
        let report = GuestPortsReport(node: nodeName, guest: guest.id, kind: guest.kind.rawValue, operation: operation, revision: revision,
                                      ports: ports, milliseconds: (ContinuousClock.now - started).milliseconds)
        if !report.complete {
            let problems = ports.compactMap { port -> String? in
                if !port.present { return "\(port.name) is not present" + (operation == .plug ? " (LXC makes it: is lxc.net.N.veth.pair set to it?)" : "") }
                if port.bridge == nil { return "\(port.name) has no bridge on this node (its vnet's zone does not include node \(nodeName))" }
                if !port.attached { return "\(port.name) is not attached to \(port.bridge ?? "its bridge")" + (lastError.map { ": \($0)" } ?? "") }
                if port.firewall == .missing { return "\(port.name)'s firewall is not in the kernel: \(lastError ?? "the last apply failed")" }
                return nil
            }
            throw NodeControlError.portsNotReady(report, reason: problems.joined(separator: "; "))
        }
        logger.info("guest \(guest.id): \(operation.rawValue) \(names.joined(separator: ", ")) in \(String(format: "%.1f", report.milliseconds)) ms")
        return report
    }

    func observedLinks(_ links: any LinkDataplane) async throws -> [String: ObservedLink] {
        do {
            let observed = try await links.observe(ObservationScope(bridgeVLANs: false, nodeWideIPv6: false))
            return Dictionary(observed.links.map { ($0.spec.name, $0) }, uniquingKeysWith: { first, _ in first })
        } catch {
            throw NodeControlError.kernel("cannot read this node's links: \(error)")
        }
    }

    /// A tap as the plan puts it (bridge, MTU, port flags), with libvirt's MAC for the host end: the
    /// guest's MAC with a first octet of 0xfe (the guest's own when it declares none is not known:
    /// then the kernel's random one). A bridge takes the lowest MAC of its ports; fe: keeps guests'
    /// taps from becoming the vnet bridge's address (and changing it as they come and go) wherever the
    /// bridge has an uplink or VXLAN port.
    static func tapSpec(_ name: String, nic: GuestNIC, compiled: RevisionCompiler.Compiled) -> LinkSpec {
        var spec = compiled.desired.network?.links.first { $0.spec.name == name }?.spec ?? LinkSpec(name: name, kind: .tap)
        spec.kind = .tap
        if let mac = nic.mac { spec.macAddress = MACAddress(octets: [0xfe] + mac.octets.dropFirst()) }
        return spec
    }

    /// N of `tap<guest>iN` or `veth<guest>iN`.
    static func guestPortNIC(_ name: String, guest: Int) -> Int? {
        guard let port = InterfaceNaming.guestPort(named: name), port.guestID == guest else { return nil }
        return port.nicIndex
    }
}
