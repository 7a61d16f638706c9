import SDNDataplane
public import SDNModel

/// Builds what one node's kernel must hold from the validated topology: uplinks, each zone's vnets, and
/// the guest ports already known to run on the node. Deterministic: the same input gives the same
/// `NodeNetwork`, in declaration order.
public enum NodeNetworkBuilder {
    /// A VLAN-aware bridge's VLANs when the topology names none (Proxmox's `bridge-vids 2-4094`).
    public static let allVLANs = 2...4094

    public static func build(_ validated: Validated<DesiredState>, node nodeName: String) -> NodeNetwork {
        let state = validated.value
        var network = NodeNetwork(node: nodeName)
        guard let node = state.node(named: nodeName) else {
            network.notes.append("node '\(nodeName)' is not in the topology")
            return network
        }
        var builder = Builder(state: state, node: node, network: network)
        builder.addUplinks()
        for zone in state.zones where zone.includes(node: nodeName) {
            for vnet in state.vnets where vnet.zone == zone.name { builder.addVNet(vnet, in: zone) }
        }
        for guest in state.guests where guest.node == nodeName {
            for nic in guest.nics { builder.addGuestPort(guest, nic) }
        }
        builder.addUplinkForwarding()
        builder.addNodeForwarding()
        return builder.network
    }

    /// The node's own ports on each of its vnet bridges, by bridge: the links its network plan enslaves
    /// there that are no guest NIC (a VLAN sub-interface, a QinQ customer interface, a VXLAN device).
    /// The firewall keeps them out of the unknown-port drop: they are infrastructure, never a guest.
    public static func ownVNetBridgePorts(_ validated: Validated<DesiredState>, node nodeName: String) -> [String: [String]] {
        let state = validated.value
        guard let node = state.node(named: nodeName) else { return [:] }
        var builder = Builder(state: state, node: node, network: NodeNetwork(node: nodeName))
        builder.addUplinks()
        var vnetBridges = Set<String>()
        for zone in state.zones where zone.includes(node: nodeName) {
            for vnet in state.vnets where vnet.zone == zone.name {
                builder.addVNet(vnet, in: zone)
                vnetBridges.insert(InterfaceNaming.vnetBridge(vnet.name))
            }
        }
        var ports: [String: [String]] = [:]
        for link in builder.network.links {
            guard let master = link.spec.master, vnetBridges.contains(master) else { continue }
            ports[master, default: []].append(link.spec.name)
        }
        return ports
    }

    /// The MTU of the link that carries the node's underlay address (where VXLAN packets leave), when
    /// the topology says it.
    static func underlayMTU(of node: Node) -> Int? {
        guard let address = node.address else { return nil }
        return node.uplinks.first { $0.addresses.contains { $0.address == address } }?.mtu?.value
    }
}

private struct Builder {
    let state: DesiredState
    let node: Node
    var network: NodeNetwork
    /// Links already added by name, so a zone's shared link (a qinq service VLAN) is added once.
    var added: Set<String> = []
    /// Address families the node routes for its simple zones.
    var routedFamilies: Set<IPAddress.Family> = []

    init(state: DesiredState, node: Node, network: NodeNetwork) {
        self.state = state
        self.node = node
        self.network = network
    }

    mutating func add(_ spec: LinkSpec, _ ownership: DesiredLink.Ownership, owner: String) {
        guard added.insert(spec.name).inserted else { return }
        var spec = spec
        if ownership == .owned { spec.alias = LinkOwnership.alias(owner: owner) }
        network.links.append(DesiredLink(spec: spec, ownership: ownership, owner: owner))
    }

    // MARK: uplinks

    /// The bond or bridge uplink that lists `name` as a member or port.
    func masterOfUplink(_ name: InterfaceName) -> String? {
        for uplink in node.uplinks {
            switch uplink.kind {
            case .bond(let bond) where bond.members.contains(name): return uplink.name.rawValue
            case .bridge(let bridge) where bridge.ports.contains(name): return uplink.name.rawValue
            default: continue
            }
        }
        return nil
    }

    mutating func addUplinks() {
        // Parents before children keeps the list readable; the planner orders the writes itself.
        for uplink in node.uplinks {
            let name = uplink.name.rawValue
            let owner = "uplink:\(name)"
            let master = masterOfUplink(uplink.name)
            let mtu = uplink.mtu?.value
            switch uplink.kind {
            case .physical(let mac):
                add(LinkSpec(name: name, kind: .other(""), mtu: mtu, master: master, macAddress: mac), .adopted, owner: owner)
            case .bond(let bond):
                let settings = BondLinkSettings(
                    mode: bond.mode, miimon: bond.miimon, lacpRate: bond.lacpRate, transmitHashPolicy: bond.transmitHashPolicy,
                    minLinks: bond.minLinks, primary: bond.primary?.rawValue)
                add(LinkSpec(name: name, kind: .bond(settings), mtu: mtu, master: master), .owned, owner: owner)
            case .vlan(let vlan):
                let settings = VLANLinkSettings(parent: vlan.parent.rawValue, id: vlan.id.value, proto: vlan.proto)
                add(LinkSpec(name: name, kind: .vlan(settings), mtu: mtu, master: master), .owned, owner: owner)
            case .bridge(let bridge):
                let pvid = bridge.pvid?.value ?? 1
                let settings = BridgeLinkSettings(stp: bridge.stp, vlanFiltering: bridge.vlanAware, defaultPVID: bridge.vlanAware ? pvid : 1)
                add(LinkSpec(name: name, kind: .bridge(settings), mtu: mtu, master: master), .owned, owner: owner)
                if bridge.vlanAware {
                    let vids = bridge.vids?.ranges ?? [NodeNetworkBuilder.allVLANs]
                    addTrunkVLANs(interface: name, ranges: vids, pvid: pvid, onBridgeItself: true)
                    for port in bridge.ports { addTrunkVLANs(interface: port.rawValue, ranges: vids, pvid: pvid, onBridgeItself: false) }
                }
            }
            for address in uplink.addresses { network.addresses.append(AddressSpec(interface: name, prefix: address)) }
        }
    }

    /// `pvid` untagged plus `ranges` tagged (the pvid taken out of them).
    mutating func addTrunkVLANs(interface: String, ranges: [ClosedRange<Int>], pvid: Int?, onBridgeItself: Bool) {
        if let pvid {
            network.bridgeVLANs.append(BridgeVLANEntry(interface: interface, vids: pvid...pvid, pvid: true, untagged: true, onBridgeItself: onBridgeItself))
        }
        for range in ranges {
            for piece in range.removing(pvid) {
                network.bridgeVLANs.append(BridgeVLANEntry(interface: interface, vids: piece, onBridgeItself: onBridgeItself))
            }
        }
    }

    /// The kernel forwards a packet only if the interface it came in on forwards: replies to a simple
    /// zone's guests come in on the uplinks that hold the node's addresses.
    mutating func addUplinkForwarding() {
        for uplink in node.uplinks {
            for family in [IPAddress.Family.ipv4, .ipv6] where routedFamilies.contains(family) && uplink.addresses.contains(where: { $0.family == family }) {
                network.forwarding.append(ForwardingSetting(interface: uplink.name.rawValue, family: family, enabled: true))
            }
        }
    }

    /// Linux forwards IPv6 only with the node-wide switch on (per-interface switches alone drop routed
    /// packets, counted as Ip6InAddrErrors); IPv4 forwards by the switch of the interface a packet comes
    /// in on, which `addVNet` and `addUplinkForwarding` set. Turning any IPv6 switch on makes those
    /// interfaces routers, which ignore router advertisements unless accept_ra is 2, and drops default
    /// routes learned from them: the uplinks that carry the node's own traffic (not ports of another
    /// uplink) keep taking them.
    mutating func addNodeForwarding() {
        guard routedFamilies.contains(.ipv6) else { return }
        network.nodeForwarding.append(NodeForwardingSetting(family: .ipv6, enabled: true))
        network.routerAdvertisementUplinks = node.uplinks.filter { masterOfUplink($0.name) == nil }.map(\.name.rawValue)
    }

    // MARK: zones

    func mtu(of vnet: VNet, in zone: Zone) -> Int? {
        if let mtu = vnet.mtu ?? zone.mtu { return mtu.value }
        if zone.tagIsVNI { return (NodeNetworkBuilder.underlayMTU(of: node) ?? 1500) - VXLANZone.encapsulationOverhead }
        return nil
    }

    mutating func addVNet(_ vnet: VNet, in zone: Zone) {
        let bridgeName = InterfaceNaming.vnetBridge(vnet.name)
        let owner = "vnet:\(vnet.name)"
        let mtu = mtu(of: vnet, in: zone)
        add(LinkSpec(name: bridgeName, kind: .bridge(BridgeLinkSettings(vlanFiltering: vnet.vlanAware)), mtu: mtu), .owned, owner: owner)

        // The vnet's way out of the node: a VLAN sub-interface or a VXLAN device, as a port of the vnet bridge.
        var uplinkPort: String?
        switch zone.kind {
        case .simple:
            var families: Set<IPAddress.Family> = []
            for subnet in vnet.subnets {
                guard let gateway = subnet.gateway else { continue }
                network.addresses.append(AddressSpec(interface: bridgeName, prefix: IPPrefix(address: gateway, length: subnet.cidr.length)))
                families.insert(gateway.family)
            }
            for family in [IPAddress.Family.ipv4, .ipv6] where families.contains(family) {
                network.forwarding.append(ForwardingSetting(interface: bridgeName, family: family, enabled: true))
            }
            routedFamilies.formUnion(families)
        case .vlan(let bridge):
            guard let tag = vnet.tag, let parent = vlanParent(onBridge: bridge, vid: tag) else {
                network.notes.append("vnet \(vnet.name): zone \(zone.name) needs a tag and the uplink bridge \(bridge) on node \(node.name)")
                return
            }
            let name = InterfaceNaming.vlanPort(uplink: parent, tag: tag)
            add(LinkSpec(name: name, kind: .vlan(VLANLinkSettings(parent: parent, id: tag)), mtu: mtu, master: bridgeName), .owned, owner: "\(owner)/vlan")
            uplinkPort = name
        case .qinq(let bridge, let serviceTag, let serviceProtocol):
            guard let tag = vnet.tag, let parent = vlanParent(onBridge: bridge, vid: serviceTag.value) else {
                network.notes.append("vnet \(vnet.name): zone \(zone.name) needs a tag and the uplink bridge \(bridge) on node \(node.name)")
                return
            }
            let service = InterfaceNaming.qinqServiceInterface(bridge: parent, serviceTag: serviceTag.value)
            add(LinkSpec(name: service, kind: .vlan(VLANLinkSettings(parent: parent, id: serviceTag.value, proto: serviceProtocol))),
                .owned, owner: "zone:\(zone.name)/service")
            let name = InterfaceNaming.qinqCustomerInterface(zone: zone.name, tag: tag)
            add(LinkSpec(name: name, kind: .vlan(VLANLinkSettings(parent: service, id: tag)), mtu: mtu, master: bridgeName), .owned, owner: "\(owner)/vlan")
            uplinkPort = name
        case .vxlan(let vxlan):
            guard let vni = vnet.tag else {
                network.notes.append("vnet \(vnet.name): zone \(zone.name) needs a tag (the VNI)")
                return
            }
            let name = InterfaceNaming.vxlanDevice(vnet.name)
            let settings = VXLANLinkSettings(vni: vni, local: node.address, port: vxlan.port, learning: false)
            add(LinkSpec(name: name, kind: .vxlan(settings), mtu: mtu, master: bridgeName), .owned, owner: "\(owner)/vxlan")
            for peer in peers(of: zone, vxlan) {
                network.fdb.append(FDBEntrySpec(interface: name, mac: FDBEntrySpec.floodMAC, kind: .vxlanRemote, destination: peer))
            }
            uplinkPort = name
        case .evpn:
            network.notes.append("vnet \(vnet.name): EVPN zone \(zone.name) needs a BGP control plane (FRR); sdn does not program EVPN links yet")
            return
        }
        if vnet.vlanAware, let uplinkPort {
            // The way out carries every guest VLAN tagged, and untagged frames on the default VLAN.
            addTrunkVLANs(interface: uplinkPort, ranges: [NodeNetworkBuilder.allVLANs], pvid: 1, onBridgeItself: false)
        }
    }

    /// The link a vnet's VLAN sub-interface hangs off: the uplink bridge itself when it is VLAN-aware
    /// (and then the bridge must carry `vid` on itself), else the bridge's first port (a NIC or bond),
    /// else the named uplink when it is no bridge at all.
    mutating func vlanParent(onBridge bridgeName: InterfaceName, vid: Int) -> String? {
        guard let uplink = node.uplink(named: bridgeName.rawValue) else { return nil }
        guard case .bridge(let bridge) = uplink.kind else { return uplink.name.rawValue }
        if bridge.vlanAware {
            let carried = bridge.vids?.ranges ?? [NodeNetworkBuilder.allVLANs]
            if !carried.contains(where: { $0.contains(vid) }) && (bridge.pvid?.value ?? 1) != vid {
                network.bridgeVLANs.append(BridgeVLANEntry(interface: bridgeName.rawValue, vids: vid...vid, onBridgeItself: true))
            }
            return bridgeName.rawValue
        }
        return bridge.ports.first?.rawValue
    }

    /// Head-end replication targets: every other node's underlay address (or the listed ones).
    func peers(of zone: Zone, _ vxlan: VXLANZone) -> [IPAddress] {
        let candidates: [IPAddress]
        switch vxlan.peers {
        case .allNodes: candidates = state.nodes(of: zone).compactMap(\.address)
        case .addresses(let addresses): candidates = addresses
        }
        var seen: Set<IPAddress> = []
        return candidates.filter { $0 != node.address && seen.insert($0).inserted }
    }

    // MARK: guests

    mutating func addGuestPort(_ guest: Guest, _ nic: GuestNIC) {
        let name = InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index)
        let owner = "guest:\(guest.id)/\(nic.key)"
        var spec = LinkSpec(name: name, kind: guest.kind == .kvm ? .tap : .other("veth"))
        var vlanAware = false
        var learning = true
        switch nic.attachment {
        case .vnet(let vnetName):
            guard let vnet = state.vnet(named: vnetName), let zone = state.zone(named: vnet.zone), zone.includes(node: node.name) else { return }
            spec.master = InterfaceNaming.vnetBridge(vnet.name)
            spec.bridgePort = BridgePortSettings(learning: vnet.macLearning, isolated: vnet.isolatePorts)
            spec.mtu = mtu(of: vnet, in: zone)
            vlanAware = vnet.vlanAware
            learning = vnet.macLearning
        case .bridge(let bridgeName):
            spec.master = bridgeName.rawValue
            if let uplink = node.uplink(named: bridgeName.rawValue), case .bridge(let bridge) = uplink.kind {
                vlanAware = bridge.vlanAware
                // A port with a smaller MTU would pull the bridge's down (as Proxmox, the tap follows the bridge).
                spec.mtu = uplink.mtu?.value
            }
        }
        add(spec, .adopted, owner: owner)
        if vlanAware {
            let pvid = nic.tag?.value ?? 1
            addTrunkVLANs(interface: name, ranges: nic.trunks?.ranges ?? [], pvid: pvid, onBridgeItself: false)
        }
        if !learning, let mac = nic.mac {
            network.fdb.append(FDBEntrySpec(interface: name, mac: mac, kind: .bridgeStatic, vlan: vlanAware ? (nic.tag?.value ?? 1) : nil))
        }
    }
}

extension ClosedRange where Bound == Int {
    /// The range without `value`: zero, one or two pieces.
    func removing(_ value: Int?) -> [ClosedRange<Int>] {
        guard let value, contains(value) else { return [self] }
        var pieces: [ClosedRange<Int>] = []
        if lowerBound < value { pieces.append(lowerBound...(value - 1)) }
        if value < upperBound { pieces.append((value + 1)...upperBound) }
        return pieces
    }
}
