public import SDNModel
public import SDNNFTables

/// `sdn trace`: where a packet between two endpoints meets the compiled ruleset of a node, hook by hook,
/// and what each hook decides. Pure: the packet path is derived from the topology, not from a kernel.
///
/// The path is the kernel's, hook for hook, whether or not the ruleset has chains there:
/// - A frame from a bridge port (a guest, a host beyond a VXLAN or VLAN port, the LAN behind an uplink
///   bridge) passes bridge prerouting; bridged on, bridge forward and postrouting; to the node's own
///   MAC, bridge input and then the IP stack.
/// - The IP stack: prerouting, then input (for one of the node's addresses) or forward and postrouting;
///   a packet the node sends passes output and postrouting. Out through a bridge, bridge output and
///   postrouting follow, with the receiving port as output interface.
/// - A bridge the node has no address on (a vnet of a vlan, qinq or vxlan zone, a plain uplink bridge)
///   is not in the node's routing table. Its guests' traffic to anything off the bridge is bridged out
///   of the bridge's own port (VLAN sub-interface, VXLAN device, the bridge's NIC) to the router beyond,
///   and what comes from beyond is bridged in through that port. What is on the node itself comes back
///   from that router: up the node's uplink to its IP stack, or in through another bridge's port; the
///   node's own traffic to such a guest leaves by its route and comes back in the same way. The path
///   then passes the node twice. (The lower bridge a VLAN-aware uplink's sub-interface sits on is not
///   shown: no guest chain is found by its ports.)
/// - `minimal` layout (`GuestFirewallMode.brNetfilter`): br_netfilter also hands every bridged IP frame
///   to the IP hooks, from inside bridge prerouting (inet prerouting), bridge forward (inet forward),
///   both at br_netfilter's priority 0, and bridge postrouting (inet postrouting, last), with the
///   bridge as input and output interface; such a frame then skips the IP stack's own prerouting.
///   A base chain at exactly priority 0 runs before br_netfilter (it was registered later). Checked
///   with `nft monitor trace` on 6.18; kernels before the br_nf_forward merge ran the IP forward hook
///   at bridge forward priority -1, so a chain at exactly 0 ran after it there.
///   The `full` layout runs without br_netfilter: bridged frames meet only bridge hooks.
/// - Interfaces as each hook sees them: bridge hooks see ports (`iifname`, `oifname`) and the bridge
///   (`ibrname`, `obrname`; no input at output and postrouting); inet hooks see the bridge, and no
///   input interface for what the node sends. Ethernet addresses exist wherever a received frame is
///   behind the packet, not at inet output and postrouting for what the node sends.
public enum TraceScenario {
    /// One side of the conversation.
    public enum Endpoint: Hashable, Sendable, CustomStringConvertible {
        case guest(id: Int, nic: Int)
        case address(IPAddress)
        /// The traced node itself, at the address it would use (`--from node`, `--to node`).
        case node
        /// Whatever is behind a bridge port named by hand (`tap999i0@web`): a port no guest NIC declares,
        /// as a hypervisor may plug one in, or any port of the bridge.
        case port(String, bridge: String)

        /// `101/net0`, `101` (its first NIC), `web1/net1` (by name), `node`, `PORT@VNET` (a port on the
        /// vnet's bridge, or on an uplink bridge by its name), or an address.
        public static func parse(_ text: String, in state: DesiredState) throws(TraceError) -> Endpoint {
            if let address = try? IPAddress(text) { return .address(address) }
            if text == "node" { return .node }
            if let at = text.firstIndex(of: "@") {
                let portText = String(text[..<at]), network = String(text[text.index(after: at)...])
                let port: InterfaceName
                do { port = try InterfaceName(portText) } catch {
                    throw TraceError("'\(portText)' is not an interface name: \(error.reason)")
                }
                if let vnet = state.vnet(named: network) { return .port(port.rawValue, bridge: InterfaceNaming.vnetBridge(vnet.name)) }
                let uplinkBridges = state.nodes.flatMap(\.uplinks).filter { if case .bridge = $0.kind { true } else { false } }.map(\.name.rawValue)
                if uplinkBridges.contains(network) { return .port(port.rawValue, bridge: network) }
                let candidates = state.vnets.map(\.name) + uplinkBridges
                throw TraceError("'\(network)' is neither a vnet nor an uplink bridge; write PORT@VNET, e.g. tap999i0@\(state.vnets.first?.name ?? "web")"
                                 + (Suggestion.hint(for: network, in: candidates).map { "; \($0)" } ?? ""))
            }
            let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
            // An empty text, or one of slashes only, splits into nothing.
            guard let guestText = parts.first else {
                throw TraceError("'\(text)' names no endpoint; write a guest (101, 101/net0, web1/net0), node, or an address")
            }
            let guest = Int(guestText).flatMap { state.guest(id: $0) } ?? state.guests.first { $0.name == guestText }
            guard let guest else {
                throw TraceError("'\(text)' is neither an address, `node`, nor a guest" + (Suggestion.hint(for: guestText, in: state.guests.map(\.name) + state.guests.map { String($0.id) }).map { "; \($0)" } ?? ""))
            }
            var index = guest.nics.first?.index ?? 0
            if parts.count == 2 {
                guard parts[1].hasPrefix("net"), let parsed = Int(parts[1].dropFirst(3)), guest.nics.contains(where: { $0.index == parsed }) else {
                    throw TraceError("guest \(guest.id) has no NIC '\(parts[1])' (it has \(guest.nics.map(\.key).joined(separator: ", ")))")
                }
                index = parsed
            }
            return .guest(id: guest.id, nic: index)
        }

        public var description: String {
            switch self {
            case .guest(let id, let nic): "guest \(id) net\(nic)"
            case .address(let address): address.description
            case .node: "the node"
            case .port(let port, let bridge): "port \(port) on \(bridge)"
            }
        }
    }

    /// What is sent: `tcp/443`, `udp/53`, `icmp`, `icmp/echo-request`, `icmpv6`, `ping`, `gre`.
    public struct Service: Hashable, Sendable {
        public var proto: IPProtocolName
        public var port: UInt16?
        public var icmpType: UInt8?
        /// `ping`: an echo request in the ICMP of the addresses' family (ICMP for IPv4, ICMPv6 for IPv6).
        public var isPing: Bool

        public init(proto: IPProtocolName, port: UInt16? = nil, icmpType: UInt8? = nil, isPing: Bool = false) {
            self.proto = proto
            self.port = port
            self.icmpType = icmpType
            self.isPing = isPing
        }

        /// An echo request, ICMP or ICMPv6 as the addresses say.
        public static let ping = Service(proto: .icmp, icmpType: 8, isPing: true)

        public static func parse(_ text: String) throws(TraceError) -> Service {
            let parts = text.lowercased().split(separator: "/", maxSplits: 1).map(String.init)
            guard let first = parts.first else { throw TraceError("name what is sent, e.g. tcp/22, udp/53, ping, icmpv6") }
            if first == "ping" && parts.count == 1 { return .ping }
            guard let proto = IPProtocolName(first) else {
                throw TraceError("'\(first)' is not a protocol; write e.g. tcp/22, udp/53, ping, icmp, icmp/echo-request, icmpv6")
            }
            var service = Service(proto: proto)
            if parts.count == 2 {
                if proto.hasPorts {
                    guard let port = UInt16(parts[1]) else { throw TraceError("'\(parts[1])' is not a port") }
                    service.port = port
                } else if proto.isICMP {
                    guard let type = ICMPType.number(parts[1], for: proto) else { throw TraceError("'\(parts[1])' is not an \(proto) type") }
                    service.icmpType = type
                } else {
                    throw TraceError("protocol \(proto) has no ports or types")
                }
            } else if proto.isICMP {
                service.icmpType = proto == .icmp ? 8 : 128
            }
            return service
        }

        /// The family the protocol itself fixes: ICMP is IPv4's, ICMPv6 IPv6's; `ping` fits both.
        var impliedFamily: IPAddress.Family? {
            guard !isPing else { return nil }
            return proto == .icmp ? .ipv4 : proto == .icmpv6 ? .ipv6 : nil
        }

        /// The service as sent between addresses of `family`.
        func resolved(for family: IPAddress.Family) throws(TraceError) -> Service {
            if isPing { return family == .ipv4 ? self : Service(proto: .icmpv6, icmpType: 128, isPing: true) }
            if let implied = impliedFamily, implied != family {
                throw TraceError("\(proto) does not travel between \(family.displayName) addresses; write \(family == .ipv4 ? "icmp" : "icmpv6")[/TYPE] or ping")
            }
            return self
        }
    }

    /// One place the packet meets the ruleset.
    public struct Leg: Sendable {
        /// What happens to the packet here, in words.
        public var what: String
        /// The packet as the hook sees it: interfaces, Ethernet addresses, IP header.
        public var packet: Packet
        public var hook: PacketInterpreter.HookPoint
    }

    /// The whole way of a packet through one node.
    public struct Path: Sendable {
        /// The hooks in the kernel's order.
        public var legs: [Leg]
        /// `bridged on web`, `routed web → db`, `to the node`, `from the node` …
        public var summary: String
        /// Set when the path ends before the packet reaches its receiver: why (the bridge port that
        /// receives it is unknown, because no guest declares the address).
        public var incomplete: String?
        /// The service as sent (`ping` resolved to ICMP or ICMPv6).
        public var service: Service
    }

    public struct TraceError: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// A MAC standing for the node's own bridge (router) MAC in routed frames: the trace does not depend on it.
    public static let routerMAC = MACAddress(octets: [0x02, 0x00, 0x00, 0x00, 0x00, 0x01])
    /// A MAC standing for the next hop beyond an uplink (the upstream router, a host on the LAN).
    public static let upstreamMAC = MACAddress(octets: [0x02, 0x00, 0x00, 0x00, 0x00, 0xfe])
    /// A MAC standing for the host behind a port no guest NIC declares (`--from PORT@VNET` without `--src-mac`).
    public static let portHostMAC = MACAddress(octets: [0x02, 0x00, 0x00, 0x00, 0x00, 0x99])

    /// The hooks a packet passes from `from` to `to` on `node`, with the packet as each hook sees it.
    ///
    /// - Parameters:
    ///   - sourceAddress: send from this address instead of the endpoint's declared one (a forged or
    ///     undeclared source of a guest NIC, or the node's source address).
    ///   - sourceMAC: send from this MAC (a forged MAC of a guest NIC).
    ///   - destinationAddress: deliver to this address of the `to` guest NIC (one it does not declare).
    public static func legs(from: Endpoint, to: Endpoint, service: Service, state: Packet.ConnectionState, sourcePort: UInt16 = 40000,
                            in desired: DesiredState, node: String, features: KernelFeatures,
                            sourceAddress: IPAddress? = nil, sourceMAC: MACAddress? = nil, destinationAddress: IPAddress? = nil) throws(TraceError) -> [Leg] {
        try path(from: from, to: to, service: service, state: state, sourcePort: sourcePort, in: desired, node: node, features: features,
                 sourceAddress: sourceAddress, sourceMAC: sourceMAC, destinationAddress: destinationAddress).legs
    }

    /// ``legs(from:to:service:state:sourcePort:in:node:features:sourceAddress:sourceMAC:destinationAddress:)``
    /// with what the path is and whether it reaches the receiver.
    public static func path(from: Endpoint, to: Endpoint, service: Service, state: Packet.ConnectionState, sourcePort: UInt16 = 40000,
                            in desired: DesiredState, node: String, features: KernelFeatures,
                            sourceAddress: IPAddress? = nil, sourceMAC: MACAddress? = nil, destinationAddress: IPAddress? = nil) throws(TraceError) -> Path {
        let view = NodeView(desired: desired, node: node)
        if sourceMAC != nil {
            switch from {
            case .guest, .port: break
            case .node, .address: throw TraceError("--src-mac needs a guest NIC or a port to send from (--from GUEST/netN or --from PORT@VNET)")
            }
        }
        if let destinationAddress {
            switch to {
            case .guest, .port: break
            case .node:
                guard view.nodeAddresses.contains(destinationAddress) else {
                    throw TraceError("\(destinationAddress) is not an address of node \(node)")
                }
            case .address:
                throw TraceError("--dst-ip needs a guest NIC or a port to deliver to (--to GUEST/netN or --to PORT@VNET)")
            }
        }
        if sourceAddress != nil, case .address = from {
            throw TraceError("--src-ip needs a guest NIC or the node to send from (--from GUEST/netN or --from node)")
        }

        // The address family: whatever address is given fixes it; else the protocol; else IPv4 when
        // both ends have an IPv4 address, then IPv6.
        var fixed: [IPAddress] = [sourceAddress, destinationAddress].compactMap { $0 }
        if case .address(let address) = from { fixed.append(address) }
        if case .address(let address) = to { fixed.append(address) }
        if let first = fixed.first, let other = fixed.first(where: { $0.family != first.family }) {
            throw TraceError("\(first) and \(other) are of different address families")
        }
        let family: IPAddress.Family
        if let first = fixed.first {
            family = first.family
        } else if let implied = service.impliedFamily {
            family = implied
        } else if let common = [IPAddress.Family.ipv4, .ipv6].first(where: { view.canSend(from, $0) && view.canSend(to, $0) }) {
            family = common
        } else {
            throw TraceError("\(from) and \(to) have no address family in common (declare ip: for both NICs, or trace to an address)")
        }
        let sent = try service.resolved(for: family)

        var source = try view.station(from, family: family, override: sourceAddress, role: .source)
        var destination = try view.station(to, family: family, override: destinationAddress, role: .destination)
        if let sourceMAC { source.mac = sourceMAC }
        // The node's own address, picked by the interface it talks over (as the kernel picks a source).
        if case .node = to, destinationAddress == nil { destination.address = try view.nodeAddress(family: family, facing: source) }
        if case .node = from, sourceAddress == nil { source.address = try view.nodeAddress(family: family, facing: destination) }

        var packet = Packet(saddr: source.address, daddr: destination.address, l4proto: sent.proto,
                            sport: sent.proto.hasPorts ? sourcePort : nil, dport: sent.port, icmpType: sent.icmpType,
                            tcpFlags: sent.proto == .tcp ? (state == .new ? [.syn] : [.ack]) : [], ctState: state)
        packet.network = family == .ipv4 ? .ipv4 : .ipv6
        var builder = PathBuilder(base: packet, brNetfilter: features.guestMode == .brNetfilter)
        let summary = try builder.build(from: source, to: destination, view: view)
        return Path(legs: builder.legs, summary: summary, incomplete: builder.incomplete, service: sent)
    }
}

// MARK: - The node as the kernel sees it

extension TraceScenario {
    /// One end of the conversation, placed where the node's kernel meets it.
    struct Station {
        enum Place: Equatable {
            /// The node's own IP stack.
            case node
            /// Behind a bridge port: a guest NIC, or what lies beyond a VXLAN or VLAN port or an uplink
            /// bridge's NIC.
            case port(String, bridge: String)
            /// On a bridge, behind a port nobody can name (an address no guest declares).
            case unknownPort(bridge: String)
            /// Beyond an uplink that is no bridge: the IP stack meets it on that interface.
            case interface(String)
        }

        var address: IPAddress
        var mac: MACAddress?
        var place: Place
        /// `guest 101 net0`, `beyond vxlan_blue`, `beyond vmbr0` …
        var label: String
        /// A NIC of a guest on the traced node (its port is the guest's tap or veth, not a way out).
        var isLocalGuest = false

        var bridge: String? {
            switch place {
            case .port(_, let bridge), .unknownPort(let bridge): bridge
            case .node, .interface: nil
            }
        }

        var port: String? {
            if case .port(let port, _) = place { return port }
            return nil
        }

        /// The node itself, a guest of the node, or an address on one of its bridges: the packet must
        /// end on this node, not leave it.
        var isOnTheNode: Bool {
            switch place {
            case .node, .unknownPort: true
            case .port: isLocalGuest
            case .interface: false
            }
        }

        /// The port or interface the station is beyond, for messages.
        var beyondName: String {
            switch place {
            case .node: "lo"
            case .port(let port, _): port
            case .unknownPort(let bridge): bridge
            case .interface(let name): name
            }
        }

        /// The interface the node's IP stack sends to or receives from this station on.
        var ipInterface: String {
            switch place {
            case .node: "lo"
            case .port(_, let bridge), .unknownPort(let bridge): bridge
            case .interface(let name): name
            }
        }
    }

    enum Role { case source, destination }

    /// The node's view of the topology: its addresses, bridges and uplinks.
    struct NodeView {
        /// A bridge on the node with the prefixes reachable on it directly.
        struct Segment {
            var bridge: String
            var prefixes: [IPPrefix]
            /// The node's own addresses on the bridge: it routes for the guests there in these families.
            var nodeAddresses: [IPPrefix]
            /// The port towards other nodes or the outside (VXLAN device, VLAN sub-interface, the uplink
            /// bridge's NIC), if any.
            var farPort: String?
            var vnet: String?
            /// What would give the bridge a way beyond its own ports, for messages when it has none.
            var fix: String?

            func routes(_ family: IPAddress.Family) -> Bool { nodeAddresses.contains { $0.family == family } }
        }

        let desired: DesiredState
        let nodeName: String
        let nodeObject: Node?
        var segments: [Segment] = []
        /// Uplinks that are no bridge and not enslaved, with their addresses.
        var plainUplinks: [(name: String, addresses: [IPPrefix])] = []
        var nodeAddresses: Set<IPAddress> = []
        /// Uplinks in preference order for the default route, each as where its traffic leaves.
        var defaultUplinks: [(name: String, addresses: [IPPrefix], place: Station.Place)] = []

        init(desired: DesiredState, node: String) {
            self.desired = desired
            nodeName = node
            nodeObject = desired.node(named: node)
            let uplinks = nodeObject?.uplinks ?? []
            // Bond members and bridge ports carry no traffic of their own; a VLAN uplink's parent still does.
            var enslaved = Set<String>()
            for uplink in uplinks {
                switch uplink.kind {
                case .bond(let bond): enslaved.formUnion(bond.members.map(\.rawValue))
                case .bridge(let bridge): enslaved.formUnion(bridge.ports.map(\.rawValue))
                case .physical, .vlan: break
                }
            }
            for uplink in uplinks where !enslaved.contains(uplink.name.rawValue) {
                let name = uplink.name.rawValue
                let place: Station.Place
                if case .bridge(let bridge) = uplink.kind {
                    let port = bridge.ports.first?.rawValue
                    segments.append(Segment(bridge: name, prefixes: uplink.addresses.map(\.masked), nodeAddresses: uplink.addresses, farPort: port,
                                            fix: "give uplink \(name) a port (bridge: ports:) or an address"))
                    place = port.map { .port($0, bridge: name) } ?? .unknownPort(bridge: name)
                } else {
                    plainUplinks.append((name, uplink.addresses))
                    place = .interface(name)
                }
                // A bridge without ports leads nowhere beyond the node: no default route through it.
                if case .unknownPort = place {} else { defaultUplinks.append((name, uplink.addresses, place)) }
                nodeAddresses.formUnion(uplink.addresses.map(\.address))
            }
            if defaultUplinks.isEmpty { defaultUplinks = [("eth0", [], .interface("eth0"))] }
            for vnet in desired.vnets {
                guard let zone = desired.zone(named: vnet.zone), zone.includes(node: node) else { continue }
                // Only simple zones put the gateway on the node (see NodeNetworkBuilder.addVNet).
                var gateways: [IPPrefix] = []
                if case .simple = zone.kind {
                    gateways = vnet.subnets.compactMap { subnet in subnet.gateway.map { IPPrefix(address: $0, length: subnet.cidr.length) } }
                }
                let fix = switch zone.kind {
                case .simple: "give a subnet of vnet \(vnet.name) a gateway (zone \(zone.name) is simple: the node routes its vnets)"
                case .evpn: "vnet \(vnet.name) is in EVPN zone \(zone.name), whose VXLAN port and gateway sdn does not program yet"
                case .vlan, .qinq, .vxlan: "vnet \(vnet.name) needs a tag, and zone \(zone.name) its uplink on node \(node)"
                }
                segments.append(Segment(bridge: InterfaceNaming.vnetBridge(vnet.name), prefixes: vnet.subnets.map(\.cidr.masked),
                                        nodeAddresses: gateways, farPort: Self.farPort(of: vnet, in: zone, node: nodeObject), vnet: vnet.name, fix: fix))
                nodeAddresses.formUnion(gateways.map(\.address))
            }
            if let address = nodeObject?.address { nodeAddresses.insert(address) }
        }

        /// The port a vnet's bridge reaches other nodes or the outside through (as NodeNetworkBuilder makes it).
        static func farPort(of vnet: VNet, in zone: Zone, node: Node?) -> String? {
            switch zone.kind {
            case .simple, .evpn: return nil
            case .vxlan: return InterfaceNaming.vxlanDevice(vnet.name)
            case .qinq(_, _, _): return vnet.tag.map { InterfaceNaming.qinqCustomerInterface(zone: zone.name, tag: $0) }
            case .vlan(let bridgeName):
                guard let tag = vnet.tag, let uplink = node?.uplink(named: bridgeName.rawValue) else { return nil }
                guard case .bridge(let bridge) = uplink.kind else { return InterfaceNaming.vlanPort(uplink: uplink.name.rawValue, tag: tag) }
                guard let parent = bridge.vlanAware ? bridgeName.rawValue : bridge.ports.first?.rawValue else { return nil }
                return InterfaceNaming.vlanPort(uplink: parent, tag: tag)
            }
        }

        func segment(bridge: String) -> Segment? { segments.first { $0.bridge == bridge } }

        /// The bridge an address lives on: the one where the node has an address whose subnet holds it
        /// (the node routes it there), else a vnet whose subnet holds it.
        func segment(containing address: IPAddress) -> Segment? {
            connectedSegment(address) ?? segments.first { segment in segment.prefixes.contains { $0.contains(address) } }
        }

        /// The bridge the node's routing table sends `address` to: one of its own subnets holds it.
        func connectedSegment(_ address: IPAddress) -> Segment? {
            segments.first { segment in segment.nodeAddresses.contains { $0.masked.contains(address) } }
        }

        /// Whether the node has an address of `family` on `bridge` (and so routes for the hosts there).
        func routes(_ bridge: String, _ family: IPAddress.Family) -> Bool { segment(bridge: bridge)?.routes(family) ?? false }

        /// Whether `place` is beyond one of the node's uplinks (its NIC, or the uplink itself), where the
        /// node's routing meets the outside.
        func isUplink(_ place: Station.Place) -> Bool {
            switch place {
            case .interface: true
            case .port(_, let bridge): segment(bridge: bridge).map { $0.vnet == nil } ?? false
            case .node, .unknownPort: false
            }
        }

        /// Where a packet from beyond the node enters its IP stack: where `source` is, when that is beyond
        /// an uplink; else (a router sending on what `source` sent) the uplink that holds the node's
        /// address the packet is for, or the one the node routes `source`'s address out of.
        func entry(from source: Station, toward destination: Station) -> Station {
            if !source.isLocalGuest, isUplink(source.place) { return source }
            var entry = route(source.address)
            if destination.place == .node {
                if let segment = segments.first(where: { $0.vnet == nil && $0.nodeAddresses.contains { $0.address == destination.address } }), let port = segment.farPort {
                    entry.place = .port(port, bridge: segment.bridge)
                } else if let uplink = plainUplinks.first(where: { $0.addresses.contains { $0.address == destination.address } }) {
                    entry.place = .interface(uplink.name)
                }
            }
            if !isUplink(entry.place) { entry = defaultRoute(source.address) }
            entry.mac = TraceScenario.upstreamMAC
            return entry
        }

        /// The refusal for a bridge the node neither routes (no address of `family` on it) nor leaves
        /// through a port: only the NICs on it reach each other.
        func noWayBeyond(_ bridge: String, family: IPAddress.Family, _ what: String) -> TraceError {
            let fix = segment(bridge: bridge)?.fix.map { "; to change that, \($0)" } ?? ""
            return TraceError("node \(nodeName) has no \(family.displayName) address on \(bridge) and \(bridge) has no port out of the node, so \(what): "
                              + "only the NICs on \(bridge) reach each other" + fix)
        }

        /// Whether `endpoint` can take part in a conversation of `family`.
        func canSend(_ endpoint: Endpoint, _ family: IPAddress.Family) -> Bool {
            switch endpoint {
            case .address(let address): address.family == family
            case .node: nodeAddresses.contains { $0.family == family }
            case .guest(let id, let index):
                desired.guest(id: id)?.nics.first { $0.index == index }?.ips.contains { $0.family == family } ?? false
            case .port(let port, let bridge):
                // A declared NIC's port sends from its addresses; any other is given one (--src-ip, --dst-ip).
                declaredPort(port, on: bridge).map { $0.1.ips.contains { $0.family == family } } ?? true
            }
        }

        /// The NIC of a guest on this node whose port is `port` on `bridge`.
        func declaredPort(_ port: String, on bridge: String) -> (Guest, GuestNIC)? {
            for guest in desired.guests where guest.node == nodeName {
                for nic in guest.nics where self.bridge(of: nic) == bridge
                    && InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index) == port {
                    return (guest, nic)
                }
            }
            return nil
        }

        /// A guest NIC of any node declaring `address`.
        func declaringNIC(_ address: IPAddress) -> (Guest, GuestNIC)? {
            for guest in desired.guests {
                for nic in guest.nics where nic.ips.contains(where: { $0.address == address }) {
                    return (guest, nic)
                }
            }
            return nil
        }

        func bridge(of nic: GuestNIC) -> String {
            switch nic.attachment {
            case .vnet(let name): InterfaceNaming.vnetBridge(name)
            case .bridge(let name): name.rawValue
            }
        }

        /// A NIC of a guest on this node, at its tap or veth.
        func guestStation(_ guest: Guest, _ nic: GuestNIC, address: IPAddress) -> Station {
            Station(address: address, mac: nic.mac,
                    place: .port(InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index), bridge: bridge(of: nic)),
                    label: "guest \(guest.id) \(nic.key)", isLocalGuest: true)
        }

        /// Where `address` (not the node's) lives as seen from the node: on a bridge whose subnet holds it
        /// (the port unknown on a vnet, beyond the NIC of an uplink bridge), beyond an uplink whose subnet
        /// holds it, else beyond the default route's uplink.
        func located(_ address: IPAddress) -> Station {
            place(address, on: segment(containing: address))
        }

        /// Where the node's own routing table sends `address`: onto a bridge where the node has an address
        /// whose subnet holds it, out of such an uplink, else out of the default route's uplink. A vnet the
        /// node has no address on is not in its routing table.
        func route(_ address: IPAddress) -> Station {
            place(address, on: connectedSegment(address))
        }

        /// Where the node meets what it routes out of its default route's uplink in `family`.
        func defaultRoute(_ address: IPAddress) -> Station {
            place(address, on: nil)
        }

        private func place(_ address: IPAddress, on segment: Segment?) -> Station {
            if let segment {
                if segment.vnet == nil, let port = segment.farPort {
                    return Station(address: address, mac: TraceScenario.upstreamMAC, place: .port(port, bridge: segment.bridge), label: "\(address) beyond \(port)")
                }
                return Station(address: address, mac: nil, place: .unknownPort(bridge: segment.bridge), label: "\(address) on \(segment.bridge)")
            }
            if let uplink = plainUplinks.first(where: { $0.addresses.contains { $0.masked.contains(address) } }) {
                return Station(address: address, mac: TraceScenario.upstreamMAC, place: .interface(uplink.name), label: "\(address) beyond \(uplink.name)")
            }
            let uplink = defaultUplinks.first { $0.addresses.contains { $0.family == address.family } } ?? defaultUplinks[0]
            let beyond = if case .port(let port, _) = uplink.place { port } else { uplink.name }
            return Station(address: address, mac: TraceScenario.upstreamMAC, place: uplink.place, label: "\(address) beyond \(beyond)")
        }

        func station(_ endpoint: Endpoint, family: IPAddress.Family, override: IPAddress?, role: Role) throws(TraceError) -> Station {
            switch endpoint {
            case .node:
                // The address is filled in once the other end is known.
                return Station(address: override ?? IPAddress(family: family, integerValue: 0), mac: nil, place: .node, label: "the node")
            case .guest(let id, let index):
                guard let guest = desired.guest(id: id), let nic = guest.nics.first(where: { $0.index == index }) else {
                    throw TraceError("guest \(id) net\(index) is not in the topology")
                }
                guard guest.node == nodeName else { throw TraceError("guest \(id) runs on node \(guest.node), not \(nodeName); pass --node \(guest.node)") }
                guard let address = override ?? nic.ips.first(where: { $0.family == family })?.address else {
                    let flag = role == .source ? "--src-ip" : "--dst-ip"
                    throw TraceError("guest \(id) \(nic.key) declares no \(family.displayName) address; declare ip: in the topology or name one with \(flag)")
                }
                return guestStation(guest, nic, address: address)
            case .port(let port, let bridge):
                guard let segment = segment(bridge: bridge) else { throw TraceError("node \(nodeName) has no bridge \(bridge)") }
                let flag = role == .source ? "--src-ip" : "--dst-ip"
                if let (guest, nic) = declaredPort(port, on: bridge) {
                    guard let address = override ?? nic.ips.first(where: { $0.family == family })?.address else {
                        throw TraceError("guest \(guest.id) \(nic.key) (port \(port)) declares no \(family.displayName) address; name one with \(flag)")
                    }
                    return guestStation(guest, nic, address: address)
                }
                guard let address = override else {
                    throw TraceError("no guest NIC declares port \(port) on \(bridge), so it has no address: name the one it \(role == .source ? "sends from" : "receives on") with \(flag)")
                }
                if port == segment.farPort {
                    return Station(address: address, mac: TraceScenario.upstreamMAC, place: .port(port, bridge: bridge), label: "\(address) beyond \(port)")
                }
                // On the node like a guest's port, but nobody declared it: whatever the bridge does with an
                // unknown port (unknown-ports) decides.
                return Station(address: address, mac: TraceScenario.portHostMAC, place: .port(port, bridge: bridge),
                               label: "port \(port) on \(bridge) (no guest NIC declares it)", isLocalGuest: true)
            case .address(let address):
                if nodeAddresses.contains(address) {
                    return Station(address: address, mac: nil, place: .node, label: "the node (\(address))")
                }
                if let (guest, nic) = declaringNIC(address) {
                    if guest.node == nodeName { return guestStation(guest, nic, address: address) }
                    // A guest of another node sharing a vnet with this one: beyond the vnet's VXLAN or VLAN port.
                    if case .vnet = nic.attachment, let segment = segment(bridge: bridge(of: nic)), let port = segment.farPort {
                        return Station(address: address, mac: nic.mac, place: .port(port, bridge: segment.bridge),
                                       label: "guest \(guest.id) \(nic.key) on node \(guest.node), beyond \(port)")
                    }
                }
                let station = located(address)
                if role == .source, case .unknownPort(let bridge) = station.place {
                    let segment = segment(bridge: bridge)
                    if let port = segment?.farPort, segment?.routes(address.family) == false {
                        // A vnet the node does not route (VXLAN, VLAN): its other hosts are beyond its port.
                        return Station(address: address, mac: TraceScenario.upstreamMAC, place: .port(port, bridge: bridge), label: "\(address) beyond \(port)")
                    }
                    throw TraceError("\(address) is inside a subnet of \(bridge) but no guest declares it, so the port it is sent from is unknown; "
                                     + "send from a NIC with --from GUEST/netN --src-ip \(address)")
                }
                return station
            }
        }

        /// The node's address of `family` it would use towards `other`: its address on the bridge or
        /// uplink `other` sits on (the one whose subnet holds `other`'s address first), else the node's
        /// address, else any of its addresses. On a bridge the node has no such address on, `other` is
        /// reached through the node's route to it (a router beyond an uplink).
        func nodeAddress(family: IPAddress.Family, facing other: Station) throws(TraceError) -> IPAddress {
            var other = other
            if let bridge = other.bridge, !routes(bridge, family) { other = route(other.address) }
            var candidates: [IPPrefix] = []
            switch other.place {
            case .port(_, let bridge), .unknownPort(let bridge):
                candidates = segment(bridge: bridge)?.nodeAddresses ?? []
            case .interface(let name):
                candidates = plainUplinks.first { $0.name == name }?.addresses ?? []
            case .node:
                break
            }
            candidates = candidates.filter { $0.family == family }
            if let onLink = candidates.first(where: { $0.masked.contains(other.address) }) ?? candidates.first { return onLink.address }
            if let address = nodeObject?.address, address.family == family { return address }
            if let address = nodeAddresses.filter({ $0.family == family }).sorted().first { return address }
            throw TraceError("node \(nodeName) has no \(family.displayName) address")
        }
    }

    // MARK: - The hooks

    /// Appends the legs of one path, hook by hook.
    struct PathBuilder {
        let base: Packet
        let brNetfilter: Bool
        var legs: [Leg] = []
        var incomplete: String?

        /// br_netfilter's priorities on the bridge hooks where it calls the IP hooks.
        static let brNetfilterPrerouting = 0
        static let brNetfilterForward = 0

        struct Frame {
            var inPort: String?
            var outPort: String?
            var bridge: String
            var source: MACAddress?
            var destination: MACAddress?
        }

        mutating func add(_ what: String, _ family: TableFamily, _ hook: BaseChain.Hook, priorities: ClosedRange<Int>? = nil, _ fill: (inout Packet) -> Void) {
            var packet = base
            fill(&packet)
            legs.append(Leg(what: what, packet: packet, hook: .init(family, hook, priorities: priorities)))
        }

        /// A bridge hook: ports as interfaces, the bridge as `ibrname` (with an input port) and `obrname`
        /// (with an output port).
        mutating func bridgeHook(_ hook: BaseChain.Hook, _ frame: Frame, _ what: String, priorities: ClosedRange<Int>? = nil) {
            add(what, .bridge, hook, priorities: priorities) { packet in
                packet.iifname = frame.inPort
                packet.oifname = frame.outPort
                packet.ibrname = frame.inPort.map { _ in frame.bridge }
                packet.obrname = frame.outPort.map { _ in frame.bridge }
                packet.etherSource = frame.source
                packet.etherDestination = frame.destination
            }
        }

        /// An IP hook for a packet that arrived as `frame` (its Ethernet header is still there).
        mutating func ipHook(_ hook: BaseChain.Hook, in input: String?, out output: String?, frame: Frame?, _ what: String) {
            add(what, .inet, hook) { packet in
                packet.iifname = input
                packet.oifname = output
                packet.etherSource = frame?.source
                packet.etherDestination = frame?.destination
            }
        }

        /// Bridge prerouting for a frame entering `frame.bridge` at `frame.inPort`; under br_netfilter
        /// with inet prerouting inside it.
        mutating func prerouting(_ frame: Frame) {
            // Before the bridge's forwarding decision there is no output port.
            var frame = frame
            frame.outPort = nil
            let entry = "frame enters bridge \(frame.bridge) from \(frame.inPort ?? "?")"
            guard brNetfilter else { return bridgeHook(.prerouting, frame, entry) }
            bridgeHook(.prerouting, frame, entry + ", before br_netfilter", priorities: Int.min...Self.brNetfilterPrerouting)
            ipHook(.prerouting, in: frame.bridge, out: nil, frame: frame, "br_netfilter passes the frame to the IP prerouting hook, input interface \(frame.bridge)")
            bridgeHook(.prerouting, frame, entry + ", after br_netfilter", priorities: Self.brNetfilterPrerouting + 1...Int.max)
        }

        /// A frame bridged from one port to another of the same bridge, or up to where the port is unknown.
        mutating func bridged(_ frame: Frame, destination: Station) {
            prerouting(frame)
            guard let outPort = frame.outPort else {
                incomplete = "\(destination.address) is on \(frame.bridge) but no guest declares it: which port receives it is unknown; "
                    + "name the NIC with --to GUEST/netN --dst-ip \(destination.address)"
                return
            }
            let what = "bridged \(frame.inPort ?? "?") → \(outPort) on \(frame.bridge)"
            if brNetfilter {
                bridgeHook(.forward, frame, what + ", before br_netfilter", priorities: Int.min...Self.brNetfilterForward)
                ipHook(.forward, in: frame.bridge, out: frame.bridge, frame: frame, "br_netfilter passes the bridged frame to the IP forward hook (\(frame.bridge) → \(frame.bridge))")
                bridgeHook(.forward, frame, what + ", after br_netfilter", priorities: Self.brNetfilterForward + 1...Int.max)
            } else {
                bridgeHook(.forward, frame, what)
            }
            var leaving = frame
            leaving.inPort = nil
            bridgeHook(.postrouting, leaving, "frame leaves \(frame.bridge) on \(outPort)")
            if brNetfilter {
                ipHook(.postrouting, in: nil, out: frame.bridge, frame: frame, "br_netfilter passes the frame to the IP postrouting hook, output interface \(frame.bridge)")
            }
        }

        /// A frame to the node's own MAC on a bridge: bridge prerouting and input, and the IP stack's
        /// prerouting (under br_netfilter that already ran inside bridge prerouting).
        mutating func upToTheNode(_ frame: Frame) {
            prerouting(frame)
            bridgeHook(.input, frame, "frame to the node's MAC on \(frame.bridge), up from \(frame.inPort ?? "?")")
            if !brNetfilter {
                ipHook(.prerouting, in: frame.bridge, out: nil, frame: frame, "IP prerouting on \(frame.bridge)")
            }
        }

        /// Out of the node's IP stack towards `destination`: bridge output and postrouting for a port.
        mutating func down(to destination: Station) {
            switch destination.place {
            case .port(let port, let bridge):
                let frame = Frame(inPort: nil, outPort: port, bridge: bridge, source: TraceScenario.routerMAC, destination: destination.mac)
                bridgeHook(.output, frame, "frame from the node to \(port) on \(bridge)")
                bridgeHook(.postrouting, frame, "frame leaves \(bridge) on \(port)")
            case .unknownPort(let bridge):
                incomplete = "the node hands the packet to bridge \(bridge); no guest declares \(destination.address), so which port receives it is unknown; "
                    + "name the NIC with --to GUEST/netN --dst-ip \(destination.address)"
            case .interface, .node:
                break
            }
        }

        mutating func build(from source: Station, to destination: Station, view: NodeView) throws(TraceError) -> String {
            if case .unknownPort = source.place { throw TraceError("the port \(source.address) is sent from is unknown") }
            // Both ends on one bridge: the bridge carries the frame, whether or not the node routes there.
            if let bridge = source.bridge, let inPort = source.port, destination.bridge == bridge {
                guard destination.port != inPort else {
                    throw TraceError("\(source.label) and \(destination.label) are both beyond \(inPort): the packet does not cross node \(view.nodeName)")
                }
                bridged(Frame(inPort: inPort, outPort: destination.port, bridge: bridge, source: source.mac, destination: destination.mac), destination: destination)
                return "bridged on \(bridge): \(source.label) → \(destination.label)"
            }
            switch source.place {
            case .node:
                return try fromTheIPStack(source, received: nil, to: destination, view: view)
            case .port(let port, let bridge) where source.isLocalGuest:
                return try fromAGuest(source, port: port, bridge: bridge, to: destination, view: view)
            default:
                return try fromBeyond(source, entry: view.entry(from: source, toward: destination), to: destination, view: view)
            }
        }

        /// From a guest NIC to what is not on its bridge: up to the node where the node routes the bridge
        /// (has an address of the family on it), else bridged out of the bridge's port to the router beyond
        /// it (a VLAN's or VXLAN's gateway, the LAN's router); what is on the node itself comes back in
        /// from that router.
        mutating func fromAGuest(_ source: Station, port: String, bridge: String, to destination: Station, view: NodeView) throws(TraceError) -> String {
            let segment = view.segment(bridge: bridge)
            let toItsAddressHere = destination.place == .node && segment?.nodeAddresses.contains { $0.address == destination.address } == true
            if segment?.routes(source.address.family) == true || toItsAddressHere {
                let frame = Frame(inPort: port, outPort: nil, bridge: bridge, source: source.mac, destination: TraceScenario.routerMAC)
                upToTheNode(frame)
                return try fromTheIPStack(source, received: (bridge, frame, source.place), to: destination, view: view)
            }
            guard let farPort = segment?.farPort else {
                throw view.noWayBeyond(bridge, family: source.address.family, "nothing carries the traffic of \(source.label) beyond \(bridge)")
            }
            let router = Station(address: destination.address, mac: TraceScenario.upstreamMAC, place: .port(farPort, bridge: bridge),
                                 label: "the router beyond \(farPort)")
            bridged(Frame(inPort: port, outPort: farPort, bridge: bridge, source: source.mac, destination: router.mac), destination: router)
            let out = "bridged on \(bridge): \(source.label) → the router beyond \(farPort)"
            guard destination.isOnTheNode else { return out + ", toward \(destination.label)" }
            return out + ", which sends it back: " + (try fromBeyond(source, entry: view.entry(from: source, toward: destination), to: destination, view: view))
        }

        /// From beyond the node (a host behind an uplink, another node's guest, the router a guest's
        /// bridged traffic went to): onto a bridge with a port out of the node through that port, as the
        /// router beyond puts it on the bridge's segment; anything else into the node's IP stack at `entry`.
        mutating func fromBeyond(_ source: Station, entry: Station, to destination: Station, view: NodeView) throws(TraceError) -> String {
            if destination.isOnTheNode, let bridge = destination.bridge, let farPort = view.segment(bridge: bridge)?.farPort {
                bridgeIn(from: farPort, on: bridge, to: destination)
                return "\(source.label) → \(destination.label): bridged on \(bridge) from the router beyond \(farPort)"
            }
            if !destination.isOnTheNode, !view.isUplink(source.place) {
                throw TraceError("\(source.label) reaches \(destination.label) through its router beyond node \(view.nodeName): the packet does not cross it")
            }
            var input = entry.ipInterface
            var frame = Frame(inPort: nil, outPort: nil, bridge: input, source: entry.mac, destination: TraceScenario.routerMAC)
            if let bridge = entry.bridge, let port = entry.port {
                frame = Frame(inPort: port, outPort: nil, bridge: bridge, source: entry.mac, destination: TraceScenario.routerMAC)
                upToTheNode(frame)
                input = bridge
            } else {
                ipHook(.prerouting, in: input, out: nil, frame: frame, "IP prerouting on \(input)")
            }
            return try fromTheIPStack(source, received: (input, frame, entry.place), to: destination, view: view)
        }

        /// The packet is in the node's IP stack, received (on `input`, as `frame`, from `place`) or sent by
        /// the node itself: delivered to the node, or routed out by the node's routing table. A bridge the
        /// node has no address on is not in that table: what is for it leaves by the node's route, and
        /// the router beyond hands it back through the bridge's port.
        mutating func fromTheIPStack(_ source: Station, received: (input: String, frame: Frame, place: Station.Place)?, to destination: Station,
                                     view: NodeView) throws(TraceError) -> String {
            if destination.place == .node {
                guard let received else {
                    ipHook(.output, in: nil, out: "lo", frame: nil, "sent by the node to itself on lo")
                    ipHook(.postrouting, in: nil, out: "lo", frame: nil, "leaving on lo")
                    ipHook(.prerouting, in: "lo", out: nil, frame: nil, "back in on lo")
                    ipHook(.input, in: "lo", out: nil, frame: nil, "delivered to the node on lo")
                    return "from the node to itself"
                }
                ipHook(.input, in: received.input, out: nil, frame: received.frame,
                       "delivered to the node (\(destination.address)), input interface \(received.input)")
                return "\(source.label) to the node"
            }
            var target = destination
            var backIn: (port: String, bridge: String)?
            if destination.isOnTheNode, let bridge = destination.bridge {
                let routed = view.route(destination.address)
                if routed.ipInterface != bridge {
                    let family = destination.address.family
                    if view.routes(bridge, family) {
                        throw TraceError("node \(view.nodeName) routes \(destination.address) to \(routed.ipInterface), not to \(bridge): "
                                         + "the packet never reaches \(destination.label)")
                    }
                    guard let farPort = view.segment(bridge: bridge)?.farPort else {
                        throw view.noWayBeyond(bridge, family: family, "nothing beyond \(bridge) reaches \(destination.label)")
                    }
                    target = routed
                    target.label = "the router beyond \(routed.beyondName)"
                    backIn = (farPort, bridge)
                }
            } else if !destination.isOnTheNode, !view.isUplink(destination.place) {
                // Another node's guest on a vnet the node does not route: the node's route leads toward it.
                target = view.route(destination.address)
                target.label = "the router beyond \(target.beyondName), toward \(destination.label)"
            }
            if let received, received.place == target.place {
                throw TraceError("\(source.label) and \(destination.label) are both beyond \(target.beyondName): the packet does not cross node \(view.nodeName)")
            }
            let output = target.ipInterface
            var summary: String
            if let received {
                ipHook(.forward, in: received.input, out: output, frame: received.frame, "routed \(received.input) → \(output)")
                ipHook(.postrouting, in: received.input, out: output, frame: received.frame, "leaving on \(output)")
                summary = "routed \(received.input) → \(output): \(source.label) → \(target.label)"
            } else {
                ipHook(.output, in: nil, out: output, frame: nil, "sent by the node out of \(output)")
                ipHook(.postrouting, in: nil, out: output, frame: nil, "leaving on \(output)")
                summary = "from the node to \(target.label)"
            }
            down(to: target)
            if let backIn {
                bridgeIn(from: backIn.port, on: backIn.bridge, to: destination)
                summary += ", which sends it back: bridged on \(backIn.bridge) from \(backIn.port) → \(destination.label)"
            }
            return summary
        }

        /// A frame the router beyond `port` puts on `bridge`'s segment, bridged to `destination`.
        mutating func bridgeIn(from port: String, on bridge: String, to destination: Station) {
            bridged(Frame(inPort: port, outPort: destination.port, bridge: bridge, source: TraceScenario.upstreamMAC, destination: destination.mac),
                    destination: destination)
        }
    }
}

extension IPAddress.Family {
    /// `IPv4`, `IPv6`: as messages name the families.
    var displayName: String { self == .ipv4 ? "IPv4" : "IPv6" }
}
