/// The names of the kernel links `sdn` creates. Proxmox's scheme where it has one, so people moving from
/// Proxmox find familiar names: the vnet bridge is named after the vnet, guest taps `tap<vmid>i<n>`,
/// container veths `veth<vmid>i<n>`, VXLAN devices `vxlan_<vnet>`.
public enum InterfaceNaming {
    public static func vnetBridge(_ vnet: String) -> String { vnet }
    public static func vxlanDevice(_ vnet: String) -> String { "vxlan_\(vnet)" }
    /// The VLAN sub-interface a vlan zone plugs into the vnet bridge: `<bridge>.<tag>`.
    public static func vlanPort(uplink: String, tag: Int) -> String { "\(uplink).\(tag)" }
    /// The service-VLAN interface of a qinq zone: `<bridge>.<service tag>`.
    public static func qinqServiceInterface(bridge: String, serviceTag: Int) -> String { "\(bridge).\(serviceTag)" }
    /// The customer VLAN inside a qinq zone's service VLAN: `<zone>.<tag>` (the zone's name rather than
    /// the service interface's, which with two tags would pass the kernel's 15-byte limit).
    public static func qinqCustomerInterface(zone: String, tag: Int) -> String { "\(zone).\(tag)" }
    public static func guestInterface(kind: Guest.Kind, guestID: Int, nicIndex: Int) -> String {
        switch kind {
        case .kvm: "tap\(guestID)i\(nicIndex)"
        case .lxc: "veth\(guestID)i\(nicIndex)"
        }
    }
}
