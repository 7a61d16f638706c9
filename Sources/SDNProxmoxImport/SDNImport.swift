import SDNModel

/// Proxmox's section-config format (pve-common `PVE::SectionConfig`), used by `sdn/*.cfg`:
///
///     TYPE: ID
///     <tab>KEY VALUE
///     <tab>KEY VALUE
///
/// A section runs until a blank line or the next header; `#` starts a comment line.
struct SectionConfig {
    struct Property {
        var line: SourceLine
        var key: Substring
        var value: Substring
    }

    struct Section {
        var header: SourceLine
        var type: Substring
        var id: Substring
        var properties: [Property] = []

        func property(_ key: String) -> Property? { properties.first { $0.key == key } }
    }

    var sections: [Section] = []

    static func parse(_ text: String, path: String, accounting: inout Accounting) -> SectionConfig {
        var config = SectionConfig()
        var open = false
        for line in SourceLine.lines(of: text, file: path) {
            if line.text.isEmpty {
                open = false
                accounting.structure(line)
                continue
            }
            if line.text.hasPrefix("#") {
                accounting.structure(line)
                continue
            }
            if line.column == 1 {
                guard let colon = line.text.firstIndex(of: ":") else {
                    accounting.error(.pveSyntax, "a section starts with 'type: id'", at: line.location, hint: "properties of a section are indented")
                    open = false
                    continue
                }
                let type = line.text[..<colon]
                let id = line.text[line.text.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
                guard !id.isEmpty, !id.contains(where: { $0 == " " || $0 == "\t" }) else {
                    accounting.error(.pveSyntax, "a section header is 'type: id' with one id", at: line.location(of: id.isEmpty ? type : id))
                    open = false
                    continue
                }
                config.sections.append(Section(header: line, type: type, id: id))
                open = true
                continue
            }
            guard open else {
                accounting.error(.pveSyntax, "an indented property outside any section", at: line.location, hint: "put it right below a 'type: id' line, without a blank line between")
                continue
            }
            let key = line.text.prefix { $0 != " " && $0 != "\t" }
            let value = line.text.dropFirst(key.count).drop { $0 == " " || $0 == "\t" }
            config.sections[config.sections.count - 1].properties.append(Property(line: line, key: key, value: value))
        }
        return config
    }
}

/// A zone, vnet or subnet produced by the import, with where it was defined.
struct ImportedSDN {
    var zones: [Located<Zone>] = []
    var vnets: [Located<VNet>] = []
    /// Where each subnet was defined, by vnet name then CIDR.
    var subnetLocations: [String: [IPPrefix: SourceLocation]] = [:]
    /// VXLAN peers and EVPN controller peers: the underlay addresses nodes may hold.
    var underlayAddresses: Set<IPAddress> = []
    var vnetNames: Set<String> { Set(vnets.map(\.value.name)) }
}

/// Maps `sdn/zones.cfg`, `vnets.cfg`, `subnets.cfg` into zones and vnets; accounts for
/// `controllers.cfg`, `ipams.cfg` and `dns.cfg`, which we have no equivalent for.
enum SDNImport {
    static func run(tree: ProxmoxTree, nodeNames: [String], accounting: inout Accounting) -> ImportedSDN {
        var result = ImportedSDN()
        var controllers: [String: SectionConfig.Section] = [:]
        if let text = tree.files["sdn/controllers.cfg"] {
            for section in SectionConfig.parse(text, path: "sdn/controllers.cfg", accounting: &accounting).sections {
                controllers[String(section.id)] = section
                importController(section, accounting: &accounting)
            }
        }
        if let text = tree.files["sdn/ipams.cfg"] {
            for section in SectionConfig.parse(text, path: "sdn/ipams.cfg", accounting: &accounting).sections {
                let all = [section.header] + section.properties.map(\.line)
                if section.type == "pve" {
                    for line in all {
                        accounting.changed(line, meaning: "Proxmox's built-in IPAM (/etc/pve/priv/ipam.db)",
                                           action: "the addresses live in the guests' NIC ip lists", reason: "sdn's IPAM is the declared configuration itself")
                    }
                } else {
                    for line in all {
                        accounting.dropped(line, meaning: "external IPAM '\(section.id)' (\(section.type))", reason: "sdn does not talk to external IPAM systems; declare addresses in the NICs' ip lists")
                    }
                }
            }
        }
        if let text = tree.files["sdn/dns.cfg"] {
            for section in SectionConfig.parse(text, path: "sdn/dns.cfg", accounting: &accounting).sections {
                for line in [section.header] + section.properties.map(\.line) {
                    accounting.dropped(line, meaning: "DNS integration '\(section.id)' (\(section.type)): guest records registered in an external DNS", reason: "sdn does not register DNS records")
                }
            }
        }
        let known = Set(nodeNames)
        if let text = tree.files["sdn/zones.cfg"] {
            for section in SectionConfig.parse(text, path: "sdn/zones.cfg", accounting: &accounting).sections {
                if let zone = importZone(section, knownNodes: known, controllers: controllers, underlay: &result.underlayAddresses, accounting: &accounting) {
                    result.zones.append(Located(value: zone, location: section.header.location))
                }
            }
        }
        let zoneNames = Set(result.zones.map(\.value.name))
        if let text = tree.files["sdn/vnets.cfg"] {
            for section in SectionConfig.parse(text, path: "sdn/vnets.cfg", accounting: &accounting).sections {
                if let vnet = importVNet(section, zones: zoneNames, accounting: &accounting) {
                    result.vnets.append(Located(value: vnet, location: section.header.location))
                }
            }
        }
        if let text = tree.files["sdn/subnets.cfg"] {
            for section in SectionConfig.parse(text, path: "sdn/subnets.cfg", accounting: &accounting).sections {
                importSubnet(section, into: &result, accounting: &accounting)
            }
        }
        return result
    }

    private static func importController(_ section: SectionConfig.Section, accounting: inout Accounting) {
        switch section.type {
        case "evpn":
            accounting.changed(section.header, meaning: "EVPN controller '\(section.id)': the BGP sessions that carry the EVPN routes",
                               action: "its name is the controller of the EVPN zones that use it; the BGP settings are not imported",
                               reason: "sdn's model names the controller but leaves BGP peering to FRR's own configuration")
            for property in section.properties {
                if property.key == "peers" {
                    accounting.changed(property.line, meaning: "the EVPN BGP peers", action: "used to find each node's underlay address",
                                       reason: "a node whose interfaces hold one of these addresses gets it as its address")
                } else {
                    accounting.dropped(property.line, meaning: "EVPN controller setting '\(property.key)'", reason: "BGP peering is FRR's configuration, not sdn's")
                }
            }
        default:
            for line in [section.header] + section.properties.map(\.line) {
                accounting.dropped(line, meaning: "\(section.type) controller '\(section.id)' (routing fabric/BGP/IS-IS)", reason: "sdn has no routing controllers or fabrics")
            }
        }
    }

    private static func importZone(_ section: SectionConfig.Section, knownNodes: Set<String>, controllers: [String: SectionConfig.Section],
                                   underlay: inout Set<IPAddress>, accounting: inout Accounting) -> Zone? {
        let name = String(section.id)
        let type = section.type
        var nodes: [String]?
        var mtu: MTU?
        var handled: Set<Substring> = []
        func required(_ key: String) -> SectionConfig.Property? {
            handled.insert(Substring(key))
            guard let property = section.property(key) else {
                accounting.error(.pveMissingKey, "\(type) zone '\(name)' needs '\(key)'", at: section.header.location)
                return nil
            }
            return property
        }
        for property in section.properties {
            switch property.key {
            case "nodes":
                handled.insert("nodes")
                let listed = property.value.split(separator: ",").map { String($0).trimmed }
                let kept = listed.filter { knownNodes.contains($0) }
                nodes = kept
                if kept.count == listed.count {
                    accounting.mapped(property.line)
                } else {
                    accounting.changed(property.line, meaning: "the zone exists on \(listed.joined(separator: ", "))",
                                       action: "nodes: [\(kept.joined(separator: ", "))]", reason: "nodes without a directory under nodes/ are not part of this import")
                }
            case "mtu":
                handled.insert("mtu")
                if let value = Int(property.value), let parsed = try? MTU(value) { mtu = parsed; accounting.mapped(property.line) } else {
                    accounting.error(.pveInvalidValue, "'\(property.value)' is not an MTU", at: property.line.location(of: property.value))
                }
            case "ipam":
                handled.insert("ipam")
                if property.value == "pve" {
                    accounting.changed(property.line, meaning: "guest addresses of this zone are recorded in Proxmox's IPAM", action: "the addresses live in the guests' NIC ip lists",
                                       reason: "sdn's IPAM is the declared configuration itself")
                } else {
                    accounting.dropped(property.line, meaning: "guest addresses of this zone are recorded in IPAM '\(property.value)'", reason: "sdn does not talk to external IPAM systems")
                }
            case "dns", "reversedns", "dnszone":
                handled.insert(property.key)
                accounting.dropped(property.line, meaning: "register the zone's guests in DNS (\(property.key))", reason: "sdn does not register DNS records")
            case "dhcp":
                handled.insert("dhcp")
                accounting.dropped(property.line, meaning: "run a DHCP server (\(property.value)) for the zone's subnets", reason: "sdn declares the subnets' DHCP pools but runs no DHCP server")
            default:
                break
            }
        }
        let kind: Zone.Kind
        switch type {
        case "simple":
            kind = .simple
        case "vlan":
            guard let bridge = required("bridge") else { return nil }
            guard let name = try? InterfaceName(String(bridge.value)) else {
                accounting.error(.pveInvalidValue, "'\(bridge.value)' is not an interface name", at: bridge.line.location(of: bridge.value))
                return nil
            }
            accounting.mapped(bridge.line)
            kind = .vlan(bridge: name)
        case "qinq":
            guard let bridge = required("bridge"), let tag = required("tag") else { return nil }
            guard let bridgeName = try? InterfaceName(String(bridge.value)), let serviceTag = try? VLANID(String(tag.value)) else {
                accounting.error(.pveInvalidValue, "qinq zone '\(name)' needs an interface name as bridge and a VLAN id as tag", at: bridge.line.location)
                return nil
            }
            var proto = VLANProtocol.dot1Q
            handled.insert("vlan-protocol")
            if let property = section.property("vlan-protocol") {
                guard let parsed = VLANProtocol(text: String(property.value)) else {
                    accounting.error(.pveInvalidValue, "'\(property.value)' is not 802.1q or 802.1ad", at: property.line.location(of: property.value))
                    return nil
                }
                proto = parsed
                accounting.mapped(property.line)
            }
            accounting.mapped(bridge.line)
            accounting.mapped(tag.line)
            kind = .qinq(bridge: bridgeName, serviceTag: serviceTag, serviceProtocol: proto)
        case "vxlan":
            guard let peers = required("peers") else { return nil }
            var addresses: [IPAddress] = []
            for part in peers.value.split(whereSeparator: { $0 == "," || $0 == " " }) {
                guard let address = try? IPAddress(String(part)) else {
                    accounting.error(.pveInvalidAddress, "'\(part)' is not an IP address", at: peers.line.location(of: part))
                    return nil
                }
                addresses.append(address)
            }
            underlay.formUnion(addresses)
            accounting.mapped(peers.line)
            var vxlan = VXLANZone(peers: .addresses(addresses))
            handled.insert("vxlan-port")
            if let port = section.property("vxlan-port") {
                guard let value = UInt16(port.value), value > 0 else {
                    accounting.error(.pveInvalidValue, "'\(port.value)' is not a UDP port", at: port.line.location(of: port.value))
                    return nil
                }
                vxlan.port = value
                accounting.mapped(port.line)
            }
            kind = .vxlan(vxlan)
        case "evpn":
            guard let controller = required("controller"), let vrf = required("vrf-vxlan") else { return nil }
            guard let vni = try? VNI(String(vrf.value)) else {
                accounting.error(.pveInvalidValue, "'\(vrf.value)' is not a VNI", at: vrf.line.location(of: vrf.value))
                return nil
            }
            if let controllerSection = controllers[String(controller.value)], let peers = controllerSection.property("peers") {
                for part in peers.value.split(whereSeparator: { $0 == "," || $0 == " " }) {
                    if let address = try? IPAddress(String(part)) { underlay.insert(address) }
                }
            }
            var evpn = EVPNZone(controller: String(controller.value), vrfVNI: vni)
            handled.insert("exitnodes")
            if let exits = section.property("exitnodes") {
                evpn.exitNodes = exits.value.split(separator: ",").map { String($0).trimmed }.filter { knownNodes.contains($0) }
                accounting.mapped(exits.line)
            }
            handled.insert("vxlan-port")
            if let port = section.property("vxlan-port"), let value = UInt16(port.value) {
                evpn.port = value
                accounting.mapped(port.line)
            }
            accounting.mapped(controller.line)
            accounting.mapped(vrf.line)
            kind = .evpn(evpn)
        default:
            accounting.dropped(section.header, meaning: "\(type) zone '\(name)'", reason: "sdn has simple, vlan, qinq, vxlan and evpn zones")
            for property in section.properties { accounting.dropped(property.line, meaning: "a setting of \(type) zone '\(name)'", reason: "the zone is not imported") }
            return nil
        }
        for property in section.properties where !handled.contains(property.key) {
            accounting.dropped(property.line, meaning: "\(type) zone setting '\(property.key)'", reason: "sdn's \(type) zones have no such setting")
        }
        accounting.mapped(section.header)
        return Zone(name: name, kind: kind, nodes: nodes, mtu: mtu)
    }

    private static func importVNet(_ section: SectionConfig.Section, zones: Set<String>, accounting: inout Accounting) -> VNet? {
        let name = String(section.id)
        guard section.type == "vnet" else {
            accounting.error(.pveSyntax, "'\(section.type)' is not a section type of vnets.cfg", at: section.header.location(of: section.type), hint: "write vnet: NAME")
            for property in section.properties { accounting.ledger.mark(property.line, .error) }
            return nil
        }
        guard let zoneProperty = section.property("zone") else {
            accounting.error(.pveMissingKey, "vnet '\(name)' needs 'zone'", at: section.header.location)
            return nil
        }
        guard zones.contains(String(zoneProperty.value)) else {
            accounting.dropped(section.header, meaning: "vnet '\(name)' of zone '\(zoneProperty.value)'", reason: "zone '\(zoneProperty.value)' is not imported (see sdn/zones.cfg)")
            for property in section.properties { accounting.dropped(property.line, meaning: "a setting of vnet '\(name)'", reason: "the vnet is not imported") }
            return nil
        }
        var vnet = VNet(name: name, zone: String(zoneProperty.value))
        for property in section.properties {
            switch property.key {
            case "zone":
                accounting.mapped(property.line)
            case "tag":
                guard let tag = Int(property.value) else {
                    accounting.error(.pveInvalidValue, "'\(property.value)' is not a tag", at: property.line.location(of: property.value))
                    return nil
                }
                vnet.tag = tag
                accounting.mapped(property.line)
            case "alias":
                vnet.alias = String(property.value)
                accounting.mapped(property.line)
            case "vlanaware", "isolate-ports":
                guard let value = ProxmoxValues.bool(property.value) else {
                    accounting.error(.pveInvalidValue, "'\(property.value)' is not 0 or 1", at: property.line.location(of: property.value))
                    continue
                }
                if property.key == "vlanaware" { vnet.vlanAware = value } else { vnet.isolatePorts = value }
                accounting.mapped(property.line)
            default:
                accounting.dropped(property.line, meaning: "vnet setting '\(property.key)'", reason: "sdn's vnets have no such setting")
            }
        }
        accounting.mapped(section.header)
        return vnet
    }

    /// `subnet: <zone>-<address>-<length>` with `vnet`, `gateway`, `snat`, `dhcp-range`, `dhcp-dns-server`.
    private static func importSubnet(_ section: SectionConfig.Section, into result: inout ImportedSDN, accounting: inout Accounting) {
        let id = section.id
        guard section.type == "subnet", let firstDash = id.firstIndex(of: "-"), let lastDash = id.lastIndex(of: "-"), firstDash < lastDash,
              let cidr = try? IPPrefix(String(id[id.index(after: firstDash)..<lastDash]) + "/" + String(id[id.index(after: lastDash)...])) else {
            accounting.error(.pveSyntax, "a subnet section is 'subnet: ZONE-ADDRESS-LENGTH', e.g. subnet: myzone-10.0.0.0-24", at: section.header.location(of: id))
            for property in section.properties { accounting.ledger.mark(property.line, .error) }
            return
        }
        guard let vnetProperty = section.property("vnet"), let vnetIndex = result.vnets.firstIndex(where: { $0.value.name == vnetProperty.value }) else {
            let reason = section.property("vnet").map { "vnet '\($0.value)' is not imported" } ?? "the subnet names no vnet"
            accounting.dropped(section.header, meaning: "subnet \(cidr)", reason: reason)
            for property in section.properties { accounting.dropped(property.line, meaning: "a setting of subnet \(cidr)", reason: reason) }
            return
        }
        var subnet = Subnet(cidr: cidr)
        for property in section.properties {
            switch property.key {
            case "vnet":
                accounting.mapped(property.line)
            case "gateway":
                guard let gateway = try? IPAddress(String(property.value)) else {
                    accounting.error(.pveInvalidAddress, "'\(property.value)' is not an IP address", at: property.line.location(of: property.value))
                    continue
                }
                subnet.gateway = gateway
                accounting.mapped(property.line)
            case "snat":
                subnet.snat = ProxmoxValues.bool(property.value) ?? false
                accounting.mapped(property.line)
            case "dhcp-range":
                // `start-address=10.0.0.100,end-address=10.0.0.200`
                var start: IPAddress?, end: IPAddress?
                for part in property.value.split(separator: ",") {
                    let pair = part.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2 else { continue }
                    if pair[0] == "start-address" { start = try? IPAddress(String(pair[1])) }
                    if pair[0] == "end-address" { end = try? IPAddress(String(pair[1])) }
                }
                guard let start, let end, let range = try? IPRange(first: start, last: end) else {
                    accounting.error(.pveInvalidValue, "a DHCP range is 'start-address=IP,end-address=IP'", at: property.line.location(of: property.value))
                    continue
                }
                subnet.dhcpRanges.append(range)
                accounting.mapped(property.line)
            case "dhcp-dns-server":
                subnet.dnsServer = try? IPAddress(String(property.value))
                if subnet.dnsServer == nil {
                    accounting.error(.pveInvalidAddress, "'\(property.value)' is not an IP address", at: property.line.location(of: property.value))
                } else {
                    accounting.mapped(property.line)
                }
            case "dnszoneprefix":
                accounting.dropped(property.line, meaning: "the DNS zone prefix of the subnet's guest records", reason: "sdn does not register DNS records")
            default:
                accounting.dropped(property.line, meaning: "subnet setting '\(property.key)'", reason: "sdn's subnets have no such setting")
            }
        }
        accounting.mapped(section.header)
        let vnetName = result.vnets[vnetIndex].value.name
        result.vnets[vnetIndex].value.subnets.append(subnet)
        result.vnets[vnetIndex].entryLocations.append(section.header.location)
        result.subnetLocations[vnetName, default: [:]][cidr] = section.header.location
    }
}

extension String {
    var trimmed: String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
