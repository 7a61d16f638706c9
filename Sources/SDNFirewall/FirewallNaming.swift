public import SDNModel

/// Names of our nftables objects. Stable across compiles (they are the diff keys) and short enough for
/// nft's 255-byte limits; chain names say whose policy they hold.
public enum FirewallNaming {
    public static let tableName = "sdn"

    // inet sdn: node traffic and NAT.
    public static let nodeInput = "input"
    public static let nodeOutput = "output"
    public static let nodeForward = "forward"
    public static let natPostrouting = "postrouting"
    public static let clusterIn = "cluster-in"
    public static let clusterOut = "cluster-out"
    public static let clusterForward = "cluster-fwd"
    public static func nodeChain(_ node: String, _ direction: Direction) -> String { "node-\(node)-\(suffix(direction))" }

    // bridge sdn: guest traffic, in two base chains on the forward hook so that `accept` in a guest's
    // outbound chain ends only that base chain and the destination guest's inbound chain still runs.
    public static let guestSpoofDispatch = "guests-spoof"
    public static let guestInLocalDispatch = "guests-in-local"
    public static let guestSpoofMap = "guest_spoof"
    public static func guestSpoofChain(guest: Int, nic: Int) -> String { "guest-\(guest)-net\(nic)-spoof" }
    public static let guestOutDispatch = "guests-out"
    public static let guestInDispatch = "guests-in"
    public static let vnetDispatch = "vnets-fwd"
    /// Routed traffic into a vnet (inet forward): the destination vnet's policy, after the source's.
    public static let vnetIntoDispatch = "vnets-fwd-into"
    /// `minimal` layout: broadcast and multicast frames to a guest port, judged per port on the bridge.
    public static let guestGroupDispatch = "guests-in-group"
    public static let guestGroupMap = "guest_in_group"
    public static func guestGroupChain(guest: Int, nic: Int) -> String { "guest-\(guest)-net\(nic)-in-group" }
    /// One copy for all the guest's NICs, when its rules name no NIC.
    public static func guestGroupChain(guest: Int) -> String { "guest-\(guest)-in-group" }
    /// `minimal` layout: the subnets of this node's vnets by bridge; routed or node traffic to an address
    /// in them that no guest declares cannot be matched to a NIC's policy.
    public static let vnetSubnetsV4 = "vnet_subnets_v4"
    public static let vnetSubnetsV6 = "vnet_subnets_v6"
    /// Vnet bridges of the node whose unknown ports are dropped (`unknown-ports: drop`).
    public static let strictVNetBridges = "vnets_strict"
    /// (vnet bridge . port) of every port allowed on a strict bridge: the declared guest NICs of the
    /// node and the node's own ports (VLAN sub-interface, VXLAN device).
    public static let knownVNetPorts = "vnet_ports"
    /// Bridge postrouting: what a strict bridge would send out of an unknown port (flooded, bridged or
    /// the node's own) is dropped there. The inbound side is the first rule of `guests-spoof`.
    public static let unknownPortsOut = "unknown-ports-out"
    public static let guestOutMap = "guest_out"
    public static let guestInMap = "guest_in"
    public static let guestInMapV4 = "guest_in_v4"
    public static let guestInMapV6 = "guest_in_v6"
    public static let vnetMap = "vnet_fwd"
    public static let guestIPv4Set = "guest_ipv4"
    public static let guestIPv6Set = "guest_ipv6"

    public static func guestChain(guest: Int, nic: Int, _ direction: Direction) -> String { "guest-\(guest)-net\(nic)-\(suffix(direction))" }
    public static func groupChain(_ group: String, _ direction: Direction) -> String { "group-\(group)-\(suffix(direction))" }
    public static func vnetChain(_ vnet: String) -> String { "vnet-\(vnet)-fwd" }
    public static func ipSet(_ name: String, _ family: IPAddress.Family) -> String { "ipset_\(name)_\(family == .ipv4 ? "v4" : "v6")" }
    public static let bridgedPairs = "bridged"
    public static let managementSetV4 = "mgmt_v4"
    public static let managementSetV6 = "mgmt_v6"
    // Shared constant sets (see `SharedSet`).
    public static let ndpSet = "ndp"
    public static let ndpHostSet = "ndp_host"
    public static let ndpRouterOnlySet = "ndp_router"
    public static let dhcpServerPortsSet = "dhcp_server"
    public static let smurfSourcesSet = "smurf_v4"
    public static let ipEtherTypesSet = "ip_ethertypes"

    static func suffix(_ direction: Direction) -> String {
        switch direction {
        case .in: "in"
        case .out: "out"
        case .forward: "fwd"
        }
    }
}
