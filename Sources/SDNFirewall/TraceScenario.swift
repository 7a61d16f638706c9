import SDNModel
import SDNNFTables

/// `sdn trace`: where a packet between two endpoints meets the compiled ruleset of a node, hook by hook,
/// and what each hook decides. Pure: the packet path is derived from the topology, not from a kernel.
public enum TraceScenario {
    /// One side of the conversation.
    public enum Endpoint: Hashable, Sendable, CustomStringConvertible {
        case guest(id: Int, nic: Int)
        case address(IPAddress)

        /// `101/net0`, `101` (net0), `web1/net1` (by name) or an address.
        public static func parse(_ text: String, in state: DesiredState) throws(TraceError) -> Endpoint {
            if let address = try? IPAddress(text) { return .address(address) }
            let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
            let guestText = parts[0]
            let guest = Int(guestText).flatMap { state.guest(id: $0) } ?? state.guests.first { $0.name == guestText }
            guard let guest else {
                throw TraceError("'\(text)' is neither an address nor a guest" + (Suggestion.hint(for: guestText, in: state.guests.map(\.name) + state.guests.map { String($0.id) }).map { "; \($0)" } ?? ""))
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
            }
        }
    }

    /// What is sent: `tcp/443`, `udp/53`, `icmp`, `icmp/echo-request`, `icmpv6`, `gre`.
    public struct Service: Hashable, Sendable {
        public var proto: IPProtocolName
        public var port: UInt16?
        public var icmpType: UInt8?

        public init(proto: IPProtocolName, port: UInt16? = nil, icmpType: UInt8? = nil) {
            self.proto = proto
            self.port = port
            self.icmpType = icmpType
        }

        public static func parse(_ text: String) throws(TraceError) -> Service {
            let parts = text.lowercased().split(separator: "/", maxSplits: 1).map(String.init)
            if parts[0] == "ping" { return Service(proto: .icmp, icmpType: 8) }
            guard let proto = IPProtocolName(parts[0]) else {
                throw TraceError("'\(parts[0])' is not a protocol; write e.g. tcp/22, udp/53, icmp, icmp/echo-request")
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
    }

    /// One place the packet meets the ruleset.
    public struct Leg: Sendable {
        public var what: String
        public var packet: Packet
        public var hook: PacketInterpreter.HookPoint
    }

    public struct TraceError: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// A MAC standing for "the node's router MAC" in routed packets: the trace does not depend on it.
    static let routerMAC = MACAddress(octets: [0x02, 0x00, 0x00, 0x00, 0x00, 0x01])

    /// The hooks a packet passes from `from` to `to` on `node`, with the packet as each hook sees it.
    public static func legs(from: Endpoint, to: Endpoint, service: Service, state: Packet.ConnectionState, sourcePort: UInt16 = 40000,
                            in desired: DesiredState, node: String, features: KernelFeatures) throws(TraceError) -> [Leg] {
        let mode = features.guestMode
        let uplink = desired.node(named: node)?.uplinks.first(where: { if case .bridge = $0.kind { true } else { false } })?.name.rawValue
            ?? desired.node(named: node)?.uplinks.first?.name.rawValue ?? "eth0"

        struct Side {
            var address: IPAddress
            var mac: MACAddress?
            var port: String?      // bridge port (guest tap/veth)
            var bridge: String?    // vnet bridge
            var isGuest: Bool
        }
        func side(_ endpoint: Endpoint, family: IPAddress.Family?) throws(TraceError) -> Side {
            switch endpoint {
            case .address(let address):
                // An address a guest of this node declares is that guest.
                for guest in desired.guests where guest.node == node {
                    for nic in guest.nics where nic.ips.contains(where: { $0.isHost && $0.address == address }) {
                        var resolved = try side(.guest(id: guest.id, nic: nic.index), family: address.family)
                        resolved.address = address
                        return resolved
                    }
                }
                return Side(address: address, mac: nil, port: nil, bridge: nil, isGuest: false)
            case .guest(let id, let index):
                guard let guest = desired.guest(id: id), let nic = guest.nics.first(where: { $0.index == index }) else {
                    throw TraceError("guest \(id) net\(index) is not in the topology")
                }
                guard guest.node == node else { throw TraceError("guest \(id) runs on node \(guest.node), not \(node); pass --node \(guest.node)") }
                let candidates = nic.ips.filter { family == nil || $0.family == family }
                guard let address = candidates.first?.address else {
                    throw TraceError("guest \(id) \(nic.key) declares no \(family.map { "\($0) " } ?? "")address; declare ip: in the topology or trace from an address")
                }
                let bridge: String = switch nic.attachment {
                case .vnet(let name): InterfaceNaming.vnetBridge(name)
                case .bridge(let name): name.rawValue
                }
                return Side(address: address, mac: nic.mac, port: InterfaceNaming.guestInterface(kind: guest.kind, guestID: id, nicIndex: index), bridge: bridge, isGuest: true)
            }
        }
        // Resolve whichever side fixes the address family first.
        let source: Side, destination: Side
        if case .address(let address) = to {
            destination = try side(to, family: nil)
            source = try side(from, family: address.family)
        } else if case .address(let address) = from {
            source = try side(from, family: nil)
            destination = try side(to, family: address.family)
        } else {
            source = try side(from, family: service.proto == .icmpv6 ? .ipv6 : .ipv4)
            destination = try side(to, family: source.address.family)
        }
        guard source.address.family == destination.address.family else {
            throw TraceError("\(source.address) and \(destination.address) are of different address families")
        }

        var packet = Packet(saddr: source.address, daddr: destination.address, l4proto: service.proto,
                            sport: service.proto.hasPorts ? sourcePort : nil, dport: service.port, icmpType: service.icmpType,
                            tcpFlags: service.proto == .tcp ? (state == .new ? [.syn] : [.ack]) : [], ctState: state)
        var nodeAddresses = Set(desired.vnets.flatMap { $0.subnets.compactMap(\.gateway) })
        if let nodeObject = desired.node(named: node) {
            nodeAddresses.formUnion([nodeObject.address].compactMap { $0 } + nodeObject.uplinks.flatMap { $0.addresses.map(\.address) })
        }
        let toNode = !destination.isGuest && nodeAddresses.contains(destination.address)
        let sameBridge = source.isGuest && destination.isGuest && source.bridge == destination.bridge

        var legs: [Leg] = []
        if source.isGuest {
            // Every frame a guest sends first meets the anti-spoofing chain on the bridge.
            var frame = packet
            frame.iifname = source.port
            frame.etherSource = source.mac
            frame.etherDestination = sameBridge ? destination.mac : routerMAC
            legs.append(Leg(what: "frame enters bridge \(source.bridge ?? "?") from \(source.port ?? "?")", packet: frame, hook: .init(.bridge, .prerouting)))
        }
        if sameBridge {
            var frame = packet
            frame.etherSource = source.mac
            frame.etherDestination = destination.mac
            switch mode {
            case .bridgeFamily:
                frame.iifname = source.port
                frame.oifname = destination.port
                frame.ibrname = source.bridge
                frame.obrname = destination.bridge
                legs.append(Leg(what: "bridged \(source.port!) → \(destination.port!)", packet: frame, hook: .init(.bridge, .forward)))
            case .brNetfilter:
                frame.iifname = source.bridge
                frame.oifname = destination.bridge
                legs.append(Leg(what: "bridged on \(source.bridge!) (IP forward hook via br_netfilter)", packet: frame, hook: .init(.inet, .forward)))
            }
            return legs
        }
        if toNode {
            if source.isGuest && mode == .bridgeFamily {
                var frame = packet
                frame.iifname = source.port
                frame.etherSource = source.mac
                frame.etherDestination = routerMAC
                legs.append(Leg(what: "frame to the node from \(source.port!)", packet: frame, hook: .init(.bridge, .input)))
            }
            packet.iifname = source.bridge ?? uplink
            packet.etherSource = source.mac
            legs.append(Leg(what: "delivered to the node on \(packet.iifname!)", packet: packet, hook: .init(.inet, .input)))
            return legs
        }
        // Routed through the node.
        if source.isGuest && mode == .bridgeFamily {
            var frame = packet
            frame.iifname = source.port
            frame.etherSource = source.mac
            frame.etherDestination = routerMAC
            legs.append(Leg(what: "frame to the router from \(source.port!)", packet: frame, hook: .init(.bridge, .input)))
        }
        var routed = packet
        routed.iifname = source.bridge ?? uplink
        routed.oifname = destination.bridge ?? uplink
        routed.etherSource = source.isGuest ? source.mac : routerMAC
        routed.etherDestination = routerMAC
        legs.append(Leg(what: "routed \(routed.iifname!) → \(routed.oifname!)", packet: routed, hook: .init(.inet, .forward)))
        if destination.isGuest && mode == .bridgeFamily {
            var frame = packet
            frame.oifname = destination.port
            frame.etherSource = routerMAC
            frame.etherDestination = destination.mac
            legs.append(Leg(what: "frame from the router to \(destination.port!)", packet: frame, hook: .init(.bridge, .output)))
        }
        var nat = routed
        nat.etherDestination = nil
        legs.append(Leg(what: "leaving on \(routed.oifname!)", packet: nat, hook: .init(.inet, .postrouting)))
        return legs
    }
}
