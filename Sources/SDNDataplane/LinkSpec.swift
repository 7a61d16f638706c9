public import SDNModel

/// One kernel link as `sdn` wants it (desired) or as the kernel holds it (observed), in the terms both
/// sides share. The planner compares these; the netlink adapter creates, changes and reads them.
public struct LinkSpec: Hashable, Sendable, Codable {
    public var name: String
    public var kind: LinkKind
    /// nil: whatever the kernel chooses (desired) / not reported (observed).
    public var mtu: Int?
    /// The bridge or bond this link is a port of.
    public var master: String?
    /// Administrative state (IFF_UP).
    public var up: Bool
    /// nil: the kernel's random address (desired) / not reported (observed).
    public var macAddress: MACAddress?
    /// The link's ifalias. Links `sdn` creates carry `sdn:<owner id>` here: the ownership mark.
    public var alias: String?
    /// Port settings when `master` is a bridge; nil leaves the kernel's defaults.
    public var bridgePort: BridgePortSettings?

    public init(name: String, kind: LinkKind, mtu: Int? = nil, master: String? = nil, up: Bool = true,
                macAddress: MACAddress? = nil, alias: String? = nil, bridgePort: BridgePortSettings? = nil) {
        self.name = name
        self.kind = kind
        self.mtu = mtu
        self.master = master
        self.up = up
        self.macAddress = macAddress
        self.alias = alias
        self.bridgePort = bridgePort
    }

    /// The owner id in the ownership mark, when the link is ours.
    public var owner: String? { LinkOwnership.owner(fromAlias: alias) }
    /// Whether the link carries the ownership mark (cheaper than `owner != nil`: builds no string).
    public var isOwned: Bool { alias?.hasPrefix(LinkOwnership.aliasPrefix) ?? false }
}

public enum LinkOwnership {
    public static let aliasPrefix = "sdn:"
    public static func alias(owner: String) -> String { aliasPrefix + owner }
    public static func owner(fromAlias alias: String?) -> String? {
        guard let alias, alias.hasPrefix(aliasPrefix) else { return nil }
        return String(alias.dropFirst(aliasPrefix.count))
    }
}

/// The link kinds `sdn` creates, with the kind-specific attributes it manages.
public enum LinkKind: Hashable, Sendable, Codable {
    case bridge(BridgeLinkSettings)
    case bond(BondLinkSettings)
    case vlan(VLANLinkSettings)
    case vxlan(VXLANLinkSettings)
    case veth(VethLinkSettings)
    case tap
    case macvlan(MacvlanLinkSettings)
    /// A link `sdn` does not create (a physical NIC has kind ""; others e.g. "dummy", "ipip").
    case other(String)

    /// The links this one hangs off at the kernel level (deleting one of them deletes this link too).
    public var kernelParents: [String] {
        switch self {
        case .vlan(let vlan): [vlan.parent]
        case .macvlan(let macvlan): [macvlan.parent]
        case .vxlan(let vxlan): vxlan.device.map { [$0] } ?? []
        default: []
        }
    }

    /// The kernel's IFLA_INFO_KIND name.
    public var kernelKind: String {
        switch self {
        case .bridge: "bridge"
        case .bond: "bond"
        case .vlan: "vlan"
        case .vxlan: "vxlan"
        case .veth: "veth"
        case .tap: "tun"
        case .macvlan: "macvlan"
        case .other(let kind): kind
        }
    }
}

public struct BridgeLinkSettings: Hashable, Sendable, Codable {
    public var stp: Bool
    public var vlanFiltering: Bool
    /// The VLAN protocol of a VLAN-aware bridge (802.1ad for a service-VLAN bridge).
    public var vlanProtocol: VLANProtocol
    /// default_pvid of a VLAN-aware bridge (the kernel's default is 1).
    public var defaultPVID: Int

    public init(stp: Bool = false, vlanFiltering: Bool = false, vlanProtocol: VLANProtocol = .dot1Q, defaultPVID: Int = 1) {
        self.stp = stp
        self.vlanFiltering = vlanFiltering
        self.vlanProtocol = vlanProtocol
        self.defaultPVID = defaultPVID
    }
}

public struct BondLinkSettings: Hashable, Sendable, Codable {
    public var mode: Bond.Mode
    public var miimon: Int
    public var lacpRate: Bond.LACPRate?
    public var transmitHashPolicy: Bond.TransmitHashPolicy?
    public var minLinks: Int?
    /// Name of the preferred member (active-backup).
    public var primary: String?

    public init(mode: Bond.Mode, miimon: Int = Bond.defaultMIIMonitorInterval, lacpRate: Bond.LACPRate? = nil,
                transmitHashPolicy: Bond.TransmitHashPolicy? = nil, minLinks: Int? = nil, primary: String? = nil) {
        self.mode = mode
        self.miimon = miimon
        self.lacpRate = lacpRate
        self.transmitHashPolicy = transmitHashPolicy
        self.minLinks = minLinks
        self.primary = primary
    }
}

public struct VLANLinkSettings: Hashable, Sendable, Codable {
    public var parent: String
    public var id: Int
    public var proto: VLANProtocol

    public init(parent: String, id: Int, proto: VLANProtocol = .dot1Q) {
        self.parent = parent
        self.id = id
        self.proto = proto
    }
}

public struct VXLANLinkSettings: Hashable, Sendable, Codable {
    public var vni: Int
    /// Source address of the tunnel (the node's underlay address).
    public var local: IPAddress?
    /// UDP destination port.
    public var port: UInt16
    /// MAC learning from received packets; off with head-end replication and static FDB.
    public var learning: Bool
    /// The underlay device (IFLA_VXLAN_LINK), if pinned.
    public var device: String?

    public init(vni: Int, local: IPAddress? = nil, port: UInt16 = 4789, learning: Bool = false, device: String? = nil) {
        self.vni = vni
        self.local = local
        self.port = port
        self.learning = learning
        self.device = device
    }
}

public struct VethLinkSettings: Hashable, Sendable, Codable {
    /// The other end's name.
    public var peer: String
    /// A named network namespace (`/run/netns/<name>`) the other end is moved into; nil keeps it here.
    public var peerNamespace: String?

    public init(peer: String, peerNamespace: String? = nil) {
        self.peer = peer
        self.peerNamespace = peerNamespace
    }
}

public struct MacvlanLinkSettings: Hashable, Sendable, Codable {
    public enum Mode: String, Hashable, Sendable, Codable, CaseIterable { case `private`, vepa, bridge, passthru, source }
    public var parent: String
    public var mode: Mode

    public init(parent: String, mode: Mode = .bridge) {
        self.parent = parent
        self.mode = mode
    }
}

/// Per-port settings on a bridge (IFLA_PROTINFO / IFLA_BRPORT_*).
public struct BridgePortSettings: Hashable, Sendable, Codable {
    public var learning: Bool
    /// Isolated ports cannot talk to each other, only to non-isolated ports (the uplink).
    public var isolated: Bool

    public init(learning: Bool = true, isolated: Bool = false) {
        self.learning = learning
        self.isolated = isolated
    }
}

/// An address the node holds on a link (`10.0.0.1/24` on a vnet bridge).
public struct AddressSpec: Hashable, Sendable, Codable, Comparable {
    public var interface: String
    public var prefix: IPPrefix

    public init(interface: String, prefix: IPPrefix) {
        self.interface = interface
        self.prefix = prefix
    }

    public static func < (lhs: AddressSpec, rhs: AddressSpec) -> Bool {
        (lhs.interface, lhs.prefix.description) < (rhs.interface, rhs.prefix.description)
    }
}

/// A route in the main table. Routes `sdn` installs carry `RouteSpec.ownProtocol` as their protocol.
public struct RouteSpec: Hashable, Sendable, Codable {
    public static let ownProtocol: UInt8 = 211

    public var destination: IPPrefix
    public var gateway: IPAddress?
    public var interface: String?
    public var metric: Int?
    /// rtm_protocol: who installed the route (observed); ours when `ownProtocol`.
    public var `protocol`: UInt8

    public init(destination: IPPrefix, gateway: IPAddress? = nil, interface: String? = nil, metric: Int? = nil,
                protocol: UInt8 = RouteSpec.ownProtocol) {
        self.destination = destination
        self.gateway = gateway
        self.interface = interface
        self.metric = metric
        self.protocol = `protocol`
    }
}

/// A forwarding database entry.
public struct FDBEntrySpec: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable {
        /// On a VXLAN device (`bridge fdb append 00:00:00:00:00:00 dev vxlan_x dst PEER self permanent`):
        /// where to send frames for `mac`; the all-zeros MAC is the flood list (head-end replication).
        case vxlanRemote
        /// A static entry in the bridge's table (`bridge fdb add MAC dev PORT master static`): a guest
        /// MAC pinned to its port when learning is off.
        case bridgeStatic
    }

    public var interface: String
    public var mac: MACAddress
    public var kind: Kind
    /// The remote VTEP (vxlanRemote).
    public var destination: IPAddress?
    /// VLAN of a bridgeStatic entry on a VLAN-aware bridge.
    public var vlan: Int?

    public init(interface: String, mac: MACAddress, kind: Kind, destination: IPAddress? = nil, vlan: Int? = nil) {
        self.interface = interface
        self.mac = mac
        self.kind = kind
        self.destination = destination
        self.vlan = vlan
    }

    public static let floodMAC = MACAddress(octets: [0, 0, 0, 0, 0, 0])
}

/// VLANs of one port of a VLAN-aware bridge (or of the bridge itself, `self`), one entry per range with
/// the same flags: what `bridge vlan add dev PORT vid 10-20 [pvid] [untagged] [self]` sets.
public struct BridgeVLANEntry: Hashable, Sendable, Codable {
    public var interface: String
    public var vids: ClosedRange<Int>
    public var pvid: Bool
    public var untagged: Bool
    /// The bridge device's own VLANs (`self`) rather than a port's (`master`).
    public var onBridgeItself: Bool

    public init(interface: String, vids: ClosedRange<Int>, pvid: Bool = false, untagged: Bool = false, onBridgeItself: Bool = false) {
        self.interface = interface
        self.vids = vids
        self.pvid = pvid
        self.untagged = untagged
        self.onBridgeItself = onBridgeItself
    }
}

/// How one VLAN sits on a port: whether it is the port's pvid, and whether it leaves untagged.
public struct BridgeVLANFlags: Hashable, Sendable, Codable {
    public var pvid: Bool
    public var untagged: Bool

    public init(pvid: Bool = false, untagged: Bool = false) {
        self.pvid = pvid
        self.untagged = untagged
    }
}

extension BridgeVLANEntry {
    public var flags: BridgeVLANFlags { BridgeVLANFlags(pvid: pvid, untagged: untagged) }

    /// The flags of every vid `entries` hold (ranges expanded; a later entry wins).
    public static func flagsByVID(_ entries: some Sequence<BridgeVLANEntry>) -> [Int: BridgeVLANFlags] {
        var vids: [Int: BridgeVLANFlags] = [:]
        for entry in entries {
            for vid in entry.vids { vids[vid] = entry.flags }
        }
        return vids
    }

    /// `vids` as entries, the way the kernel reports them compressed: consecutive vids with the same
    /// flags form one range, and a pvid stands alone (the kernel takes no pvid range).
    public static func entries(interface: String, onBridgeItself: Bool, vids: [Int: BridgeVLANFlags]) -> [BridgeVLANEntry] {
        var entries: [BridgeVLANEntry] = []
        for vid in vids.keys.sorted() {
            let flags = vids[vid]!
            if let last = entries.last, last.vids.upperBound == vid - 1, last.flags == flags, !flags.pvid {
                entries[entries.count - 1].vids = last.vids.lowerBound...vid
            } else {
                entries.append(BridgeVLANEntry(interface: interface, vids: vid...vid, pvid: flags.pvid, untagged: flags.untagged, onBridgeItself: onBridgeItself))
            }
        }
        return entries
    }
}

/// An interface's forwarding switch (`net.ipv4.conf.<if>.forwarding`, `net.ipv6.conf.<if>.forwarding`).
public struct ForwardingSetting: Hashable, Sendable, Codable {
    public var interface: String
    public var family: IPAddress.Family
    public var enabled: Bool

    public init(interface: String, family: IPAddress.Family, enabled: Bool) {
        self.interface = interface
        self.family = family
        self.enabled = enabled
    }
}

/// A node-wide forwarding switch: `net.ipv4.conf.all.forwarding` (the same as `net.ipv4.ip_forward`) or
/// `net.ipv6.conf.all.forwarding`. Writing it sets every interface's switch (and `default`'s, which new
/// interfaces copy) to the same value. Linux routes IPv6 only while the IPv6 one is on; IPv4 needs only
/// the switch of the interface a packet comes in on.
public struct NodeForwardingSetting: Hashable, Sendable, Codable {
    public var family: IPAddress.Family
    public var enabled: Bool

    public init(family: IPAddress.Family, enabled: Bool) {
        self.family = family
        self.enabled = enabled
    }
}

/// Whether an interface takes IPv6 router advertisements (`net.ipv6.conf.<if>.accept_ra`): 0 never,
/// 1 only while the interface does not forward (the kernel's default), 2 also while it forwards.
public struct RouterAdvertisementSetting: Hashable, Sendable, Codable {
    /// accept_ra 1: an interface stops taking advertisements once it forwards.
    public static let unlessForwarding = 1
    /// accept_ra 2: an interface keeps taking advertisements (and the default route they give) while
    /// it forwards.
    public static let evenWhenForwarding = 2

    public var interface: String
    /// The sysctl's value as the kernel holds it.
    public var acceptRA: Int

    public init(interface: String, acceptRA: Int) {
        self.interface = interface
        self.acceptRA = acceptRA
    }
}
