public import Glibc
public import SDNDataplane
import Synchronization

/// A kernel's link state in memory, for reconciler tests only (never to claim a capability). It follows
/// the kernel's rules that matter to a planner: names are unique, a link needs its parent, deleting a
/// link takes its addresses, entries, VLAN children and port memberships with it, a port joining a
/// bridge gets the bridge's default pvid, a bridge starts with its own default pvid entry, a node-wide
/// forwarding switch sets every link's (and a new link starts with it), and a new link starts with
/// `defaultAcceptRA` when there is one.
/// Every write is recorded in `trace`; `failing` injects a kernel error into a chosen write.
public final class InMemoryLinkDataplane: LinkDataplane {
    public struct Fault: Sendable {
        /// 1-based index of the write that fails.
        public var write: Int
        public var errno: Int32
        public init(write: Int, errno: Int32 = EINVAL) {
            self.write = write
            self.errno = errno
        }
    }

    private struct State {
        var network: ObservedNetwork
        var nextIndex: Int32
        var writes = 0
        var trace: [String] = []
        var fault: Fault?
    }

    private let state: Mutex<State>

    public init(_ network: ObservedNetwork = ObservedNetwork(), failing fault: Fault? = nil) {
        let next = (network.links.map(\.index).max() ?? 1) + 1
        state = Mutex(State(network: network, nextIndex: next, fault: fault))
    }

    public var network: ObservedNetwork { state.withLock { Self.sorted($0.network) } }
    public var trace: [String] { state.withLock { $0.trace } }
    public var writeCount: Int { state.withLock { $0.writes } }

    public func setFault(_ fault: Fault?) { state.withLock { $0.fault = fault; $0.writes = 0 } }
    public func clearTrace() { state.withLock { $0.trace = [] } }

    public func observe(_ scope: ObservationScope) async throws -> ObservedNetwork {
        var network = network
        if !scope.bridgeVLANs { network.bridgeVLANs = [] }
        return network
    }

    public func linkEvents() -> AsyncThrowingStream<LinkEvent, any Error> { AsyncThrowingStream { $0.finish() } }

    public func perform(_ operation: LinkOperation) async throws(LinkOperationError) {
        let result: LinkOperationError? = state.withLock { state in
            state.writes += 1
            if let fault = state.fault, fault.write == state.writes {
                state.trace.append("FAIL \(operation.summary) (injected errno \(fault.errno))")
                return LinkOperationError(operation: operation, errno: fault.errno, message: "injected fault: \(String(cString: strerror(fault.errno)))")
            }
            if let errno = Self.apply(operation, to: &state) {
                state.trace.append("FAIL \(operation.summary) (errno \(errno))")
                return LinkOperationError(operation: operation, errno: errno, message: String(cString: strerror(errno)))
            }
            state.trace.append(operation.summary)
            return nil
        }
        if let result { throw result }
    }

    // MARK: kernel rules

    /// Applies one write; returns the errno the kernel would give, or nil.
    private static func apply(_ operation: LinkOperation, to state: inout State) -> Int32? {
        func index(_ name: String) -> Int? { state.network.links.firstIndex { $0.spec.name == name } }
        switch operation {
        case .createLink(let spec):
            guard index(spec.name) == nil else { return EEXIST }
            for parent in spec.kind.kernelParents where index(parent) == nil { return ENODEV }
            var created = spec
            created.up = false
            created.master = nil
            if case .veth(let veth) = spec.kind, veth.peerNamespace == nil {
                guard index(veth.peer) == nil else { return EEXIST }
                state.network.links.append(ObservedLink(spec: LinkSpec(name: veth.peer, kind: .veth(VethLinkSettings(peer: spec.name)), up: false),
                                                        index: state.nextIndex, operationallyUp: false))
                state.nextIndex += 1
            }
            state.network.links.append(ObservedLink(spec: created, index: state.nextIndex, operationallyUp: false))
            state.nextIndex += 1
            // A new link copies `default`'s switches, which the node-wide ones set.
            for setting in state.network.nodeForwarding {
                state.network.forwarding.append(ForwardingSetting(interface: spec.name, family: setting.family, enabled: setting.enabled))
            }
            if let acceptRA = state.network.defaultAcceptRA {
                state.network.routerAdvertisements.append(RouterAdvertisementSetting(interface: spec.name, acceptRA: acceptRA))
            }
            if case .bridge(let bridge) = spec.kind, bridge.defaultPVID > 0 {
                state.network.bridgeVLANs.append(BridgeVLANEntry(interface: spec.name, vids: bridge.defaultPVID...bridge.defaultPVID,
                                                                 pvid: true, untagged: true, onBridgeItself: true))
            }
        case .deleteLink(let name):
            guard index(name) != nil else { return ENODEV }
            delete(name, from: &state.network)
        case .setMTU(let name, let mtu):
            guard let i = index(name) else { return ENODEV }
            state.network.links[i].spec.mtu = mtu
        case .setMACAddress(let name, let mac):
            guard let i = index(name) else { return ENODEV }
            state.network.links[i].spec.macAddress = mac
        case .setAlias(let name, let alias):
            guard let i = index(name) else { return ENODEV }
            state.network.links[i].spec.alias = alias
        case .changeKind(let name, let kind):
            guard let i = index(name) else { return ENODEV }
            guard state.network.links[i].spec.kind.kernelKind == kind.kernelKind else { return EOPNOTSUPP }
            state.network.links[i].spec.kind = kind
        case .setMaster(let name, let master):
            guard let i = index(name) else { return ENODEV }
            if let master {
                guard let m = index(master) else { return ENODEV }
                if case .bond = state.network.links[m].spec.kind, state.network.links[i].spec.up { return EPERM }
            }
            let old = state.network.links[i].spec.master
            if old != master {
                // Leaving a bridge drops the port's VLANs and static entries.
                state.network.bridgeVLANs.removeAll { $0.interface == name && !$0.onBridgeItself }
                state.network.fdb.removeAll { $0.interface == name && $0.kind == .bridgeStatic }
            }
            state.network.links[i].spec.master = master
            if let master, old != master, let m = index(master) {
                if case .bridge(let bridge) = state.network.links[m].spec.kind {
                    state.network.links[i].spec.bridgePort = BridgePortSettings()
                    if bridge.defaultPVID > 0 {
                        state.network.bridgeVLANs.append(BridgeVLANEntry(interface: name, vids: bridge.defaultPVID...bridge.defaultPVID, pvid: true, untagged: true))
                    }
                }
            }
            if master == nil { state.network.links[i].spec.bridgePort = nil }
        case .setUp(let name, let up):
            guard let i = index(name) else { return ENODEV }
            state.network.links[i].spec.up = up
            state.network.links[i].operationallyUp = up
        case .setBridgePort(let name, let settings):
            guard let i = index(name), state.network.links[i].spec.master != nil else { return EOPNOTSUPP }
            state.network.links[i].spec.bridgePort = settings
        case .addAddress(let address):
            guard index(address.interface) != nil else { return ENODEV }
            guard !state.network.addresses.contains(address) else { return EEXIST }
            state.network.addresses.append(address)
        case .deleteAddress(let address):
            guard let i = state.network.addresses.firstIndex(of: address) else { return EADDRNOTAVAIL }
            state.network.addresses.remove(at: i)
        case .addRoute(let route):
            guard !state.network.routes.contains(route) else { return EEXIST }
            state.network.routes.append(route)
        case .deleteRoute(let route):
            guard let i = state.network.routes.firstIndex(of: route) else { return ESRCH }
            state.network.routes.remove(at: i)
        case .addFDB(let entry):
            guard index(entry.interface) != nil else { return ENODEV }
            guard !state.network.fdb.contains(entry) else { return EEXIST }
            state.network.fdb.append(entry)
        case .deleteFDB(let entry):
            guard let i = state.network.fdb.firstIndex(of: entry) else { return ENOENT }
            state.network.fdb.remove(at: i)
        case .addBridgeVLAN(let entry):
            guard index(entry.interface) != nil else { return ENODEV }
            var vids = expand(state.network.bridgeVLANs, entry.interface, entry.onBridgeItself)
            for vid in entry.vids {
                if entry.pvid { for key in vids.keys { vids[key]!.pvid = false } }
                vids[vid] = entry.flags
            }
            replace(&state.network.bridgeVLANs, entry.interface, entry.onBridgeItself, with: vids)
        case .deleteBridgeVLAN(let entry):
            var vids = expand(state.network.bridgeVLANs, entry.interface, entry.onBridgeItself)
            for vid in entry.vids {
                guard vids.removeValue(forKey: vid) != nil else { return ENOENT }
            }
            replace(&state.network.bridgeVLANs, entry.interface, entry.onBridgeItself, with: vids)
        case .setForwarding(let setting):
            guard index(setting.interface) != nil else { return ENODEV }
            state.network.forwarding.removeAll { $0.interface == setting.interface && $0.family == setting.family }
            state.network.forwarding.append(setting)
        case .setNodeForwarding(let setting):
            state.network.nodeForwarding.removeAll { $0.family == setting.family }
            state.network.nodeForwarding.append(setting)
            state.network.forwarding.removeAll { $0.family == setting.family }
            state.network.forwarding += state.network.links.map { ForwardingSetting(interface: $0.spec.name, family: setting.family, enabled: setting.enabled) }
        case .setRouterAdvertisements(let setting):
            guard index(setting.interface) != nil else { return ENODEV }
            state.network.routerAdvertisements.removeAll { $0.interface == setting.interface }
            state.network.routerAdvertisements.append(setting)
        }
        return nil
    }

    private static func delete(_ name: String, from network: inout ObservedNetwork) {
        // Links built on this one go first, as the kernel unregisters them with it.
        for child in network.links where child.spec.kind.kernelParents.contains(name) { delete(child.spec.name, from: &network) }
        if let link = network.links.first(where: { $0.spec.name == name }), case .veth(let veth) = link.spec.kind, veth.peerNamespace == nil {
            network.links.removeAll { $0.spec.name == veth.peer }
        }
        network.links.removeAll { $0.spec.name == name }
        let ports = Set(network.links.filter { $0.spec.master == name }.map(\.spec.name))
        for i in network.links.indices where network.links[i].spec.master == name {
            network.links[i].spec.master = nil
            network.links[i].spec.bridgePort = nil
        }
        network.addresses.removeAll { $0.interface == name }
        network.fdb.removeAll { $0.interface == name || (ports.contains($0.interface) && $0.kind == .bridgeStatic) }
        network.bridgeVLANs.removeAll { $0.interface == name || (ports.contains($0.interface) && !$0.onBridgeItself) }
        network.forwarding.removeAll { $0.interface == name }
        network.routerAdvertisements.removeAll { $0.interface == name }
        network.routes.removeAll { $0.interface == name }
    }

    private static func expand(_ entries: [BridgeVLANEntry], _ interface: String, _ onBridgeItself: Bool) -> [Int: BridgeVLANFlags] {
        BridgeVLANEntry.flagsByVID(entries.filter { $0.interface == interface && $0.onBridgeItself == onBridgeItself })
    }

    /// Stores one interface's VLANs back as ranges, the way the kernel reports them compressed.
    private static func replace(_ entries: inout [BridgeVLANEntry], _ interface: String, _ onBridgeItself: Bool, with vids: [Int: BridgeVLANFlags]) {
        entries.removeAll { $0.interface == interface && $0.onBridgeItself == onBridgeItself }
        entries += BridgeVLANEntry.entries(interface: interface, onBridgeItself: onBridgeItself, vids: vids)
    }

    /// A canonical order, so two states compare equal when they hold the same things.
    static func sorted(_ network: ObservedNetwork) -> ObservedNetwork {
        var network = network
        network.links.sort { $0.spec.name < $1.spec.name }
        network.addresses.sort()
        network.fdb.sort { "\($0)" < "\($1)" }
        network.bridgeVLANs.sort { ($0.interface, $0.onBridgeItself ? 1 : 0, $0.vids.lowerBound) < ($1.interface, $1.onBridgeItself ? 1 : 0, $1.vids.lowerBound) }
        network.forwarding.sort { ($0.interface, $0.family.rawValue) < ($1.interface, $1.family.rawValue) }
        network.nodeForwarding.sort { $0.family.rawValue < $1.family.rawValue }
        network.routerAdvertisements.sort { $0.interface < $1.interface }
        network.routes.sort { "\($0)" < "\($1)" }
        return network
    }
}
