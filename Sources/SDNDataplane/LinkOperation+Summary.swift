import SDNModel

extension LinkOperation {
    /// One line for plans and traces: `create bridge web (mtu 1450, alias sdn:vnet:web)`.
    public var summary: String {
        switch self {
        case .createLink(let spec):
            var attributes: [String] = []
            if let mtu = spec.mtu { attributes.append("mtu \(mtu)") }
            if let mac = spec.macAddress { attributes.append("mac \(mac)") }
            if let alias = spec.alias { attributes.append("alias \(alias)") }
            attributes.append(contentsOf: spec.kind.settingsSummary)
            return "create \(spec.kind.kernelKind) \(spec.name)" + (attributes.isEmpty ? "" : " (\(attributes.joined(separator: ", ")))")
        case .deleteLink(let name): return "delete link \(name)"
        case .setMTU(let name, let mtu): return "set \(name) mtu \(mtu)"
        case .setMACAddress(let name, let mac): return "set \(name) address \(mac)"
        case .setAlias(let name, let alias): return "set \(name) alias \(alias ?? "(none)")"
        case .changeKind(let name, let kind): return "set \(name) \(kind.kernelKind) \(kind.settingsSummary.joined(separator: ", "))"
        case .setMaster(let name, let master): return master.map { "set \(name) master \($0)" } ?? "set \(name) nomaster"
        case .setUp(let name, let up): return "set \(name) \(up ? "up" : "down")"
        case .setBridgePort(let name, let port):
            return "set \(name) bridge port learning \(port.learning ? "on" : "off") isolated \(port.isolated ? "on" : "off")"
        case .addAddress(let address): return "add address \(address.prefix) dev \(address.interface)"
        case .deleteAddress(let address): return "delete address \(address.prefix) dev \(address.interface)"
        case .addRoute(let route): return "add route \(route.summary)"
        case .deleteRoute(let route): return "delete route \(route.summary)"
        case .addFDB(let entry): return "add fdb \(entry.summary)"
        case .deleteFDB(let entry): return "delete fdb \(entry.summary)"
        case .addBridgeVLAN(let entry): return "add vlan \(entry.summary)"
        case .deleteBridgeVLAN(let entry): return "delete vlan \(entry.summary)"
        case .setForwarding(let setting):
            return "set \(setting.family == .ipv4 ? "ipv4" : "ipv6") forwarding \(setting.enabled ? "on" : "off") dev \(setting.interface)"
        case .setNodeForwarding(let setting):
            return "set \(setting.family == .ipv4 ? "ipv4" : "ipv6") forwarding \(setting.enabled ? "on" : "off") (all interfaces)"
        case .setRouterAdvertisements(let setting):
            return "set ipv6 accept_ra \(setting.acceptRA) dev \(setting.interface)"
        }
    }
}

extension LinkKind {
    public var settingsSummary: [String] {
        switch self {
        case .bridge(let bridge):
            var parts: [String] = []
            if bridge.stp { parts.append("stp on") }
            if bridge.vlanFiltering { parts.append("vlan_filtering on") }
            if bridge.vlanProtocol != .dot1Q { parts.append("vlan_protocol \(bridge.vlanProtocol.rawValue)") }
            if bridge.defaultPVID != 1 { parts.append("default_pvid \(bridge.defaultPVID)") }
            return parts
        case .bond(let bond):
            var parts = ["mode \(bond.mode.rawValue)", "miimon \(bond.miimon)"]
            if let rate = bond.lacpRate { parts.append("lacp_rate \(rate.rawValue)") }
            if let policy = bond.transmitHashPolicy { parts.append("xmit_hash_policy \(policy.rawValue)") }
            if let minLinks = bond.minLinks { parts.append("min_links \(minLinks)") }
            if let primary = bond.primary { parts.append("primary \(primary)") }
            return parts
        case .vlan(let vlan): return ["link \(vlan.parent)", "id \(vlan.id)", "protocol \(vlan.proto.rawValue)"]
        case .vxlan(let vxlan):
            var parts = ["id \(vxlan.vni)"]
            if let local = vxlan.local { parts.append("local \(local)") }
            parts.append("dstport \(vxlan.port)")
            parts.append(vxlan.learning ? "learning" : "nolearning")
            if let device = vxlan.device { parts.append("dev \(device)") }
            return parts
        case .veth(let veth): return ["peer \(veth.peer)"] + (veth.peerNamespace.map { ["peer netns \($0)"] } ?? [])
        case .tap: return []
        case .macvlan(let macvlan): return ["link \(macvlan.parent)", "mode \(macvlan.mode.rawValue)"]
        case .other: return []
        }
    }
}

extension RouteSpec {
    public var summary: String {
        var text = destination.description
        if let gateway { text += " via \(gateway)" }
        if let interface { text += " dev \(interface)" }
        if let metric { text += " metric \(metric)" }
        return text
    }
}

extension FDBEntrySpec {
    public var summary: String {
        var text = "\(mac) dev \(interface)"
        if let destination { text += " dst \(destination)" }
        if let vlan { text += " vlan \(vlan)" }
        return text + (kind == .vxlanRemote ? " self permanent" : " master static")
    }
}

extension BridgeVLANEntry {
    public var summary: String {
        let vids = self.vids.lowerBound == self.vids.upperBound ? "\(self.vids.lowerBound)" : "\(self.vids.lowerBound)-\(self.vids.upperBound)"
        var text = "vid \(vids) dev \(interface)"
        if pvid { text += " pvid" }
        if untagged { text += " untagged" }
        if onBridgeItself { text += " self" }
        return text
    }
}
