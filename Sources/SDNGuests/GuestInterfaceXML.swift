public import SDNModel

/// The `<interface type='ethernet'>` elements of a KVM guest's NICs (`sdn guest xml <vmid>`): each
/// on the tap `sdnd` prepares before QEMU starts, `tap<vmid>i<n>`, which libvirt then uses as it is
/// (`managed='no'`, libvirt ≥ 5.7) instead of making its own.
public enum GuestInterfaceXML {
    /// The elements for every NIC of guest `id`, in NIC order, indented for a domain's `<devices>`.
    /// - Throws: ``GuestXMLError`` when the configuration has no such guest, it is a container, or
    ///   it declares no NICs.
    public static func render(guestID id: Int, in state: DesiredState) throws(GuestXMLError) -> String {
        let guest = try kvmGuest(id, in: state)
        guard !guest.nics.isEmpty else {
            throw GuestXMLError(message: "guest \(id) (\(guest.name)) declares no NICs", hint: "add nics: { net0: { vnet: …, mac: … } } to it in Topologies/")
        }
        return guest.nics.flatMap { element(for: $0, of: guest, in: state).lines(indent: "    ") }.joined(separator: "\n") + "\n"
    }

    /// The guest `id` of the configuration, which must be a KVM guest.
    public static func kvmGuest(_ id: Int, in state: DesiredState) throws(GuestXMLError) -> Guest {
        guard let guest = state.guests.first(where: { $0.id == id }) else {
            let known = state.guests.filter { $0.kind == .kvm }.map { String($0.id) }
            throw GuestXMLError(message: "no guest \(id) in the configuration",
                                hint: known.isEmpty ? "the configuration declares no KVM guests" : "KVM guests: \(known.joined(separator: ", "))")
        }
        guard guest.kind == .kvm else {
            throw GuestXMLError(message: "guest \(id) (\(guest.name)) is an LXC container, not a libvirt domain",
                                hint: "containers are plugged through their lxc.net hooks, not domain XML")
        }
        return guest
    }

    /// The tap of `nic`: the name `sdnd` creates it under.
    public static func tapName(of nic: GuestNIC, guestID: Int) -> String {
        InterfaceNaming.guestInterface(kind: .kvm, guestID: guestID, nicIndex: nic.index)
    }

    /// The MTU the NIC's vnet sets, if any (a vnet's own, else its zone's).
    static func mtu(of nic: GuestNIC, in state: DesiredState) -> Int? {
        guard case .vnet(let name) = nic.attachment, let vnet = state.vnets.first(where: { $0.name == name }) else { return nil }
        if let mtu = vnet.mtu { return Int(mtu.value) }
        return state.zones.first { $0.name == vnet.zone }?.mtu.map { Int($0.value) }
    }

    static func element(for nic: GuestNIC, of guest: Guest, in state: DesiredState) -> LibvirtXMLElement {
        var children: [LibvirtXMLElement] = []
        if let mac = nic.mac { children.append(LibvirtXMLElement(name: "mac", attributes: [("address", mac.description)])) }
        children.append(target(for: nic, guestID: guest.id))
        children.append(LibvirtXMLElement(name: "model", attributes: [("type", "virtio")]))
        if let mtu = mtu(of: nic, in: state) { children.append(LibvirtXMLElement(name: "mtu", attributes: [("size", String(mtu))])) }
        return LibvirtXMLElement(name: "interface", attributes: [("type", "ethernet")], children: children)
    }

    static func target(for nic: GuestNIC, guestID: Int) -> LibvirtXMLElement {
        LibvirtXMLElement(name: "target", attributes: [("dev", tapName(of: nic, guestID: guestID)), ("managed", "no")])
    }
}

/// A guest `sdn guest xml` or `sdn guest adopt` cannot work on.
public struct GuestXMLError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var hint: String?

    public init(message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String { message + (hint.map { "\n  hint: \($0)" } ?? "") }
}
