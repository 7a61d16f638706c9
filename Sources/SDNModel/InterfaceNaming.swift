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

    /// The guest, NIC and kind a port name says (`tap101i0` → kvm 101 net0), or nil for any other name.
    public static func guestPort(named name: String) -> (kind: Guest.Kind, guestID: Int, nicIndex: Int)? {
        let kind: Guest.Kind
        let rest: Substring
        if name.hasPrefix("tap") { (kind, rest) = (.kvm, name.dropFirst(3)) } else if name.hasPrefix("veth") { (kind, rest) = (.lxc, name.dropFirst(4)) } else { return nil }
        guard let separator = rest.firstIndex(of: "i") else { return nil }
        let id = rest[..<separator]
        let nic = rest[rest.index(after: separator)...]
        guard !id.isEmpty, !nic.isEmpty, id.allSatisfy({ $0.isASCII && $0.isNumber }), nic.allSatisfy({ $0.isASCII && $0.isNumber }),
              let guestID = Int(id), let nicIndex = Int(nic), Guest.validIDs.contains(guestID), GuestNIC.validIndices.contains(nicIndex),
              guestInterface(kind: kind, guestID: guestID, nicIndex: nicIndex) == name else { return nil }
        return (kind, guestID, nicIndex)
    }
}
