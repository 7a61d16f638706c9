public import SDNDataplane
import SDNModel

/// Everything one node's kernel must hold for the topology: links (with their owner ids), addresses,
/// FDB entries, bridge VLANs and forwarding switches, node-wide forwarding and the uplinks that must keep
/// taking router advertisements. Pure data; `Planner` turns it into kernel writes.
public struct NodeNetwork: Hashable, Sendable, Codable {
    public var node: String
    public var links: [DesiredLink]
    public var addresses: [AddressSpec]
    public var routes: [RouteSpec]
    public var fdb: [FDBEntrySpec]
    public var bridgeVLANs: [BridgeVLANEntry]
    public var forwarding: [ForwardingSetting]
    /// Node-wide forwarding switches to turn on (IPv6 when the node routes IPv6: Linux forwards IPv6
    /// only with `net.ipv6.conf.all.forwarding` on). `sdn` never turns one off.
    public var nodeForwarding: [NodeForwardingSetting]
    /// Uplinks that keep taking IPv6 router advertisements once the node forwards IPv6: where one takes
    /// them now (accept_ra 1), it gets accept_ra 2 before any IPv6 forwarding switch is turned on, so a
    /// default route learned by SLAAC stays.
    public var routerAdvertisementUplinks: [String]
    /// Things the topology asks for that this planner cannot build (with the reason), e.g. EVPN.
    public var notes: [String]

    public init(node: String, links: [DesiredLink] = [], addresses: [AddressSpec] = [], routes: [RouteSpec] = [],
                fdb: [FDBEntrySpec] = [], bridgeVLANs: [BridgeVLANEntry] = [], forwarding: [ForwardingSetting] = [],
                nodeForwarding: [NodeForwardingSetting] = [], routerAdvertisementUplinks: [String] = [], notes: [String] = []) {
        self.node = node
        self.links = links
        self.addresses = addresses
        self.routes = routes
        self.fdb = fdb
        self.bridgeVLANs = bridgeVLANs
        self.forwarding = forwarding
        self.nodeForwarding = nodeForwarding
        self.routerAdvertisementUplinks = routerAdvertisementUplinks
        self.notes = notes
    }

    /// What the planner needs read back: bridge VLANs only where a VLAN-aware bridge is wanted, the
    /// node-wide IPv6 settings only where the node routes IPv6.
    public var observationScope: ObservationScope {
        ObservationScope(
            bridgeVLANs: links.contains { link in
                if case .bridge(let bridge) = link.spec.kind { bridge.vlanFiltering } else { false }
            },
            nodeWideIPv6: nodeForwarding.contains { $0.family == .ipv6 && $0.enabled })
    }
}

/// One link the node needs, and how `sdn` holds it.
public struct DesiredLink: Hashable, Sendable, Codable {
    public enum Ownership: String, Hashable, Sendable, Codable {
        /// `sdn` creates it, marks it (`sdn:<owner>` ifalias), changes it and deletes it.
        case owned
        /// It exists independently of `sdn` (a physical NIC named as an uplink, a guest's tap or veth made
        /// by the hypervisor): `sdn` sets what the topology says (master, MTU, up, port settings) but never
        /// creates, recreates or deletes it.
        case adopted
    }

    public var spec: LinkSpec
    public var ownership: Ownership
    /// Which topology object asked for the link: `uplink:bond0`, `vnet:web`, `vnet:web/vxlan`, `guest:101/net0`.
    public var owner: String

    public init(spec: LinkSpec, ownership: Ownership, owner: String) {
        self.spec = spec
        self.ownership = ownership
        self.owner = owner
    }
}
