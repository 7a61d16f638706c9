/// A hypervisor node of the cluster.
public struct Node: Hashable, Sendable, Codable {
    public var name: String
    /// The underlay address VXLAN and EVPN tunnels of other nodes reach this node at.
    public var address: IPAddress?
    /// Networks the operator manages the node from; the firewall failsafe keeps SSH and the API open to them.
    public var management: [IPPrefix]
    /// The TCP port `sdnd` serves its API on (kept open by the failsafe).
    public var apiPort: UInt16
    public var uplinks: [Uplink]

    public static let defaultAPIPort: UInt16 = 8006

    public init(name: String, address: IPAddress? = nil, management: [IPPrefix] = [], apiPort: UInt16 = Node.defaultAPIPort, uplinks: [Uplink] = []) {
        self.name = name
        self.address = address
        self.management = management
        self.apiPort = apiPort
        self.uplinks = uplinks
    }

    public func uplink(named name: String) -> Uplink? { uplinks.first { $0.name.rawValue == name } }
}

/// A host-side link that carries guest traffic out of the node: a NIC, a bond, a VLAN sub-interface or a
/// bridge. Zones are built on top of uplinks.
public struct Uplink: Hashable, Sendable, Codable {
    public var name: InterfaceName
    public var kind: Kind
    public var mtu: MTU?
    /// Addresses the node itself holds on this link (e.g. the underlay address on a bridge).
    public var addresses: [IPPrefix]
    public var comment: String?

    public enum Kind: Hashable, Sendable, Codable {
        /// A physical NIC, optionally pinned by its permanent MAC address.
        case physical(mac: MACAddress?)
        case bond(Bond)
        case vlan(VLANInterface)
        case bridge(Bridge)
    }

    public init(name: InterfaceName, kind: Kind, mtu: MTU? = nil, addresses: [IPPrefix] = [], comment: String? = nil) {
        self.name = name
        self.kind = kind
        self.mtu = mtu
        self.addresses = addresses
        self.comment = comment
    }

    public var kindName: String {
        switch kind {
        case .physical: "physical"
        case .bond: "bond"
        case .vlan: "vlan"
        case .bridge: "bridge"
        }
    }

    /// Names of the links this one is built on (bond members, VLAN parent, bridge ports).
    public var lowerLinks: [InterfaceName] {
        switch kind {
        case .physical: []
        case .bond(let bond): bond.members
        case .vlan(let vlan): [vlan.parent]
        case .bridge(let bridge): bridge.ports
        }
    }
}

/// Linux bonding driver settings (`Documentation/networking/bonding.rst`).
public struct Bond: Hashable, Sendable, Codable {
    public enum Mode: String, Hashable, Sendable, Codable, CaseIterable {
        case balanceRR = "balance-rr"
        case activeBackup = "active-backup"
        case balanceXOR = "balance-xor"
        case broadcast
        case lacp = "802.3ad"
        case balanceTLB = "balance-tlb"
        case balanceALB = "balance-alb"

        /// Modes in which `xmit-hash-policy` means something.
        public var usesTransmitHash: Bool { self == .balanceXOR || self == .lacp || self == .balanceTLB }
    }

    public enum LACPRate: String, Hashable, Sendable, Codable, CaseIterable { case slow, fast }

    public enum TransmitHashPolicy: String, Hashable, Sendable, Codable, CaseIterable {
        case layer2
        case layer2and3 = "layer2+3"
        case layer3and4 = "layer3+4"
        case encap2and3 = "encap2+3"
        case encap3and4 = "encap3+4"
        case vlanAndSourceMAC = "vlan+srcmac"
    }

    public var mode: Mode
    public var members: [InterfaceName]
    /// Link monitoring interval in milliseconds.
    public var miimon: Int
    public var lacpRate: LACPRate?
    public var transmitHashPolicy: TransmitHashPolicy?
    public var minLinks: Int?
    /// The preferred member in active-backup mode.
    public var primary: InterfaceName?

    public static let defaultMIIMonitorInterval = 100

    public init(mode: Mode, members: [InterfaceName], miimon: Int = Bond.defaultMIIMonitorInterval, lacpRate: LACPRate? = nil,
                transmitHashPolicy: TransmitHashPolicy? = nil, minLinks: Int? = nil, primary: InterfaceName? = nil) {
        self.mode = mode
        self.members = members
        self.miimon = miimon
        self.lacpRate = lacpRate
        self.transmitHashPolicy = transmitHashPolicy
        self.minLinks = minLinks
        self.primary = primary
    }
}

/// The tag protocol of a VLAN: customer tags (802.1Q, 0x8100) or service tags (802.1ad, 0x88a8).
public enum VLANProtocol: String, Hashable, Sendable, Codable, CaseIterable {
    case dot1Q = "802.1Q"
    case dot1ad = "802.1ad"

    public init?(text: String) {
        switch text.lowercased() {
        case "802.1q", "8021q", "dot1q": self = .dot1Q
        case "802.1ad", "8021ad", "dot1ad", "qinq": self = .dot1ad
        default: return nil
        }
    }
}

/// A VLAN sub-interface such as `bond0.100`.
public struct VLANInterface: Hashable, Sendable, Codable {
    public var parent: InterfaceName
    public var id: VLANID
    public var proto: VLANProtocol

    public init(parent: InterfaceName, id: VLANID, proto: VLANProtocol = .dot1Q) {
        self.parent = parent
        self.id = id
        self.proto = proto
    }
}

/// A Linux bridge uplink such as `vmbr0`.
public struct Bridge: Hashable, Sendable, Codable {
    public var ports: [InterfaceName]
    /// VLAN filtering on: ports carry the VLANs in `vids`, untagged traffic gets `pvid`.
    public var vlanAware: Bool
    public var vids: VLANSet?
    public var pvid: VLANID?
    public var stp: Bool

    public static let defaultVIDs = VLANSet(ranges: [2...4094])

    public init(ports: [InterfaceName] = [], vlanAware: Bool = false, vids: VLANSet? = nil, pvid: VLANID? = nil, stp: Bool = false) {
        self.ports = ports
        self.vlanAware = vlanAware
        self.vids = vids
        self.pvid = pvid
        self.stp = stp
    }
}

/// A zone: how a set of vnets reaches the other nodes (Proxmox SDN's zones).
public struct Zone: Hashable, Sendable, Codable {
    public var name: String
    public var kind: Kind
    /// The nodes the zone exists on; nil means every node.
    public var nodes: [String]?
    public var mtu: MTU?

    public enum Kind: Hashable, Sendable, Codable {
        /// Node-local bridges, routed and optionally SNATed by the node.
        case simple
        /// Each vnet is a VLAN on an uplink bridge.
        case vlan(bridge: InterfaceName)
        /// A service VLAN on the bridge, then each vnet a customer VLAN inside it.
        case qinq(bridge: InterfaceName, serviceTag: VLANID, serviceProtocol: VLANProtocol)
        /// Each vnet is a VXLAN segment with head-end replication to the peers.
        case vxlan(VXLANZone)
        /// VXLAN with a BGP EVPN control plane.
        case evpn(EVPNZone)
    }

    public init(name: String, kind: Kind, nodes: [String]? = nil, mtu: MTU? = nil) {
        self.name = name
        self.kind = kind
        self.nodes = nodes
        self.mtu = mtu
    }

    public var kindName: String {
        switch kind {
        case .simple: "simple"
        case .vlan: "vlan"
        case .qinq: "qinq"
        case .vxlan: "vxlan"
        case .evpn: "evpn"
        }
    }

    /// Whether a vnet tag in this zone is a VXLAN VNI (otherwise a VLAN id, or unused for simple zones).
    public var tagIsVNI: Bool {
        switch kind {
        case .vxlan, .evpn: true
        default: false
        }
    }

    public func includes(node: String) -> Bool { nodes?.contains(node) ?? true }
}

public struct VXLANZone: Hashable, Sendable, Codable {
    public enum Peers: Hashable, Sendable, Codable {
        /// Every node of the zone, at its underlay address.
        case allNodes
        case addresses([IPAddress])
    }

    public static let defaultPort: UInt16 = 4789
    /// VXLAN over IPv4 adds 50 bytes of headers.
    public static let encapsulationOverhead = 50

    public var peers: Peers
    public var port: UInt16

    public init(peers: Peers = .allNodes, port: UInt16 = VXLANZone.defaultPort) {
        self.peers = peers
        self.port = port
    }
}

public struct EVPNZone: Hashable, Sendable, Codable {
    /// Name of the BGP EVPN controller (peering configuration is out of this model's scope).
    public var controller: String
    public var vrfVNI: VNI
    /// Nodes that route between the EVPN fabric and the outside.
    public var exitNodes: [String]
    public var port: UInt16

    public init(controller: String, vrfVNI: VNI, exitNodes: [String] = [], port: UInt16 = VXLANZone.defaultPort) {
        self.controller = controller
        self.vrfVNI = vrfVNI
        self.exitNodes = exitNodes
        self.port = port
    }
}

/// A virtual network: one L2 segment in a zone, with its subnets.
public struct VNet: Hashable, Sendable, Codable {
    public var name: String
    public var zone: String
    /// VLAN id (vlan and qinq zones) or VNI (vxlan and evpn zones); none for simple zones.
    public var tag: Int?
    /// Guests' NICs may carry their own VLAN tags and trunks inside this vnet.
    public var vlanAware: Bool
    /// Guests on this vnet cannot talk to each other directly, only to the uplink/gateway.
    public var isolatePorts: Bool
    /// Free-text description shown in listings.
    public var alias: String?
    public var mtu: MTU?
    /// Learn guest MACs on bridge ports (off: static FDB entries from declared MACs).
    public var macLearning: Bool
    /// What the vnet's bridge does with a port that is neither a declared guest NIC of the node nor one
    /// of the node's own ports (its VLAN sub-interface or VXLAN device): drop its frames both ways
    /// (the default) or pass them.
    public var unknownPorts: UnknownPortPolicy
    public var subnets: [Subnet]

    public init(name: String, zone: String, tag: Int? = nil, vlanAware: Bool = false, isolatePorts: Bool = false,
                alias: String? = nil, mtu: MTU? = nil, macLearning: Bool = true, unknownPorts: UnknownPortPolicy = .drop, subnets: [Subnet] = []) {
        self.name = name
        self.zone = zone
        self.tag = tag
        self.vlanAware = vlanAware
        self.isolatePorts = isolatePorts
        self.alias = alias
        self.mtu = mtu
        self.macLearning = macLearning
        self.unknownPorts = unknownPorts
        self.subnets = subnets
    }

    private enum CodingKeys: String, CodingKey { case name, zone, tag, vlanAware, isolatePorts, alias, mtu, macLearning, unknownPorts, subnets }

    /// Revisions stored before `unknownPorts` existed decode with its default.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        zone = try container.decode(String.self, forKey: .zone)
        tag = try container.decodeIfPresent(Int.self, forKey: .tag)
        vlanAware = try container.decode(Bool.self, forKey: .vlanAware)
        isolatePorts = try container.decode(Bool.self, forKey: .isolatePorts)
        alias = try container.decodeIfPresent(String.self, forKey: .alias)
        mtu = try container.decodeIfPresent(MTU.self, forKey: .mtu)
        macLearning = try container.decode(Bool.self, forKey: .macLearning)
        unknownPorts = try container.decodeIfPresent(UnknownPortPolicy.self, forKey: .unknownPorts) ?? .drop
        subnets = try container.decode([Subnet].self, forKey: .subnets)
    }
}

/// What a vnet's bridge does with frames of a port that belongs to no declared guest NIC of the node
/// and is none of the node's own ports.
public enum UnknownPortPolicy: String, Hashable, Sendable, Codable, CaseIterable {
    /// Nothing passes in either direction, counted (a tap nobody declared carries no traffic).
    case drop
    /// Such ports pass traffic like any bridge port (Proxmox's behaviour for taps it does not know).
    case accept
}

public struct Subnet: Hashable, Sendable, Codable {
    public var cidr: IPPrefix
    public var gateway: IPAddress?
    /// Masquerade traffic from this subnet leaving the node.
    public var snat: Bool
    public var dhcpRanges: [IPRange]
    public var dnsServer: IPAddress?

    public init(cidr: IPPrefix, gateway: IPAddress? = nil, snat: Bool = false, dhcpRanges: [IPRange] = [], dnsServer: IPAddress? = nil) {
        self.cidr = cidr
        self.gateway = gateway
        self.snat = snat
        self.dhcpRanges = dhcpRanges
        self.dnsServer = dnsServer
    }
}

/// A KVM virtual machine or LXC container and its network interfaces.
public struct Guest: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable, CaseIterable { case kvm, lxc }

    /// Proxmox-style numeric id (100–999999999); it appears in interface names.
    public var id: Int
    public var name: String
    public var kind: Kind
    public var node: String
    public var nics: [GuestNIC]

    public static let validIDs = 100...999_999_999

    public init(id: Int, name: String, kind: Kind, node: String, nics: [GuestNIC] = []) {
        self.id = id
        self.name = name
        self.kind = kind
        self.node = node
        self.nics = nics
    }
}

public struct GuestNIC: Hashable, Sendable, Codable {
    public enum Attachment: Hashable, Sendable, Codable {
        case vnet(String)
        /// Plugged straight into a host bridge, outside any vnet (as in Proxmox without SDN).
        case bridge(InterfaceName)
    }

    public static let validIndices = 0...31

    /// `netN`: N in 0...31.
    public var index: Int
    public var attachment: Attachment
    public var mac: MACAddress?
    /// Access VLAN inside a VLAN-aware vnet or bridge.
    public var tag: VLANID?
    /// VLANs passed tagged to the guest.
    public var trunks: VLANSet?
    public var firewall: Bool
    /// Addresses the guest is allowed to use (anti-spoofing with ipfilter) and its IPAM entries.
    public var ips: [IPPrefix]
    /// Rate limit in megabytes per second, as Proxmox's `rate`.
    public var rateLimit: Double?

    public init(index: Int, attachment: Attachment, mac: MACAddress? = nil, tag: VLANID? = nil, trunks: VLANSet? = nil,
                firewall: Bool = true, ips: [IPPrefix] = [], rateLimit: Double? = nil) {
        self.index = index
        self.attachment = attachment
        self.mac = mac
        self.tag = tag
        self.trunks = trunks
        self.firewall = firewall
        self.ips = ips
        self.rateLimit = rateLimit
    }

    public var key: String { "net\(index)" }
}
