import SDNModel
import Yams

/// Turns one YAML document into model values. Each section is read independently, so a problem in one
/// place never hides problems elsewhere.
struct DocumentParser {
    var reader: YAMLReader
    var result = DesiredState()
    /// Definitions present in the document that could not be read (their error is already reported).
    var unreadable: Set<ConfigPath> = []

    init(reader: YAMLReader) { self.reader = reader }

    static let nodeKeys = ["address", "management", "api-port", "uplinks"]
    static let uplinkKeys = ["mac", "mtu", "addresses", "comment", "bond", "vlan", "bridge"]
    static let bondKeys = ["mode", "members", "miimon", "lacp-rate", "xmit-hash-policy", "min-links", "primary"]
    static let vlanKeys = ["parent", "id", "protocol"]
    static let bridgeKeys = ["ports", "vlan-aware", "vids", "pvid", "stp"]
    static let zoneKeys = ["type", "nodes", "mtu", "bridge", "service-tag", "service-protocol", "peers", "port", "controller", "vrf-vni", "exit-nodes"]
    static let vnetKeys = ["zone", "tag", "vlan-aware", "isolate-ports", "alias", "mtu", "mac-learning", "unknown-ports", "subnets"]
    static let subnetKeys = ["gateway", "snat", "dhcp", "dns"]
    static let guestKeys = ["name", "kind", "node", "nics"]
    static let nicKeys = ["vnet", "bridge", "mac", "tag", "trunks", "firewall", "ip", "rate"]

    mutating func parseTopology(_ entries: [YAMLReader.Entry]) {
        let root = ConfigPath.topology
        for entry in entries {
            switch entry.key {
            case "nodes":
                for node in reader.mapping(entry.value, at: root / "nodes", what: "a mapping of node names") ?? [] {
                    if let parsed = parseNode(node, at: root / "nodes" / node.key) { result.nodes.append(parsed) } else { unreadable.insert(root / "nodes" / node.key) }
                }
            case "zones":
                for zone in reader.mapping(entry.value, at: root / "zones", what: "a mapping of zone names") ?? [] {
                    if let parsed = parseZone(zone, at: root / "zones" / zone.key) { result.zones.append(parsed) } else { unreadable.insert(root / "zones" / zone.key) }
                }
            case "vnets":
                for vnet in reader.mapping(entry.value, at: root / "vnets", what: "a mapping of vnet names") ?? [] {
                    if let parsed = parseVNet(vnet, at: root / "vnets" / vnet.key) { result.vnets.append(parsed) } else { unreadable.insert(root / "vnets" / vnet.key) }
                }
            case "guests":
                for guest in reader.mapping(entry.value, at: root / "guests", what: "a mapping of guest ids") ?? [] {
                    if let parsed = parseGuest(guest, at: root / "guests" / guest.key) { result.guests.append(parsed) } else { unreadable.insert(root / "guests" / guest.key) }
                }
            default:
                break
            }
        }
    }

    // MARK: nodes

    private mutating func parseNode(_ entry: YAMLReader.Entry, at path: ConfigPath) -> SDNModel.Node? {
        guard let fields = reader.mapping(entry.value, at: path, what: "the node's settings") else { return nil }
        reader.checkKeys(fields, allowed: Self.nodeKeys, at: path, context: "node '\(entry.key)'")
        var node = SDNModel.Node(name: entry.key)
        for field in fields {
            let fieldPath = path / field.key
            switch field.key {
            case "address": node.address = reader.scalar(field.value, at: fieldPath) { text throws(ScalarParseError) in try IPAddress(text) }
            case "management": node.management = reader.scalarList(field.value, at: fieldPath) { text throws(ScalarParseError) in try IPPrefix(text) }
            case "api-port": node.apiPort = reader.int(field.value, at: fieldPath, range: 1...65535, what: "port").map { UInt16($0) } ?? node.apiPort
            case "uplinks":
                for uplink in reader.mapping(field.value, at: fieldPath, what: "a mapping of interface names") ?? [] {
                    if let parsed = parseUplink(uplink, at: fieldPath / uplink.key) { node.uplinks.append(parsed) } else { unreadable.insert(fieldPath / uplink.key) }
                }
            default: break
            }
        }
        return node
    }

    private mutating func parseUplink(_ entry: YAMLReader.Entry, at path: ConfigPath) -> Uplink? {
        let name: InterfaceName
        do { name = try InterfaceName(entry.key) } catch {
            reader.error(.invalidInterfaceName, "invalid uplink name: \(error.reason)", at: entry.keyNode, path: path, hint: "interface names are 1-15 bytes of printable ASCII, without '/', ':', spaces, '\"', '\\' or '*', and not starting with '@'")
            return nil
        }
        guard let fields = reader.mapping(entry.value, at: path, what: "the uplink's settings (or {} for a plain NIC)") else { return nil }
        reader.checkKeys(fields, allowed: Self.uplinkKeys, at: path, context: "uplink '\(entry.key)'")
        let kindKeys = fields.filter { ["bond", "vlan", "bridge"].contains($0.key) }
        if kindKeys.count > 1 {
            reader.error(.conflictingKeys, "uplink '\(entry.key)' sets \(kindKeys.map { "'\($0.key)'" }.joined(separator: " and ")); an uplink is one kind", at: kindKeys[1].keyNode, path: path / kindKeys[1].key,
                         hint: "declare the bond, VLAN and bridge as separate uplinks that refer to each other")
        }
        var uplink = Uplink(name: name, kind: .physical(mac: nil))
        var mac: MACAddress?
        for field in fields {
            let fieldPath = path / field.key
            switch field.key {
            case "mac": mac = reader.scalar(field.value, at: fieldPath) { text throws(ScalarParseError) in try MACAddress(text) }
            case "mtu": uplink.mtu = reader.scalar(field.value, at: fieldPath) { text throws(ScalarParseError) in try MTU(Int(text) ?? -1) }
            case "addresses": uplink.addresses = reader.scalarList(field.value, at: fieldPath) { text throws(ScalarParseError) in try IPPrefix(text) }
            case "comment": uplink.comment = reader.string(field.value, at: fieldPath)
            case "bond": if kindKeys.first?.key == "bond", let bond = parseBond(field.value, at: fieldPath) { uplink.kind = .bond(bond) }
            case "vlan": if kindKeys.first?.key == "vlan", let vlan = parseVLAN(field.value, at: fieldPath) { uplink.kind = .vlan(vlan) }
            case "bridge": if kindKeys.first?.key == "bridge", let bridge = parseBridge(field.value, at: fieldPath) { uplink.kind = .bridge(bridge) }
            default: break
            }
        }
        if case .physical = uplink.kind {
            uplink.kind = .physical(mac: mac)
        } else if let macField = fields.first(where: { $0.key == "mac" }) {
            reader.error(.misplacedKey, "'mac' pins a physical NIC; it does not apply to a \(uplink.kindName)", at: macField.keyNode, path: path / "mac")
        }
        return uplink
    }

    private mutating func parseBond(_ node: Yams.Node, at path: ConfigPath) -> Bond? {
        guard let fields = reader.mapping(node, at: path, what: "the bond's settings") else { return nil }
        reader.checkKeys(fields, allowed: Self.bondKeys, at: path, context: "a bond")
        var bond = Bond(mode: .activeBackup, members: [])
        if !fields.contains(where: { $0.key == "mode" }) {
            reader.error(.missingKey, "a bond needs a mode", at: node, path: path, hint: "add mode: \(Bond.Mode.allCases.map(\.rawValue).joined(separator: " | "))")
        }
        if !fields.contains(where: { $0.key == "members" }) {
            reader.error(.missingKey, "a bond needs members", at: node, path: path, hint: "add members: [eno1, eno2]")
        }
        for field in fields {
            let fieldPath = path / field.key
            switch field.key {
            case "mode": if let mode: Bond.Mode = reader.enumeration(field.value, at: fieldPath, what: "bond mode") { bond.mode = mode }
            case "members": bond.members = reader.scalarList(field.value, at: fieldPath) { text throws(ScalarParseError) in try InterfaceName(text) }
            case "miimon": bond.miimon = reader.int(field.value, at: fieldPath, range: 0...60000, what: "interval (ms)") ?? bond.miimon
            case "lacp-rate": bond.lacpRate = reader.enumeration(field.value, at: fieldPath, what: "LACP rate")
            case "xmit-hash-policy": bond.transmitHashPolicy = reader.enumeration(field.value, at: fieldPath, what: "transmit hash policy")
            case "min-links": bond.minLinks = reader.int(field.value, at: fieldPath, range: 0...1024, what: "link count")
            case "primary": bond.primary = reader.interfaceName(field.value, at: fieldPath)
            default: break
            }
        }
        return bond
    }

    private mutating func parseVLAN(_ node: Yams.Node, at path: ConfigPath) -> VLANInterface? {
        guard let fields = reader.mapping(node, at: path, what: "the VLAN's settings") else { return nil }
        reader.checkKeys(fields, allowed: Self.vlanKeys, at: path, context: "a VLAN")
        var parent: InterfaceName?
        var id: VLANID?
        var proto = VLANProtocol.dot1Q
        for field in fields {
            let fieldPath = path / field.key
            switch field.key {
            case "parent": parent = reader.interfaceName(field.value, at: fieldPath)
            case "id": id = reader.scalar(field.value, at: fieldPath, code: .tagOutOfRange) { text throws(ScalarParseError) in try VLANID(text) }
            case "protocol":
                if let text = reader.string(field.value, at: fieldPath) {
                    if let value = VLANProtocol(text: text) { proto = value } else {
                        reader.error(.invalidValue, "'\(text)' is not a VLAN protocol", at: field.value, path: fieldPath, hint: "use 802.1Q or 802.1ad")
                    }
                }
            default: break
            }
        }
        if !fields.contains(where: { $0.key == "parent" }) { reader.error(.missingKey, "a VLAN needs a parent", at: node, path: path, hint: "add parent: <interface>") }
        if !fields.contains(where: { $0.key == "id" }) { reader.error(.missingKey, "a VLAN needs an id", at: node, path: path, hint: "add id: <1-4094>") }
        guard let parent, let id else { return nil }
        return VLANInterface(parent: parent, id: id, proto: proto)
    }

    private mutating func parseBridge(_ node: Yams.Node, at path: ConfigPath) -> Bridge? {
        guard let fields = reader.mapping(node, at: path, what: "the bridge's settings") else { return nil }
        reader.checkKeys(fields, allowed: Self.bridgeKeys, at: path, context: "a bridge")
        var bridge = Bridge()
        for field in fields {
            let fieldPath = path / field.key
            switch field.key {
            case "ports": bridge.ports = reader.scalarList(field.value, at: fieldPath) { text throws(ScalarParseError) in try InterfaceName(text) }
            case "vlan-aware": bridge.vlanAware = reader.bool(field.value, at: fieldPath) ?? false
            case "vids": bridge.vids = reader.scalar(field.value, at: fieldPath) { text throws(ScalarParseError) in try VLANSet(text) }
            case "pvid": bridge.pvid = reader.scalar(field.value, at: fieldPath, code: .tagOutOfRange) { text throws(ScalarParseError) in try VLANID(text) }
            case "stp": bridge.stp = reader.bool(field.value, at: fieldPath) ?? false
            default: break
            }
        }
        return bridge
    }

    // MARK: zones

    private mutating func parseZone(_ entry: YAMLReader.Entry, at path: ConfigPath) -> Zone? {
        guard let fields = reader.mapping(entry.value, at: path, what: "the zone's settings") else { return nil }
        reader.checkKeys(fields, allowed: Self.zoneKeys, at: path, context: "zone '\(entry.key)'")
        func field(_ key: String) -> YAMLReader.Entry? { fields.first { $0.key == key } }
        guard let typeField = field("type") else {
            reader.error(.missingKey, "zone '\(entry.key)' needs a type", at: entry.keyNode, path: path, hint: "add type: simple | vlan | qinq | vxlan | evpn")
            return nil
        }
        let kinds = ["simple", "vlan", "qinq", "vxlan", "evpn"]
        // Case-insensitive, like every other enumerated value.
        guard let type = reader.string(typeField.value, at: path / "type")?.lowercased() else { return nil }
        guard kinds.contains(type) else {
            reader.error(.invalidValue, "'\(type)' is not a zone type", at: typeField.value, path: path / "type", hint: Suggestion.hint(for: type, in: kinds, listing: "one of: \(kinds.joined(separator: ", "))"))
            return nil
        }
        let keysByType: [String: [String]] = [
            "simple": [], "vlan": ["bridge"], "qinq": ["bridge", "service-tag", "service-protocol"],
            "vxlan": ["peers", "port"], "evpn": ["controller", "vrf-vni", "exit-nodes", "port"],
        ]
        for other in fields where !["type", "nodes", "mtu"].contains(other.key) && Self.zoneKeys.contains(other.key) && !(keysByType[type] ?? []).contains(other.key) {
            reader.error(.misplacedKey, "'\(other.key)' does not apply to a \(type) zone", at: other.keyNode, path: path / other.key,
                         hint: keysByType.first(where: { $0.value.contains(other.key) }).map { "it belongs to \($0.key) zones" })
        }
        func required(_ key: String, hint: String) -> YAMLReader.Entry? {
            if let found = field(key) { return found }
            reader.error(.missingKey, "a \(type) zone needs '\(key)'", at: entry.keyNode, path: path, hint: hint)
            return nil
        }
        var zone = Zone(name: entry.key, kind: .simple)
        if let nodes = field("nodes") {
            zone.nodes = reader.list(nodes.value, at: path / "nodes")?.compactMap { index, item in reader.string(item, at: path / "nodes" / index) }
        }
        if let mtu = field("mtu") { zone.mtu = reader.scalar(mtu.value, at: path / "mtu") { text throws(ScalarParseError) in try MTU(Int(text) ?? -1) } }
        switch type {
        case "vlan":
            guard let bridgeField = required("bridge", hint: "add bridge: <uplink bridge, e.g. vmbr0>"),
                  let bridge = reader.interfaceName(bridgeField.value, at: path / "bridge") else { return nil }
            zone.kind = .vlan(bridge: bridge)
        case "qinq":
            guard let bridgeField = required("bridge", hint: "add bridge: <uplink bridge>"),
                  let tagField = required("service-tag", hint: "add service-tag: <1-4094>"),
                  let bridge = reader.interfaceName(bridgeField.value, at: path / "bridge"),
                  let tag = reader.scalar(tagField.value, at: path / "service-tag", code: .tagOutOfRange, { text throws(ScalarParseError) in try VLANID(text) }) else { return nil }
            var proto = VLANProtocol.dot1Q
            if let protoField = field("service-protocol"), let text = reader.string(protoField.value, at: path / "service-protocol") {
                if let value = VLANProtocol(text: text) { proto = value } else {
                    reader.error(.invalidValue, "'\(text)' is not a VLAN protocol", at: protoField.value, path: path / "service-protocol", hint: "use 802.1Q or 802.1ad")
                }
            }
            zone.kind = .qinq(bridge: bridge, serviceTag: tag, serviceProtocol: proto)
        case "vxlan":
            var vxlan = VXLANZone()
            if let peers = field("peers") {
                if peers.value.scalar?.string == "all" {
                    vxlan.peers = .allNodes
                } else {
                    vxlan.peers = .addresses(reader.scalarList(peers.value, at: path / "peers") { text throws(ScalarParseError) in try IPAddress(text) })
                }
            }
            if let port = field("port") { vxlan.port = reader.int(port.value, at: path / "port", range: 1...65535, what: "UDP port").map { UInt16($0) } ?? vxlan.port }
            zone.kind = .vxlan(vxlan)
        case "evpn":
            guard let controllerField = required("controller", hint: "add controller: <name of the BGP EVPN controller>"),
                  let vniField = required("vrf-vni", hint: "add vrf-vni: <1-16777215>"),
                  let controller = reader.string(controllerField.value, at: path / "controller"),
                  let vni = reader.scalar(vniField.value, at: path / "vrf-vni", code: .tagOutOfRange, { text throws(ScalarParseError) in try VNI(text) }) else { return nil }
            var evpn = EVPNZone(controller: controller, vrfVNI: vni)
            if let exits = field("exit-nodes") {
                evpn.exitNodes = reader.list(exits.value, at: path / "exit-nodes")?.compactMap { index, item in reader.string(item, at: path / "exit-nodes" / index) } ?? []
            }
            if let port = field("port") { evpn.port = reader.int(port.value, at: path / "port", range: 1...65535, what: "UDP port").map { UInt16($0) } ?? evpn.port }
            zone.kind = .evpn(evpn)
        default:
            zone.kind = .simple
        }
        return zone
    }

    // MARK: vnets

    private mutating func parseVNet(_ entry: YAMLReader.Entry, at path: ConfigPath) -> VNet? {
        guard let fields = reader.mapping(entry.value, at: path, what: "the vnet's settings") else { return nil }
        reader.checkKeys(fields, allowed: Self.vnetKeys, at: path, context: "vnet '\(entry.key)'")
        guard fields.contains(where: { $0.key == "zone" }) else {
            reader.error(.missingKey, "vnet '\(entry.key)' needs a zone", at: entry.keyNode, path: path, hint: "add zone: <zone name>")
            return nil
        }
        var vnet = VNet(name: entry.key, zone: "")
        for field in fields {
            let fieldPath = path / field.key
            switch field.key {
            case "zone": vnet.zone = reader.string(field.value, at: fieldPath) ?? ""
            case "tag": vnet.tag = reader.int(field.value, at: fieldPath)
            case "vlan-aware": vnet.vlanAware = reader.bool(field.value, at: fieldPath) ?? false
            case "isolate-ports": vnet.isolatePorts = reader.bool(field.value, at: fieldPath) ?? false
            case "alias": vnet.alias = reader.string(field.value, at: fieldPath)
            case "mtu": vnet.mtu = reader.scalar(field.value, at: fieldPath) { text throws(ScalarParseError) in try MTU(Int(text) ?? -1) }
            case "mac-learning": vnet.macLearning = reader.bool(field.value, at: fieldPath) ?? true
            case "unknown-ports": vnet.unknownPorts = reader.enumeration(field.value, at: fieldPath, what: "unknown-ports policy") ?? .drop
            case "subnets":
                for subnet in reader.mapping(field.value, at: fieldPath, what: "a mapping of subnet prefixes") ?? [] {
                    if let parsed = parseSubnet(subnet, at: fieldPath / subnet.key) { vnet.subnets.append(parsed) }
                }
            default: break
            }
        }
        return vnet
    }

    private mutating func parseSubnet(_ entry: YAMLReader.Entry, at path: ConfigPath) -> Subnet? {
        let cidr: IPPrefix
        do { cidr = try IPPrefix(entry.key) } catch {
            reader.error(.invalidValue, "invalid subnet: \(error.reason)", at: entry.keyNode, path: path, hint: "subnets are keyed by prefix, e.g. 10.0.0.0/24", offset: error.offset)
            return nil
        }
        guard let fields = reader.mapping(entry.value, at: path, what: "the subnet's settings") else { return nil }
        reader.checkKeys(fields, allowed: Self.subnetKeys, at: path, context: "subnet \(entry.key)")
        var subnet = Subnet(cidr: cidr)
        for field in fields {
            let fieldPath = path / field.key
            switch field.key {
            case "gateway": subnet.gateway = reader.scalar(field.value, at: fieldPath) { text throws(ScalarParseError) in try IPAddress(text) }
            case "snat": subnet.snat = reader.bool(field.value, at: fieldPath) ?? false
            case "dhcp": subnet.dhcpRanges = reader.scalarList(field.value, at: fieldPath) { text throws(ScalarParseError) in try IPRange(text) }
            case "dns": subnet.dnsServer = reader.scalar(field.value, at: fieldPath) { text throws(ScalarParseError) in try IPAddress(text) }
            default: break
            }
        }
        return subnet
    }

    // MARK: guests

    private mutating func parseGuest(_ entry: YAMLReader.Entry, at path: ConfigPath) -> Guest? {
        guard let id = Int(entry.key) else {
            reader.error(.invalidGuestId, "guest key '\(entry.key)' is not a numeric id", at: entry.keyNode, path: path, hint: "guests are keyed by their id (100-999999999), with name: for the name")
            return nil
        }
        guard let fields = reader.mapping(entry.value, at: path, what: "the guest's settings") else { return nil }
        reader.checkKeys(fields, allowed: Self.guestKeys, at: path, context: "guest \(id)")
        if !fields.contains(where: { $0.key == "node" }) {
            reader.error(.missingKey, "guest \(id) needs a node", at: entry.keyNode, path: path, hint: "add node: <node name>")
        }
        var guest = Guest(id: id, name: "guest-\(id)", kind: .kvm, node: "")
        for field in fields {
            let fieldPath = path / field.key
            switch field.key {
            case "name": guest.name = reader.string(field.value, at: fieldPath) ?? guest.name
            case "kind": guest.kind = reader.enumeration(field.value, at: fieldPath, what: "guest kind") ?? .kvm
            case "node": guest.node = reader.string(field.value, at: fieldPath) ?? ""
            case "nics":
                for nic in reader.mapping(field.value, at: fieldPath, what: "a mapping of NICs (net0, net1 …)") ?? [] {
                    if let parsed = parseNIC(nic, at: fieldPath / nic.key) { guest.nics.append(parsed) }
                }
            default: break
            }
        }
        return guest
    }

    private mutating func parseNIC(_ entry: YAMLReader.Entry, at path: ConfigPath) -> GuestNIC? {
        guard entry.key.hasPrefix("net"), let index = Int(entry.key.dropFirst(3)), entry.key.dropFirst(3).allSatisfy(\.isNumber) else {
            reader.error(.invalidNic, "'\(entry.key)' is not a NIC name", at: entry.keyNode, path: path, hint: "NICs are net0 to net31")
            return nil
        }
        // Short form: `net0: web` plugs the NIC into vnet `web` with defaults.
        if let scalar = entry.value.scalar, !reader.isNull(entry.value) {
            return GuestNIC(index: index, attachment: .vnet(scalar.string))
        }
        guard let fields = reader.mapping(entry.value, at: path, what: "the NIC's settings") else { return nil }
        reader.checkKeys(fields, allowed: Self.nicKeys, at: path, context: entry.key)
        let attachments = fields.filter { $0.key == "vnet" || $0.key == "bridge" }
        if attachments.isEmpty {
            reader.error(.missingKey, "\(entry.key) needs a vnet or a bridge", at: entry.keyNode, path: path, hint: "add vnet: <vnet name>")
            return nil
        }
        if attachments.count > 1 {
            reader.error(.conflictingKeys, "\(entry.key) sets both 'vnet' and 'bridge'", at: attachments[1].keyNode, path: path / attachments[1].key, hint: "a NIC plugs into one network")
        }
        var nic = GuestNIC(index: index, attachment: .vnet(""))
        for field in fields {
            let fieldPath = path / field.key
            switch field.key {
            case "vnet": if attachments.first?.key == "vnet" { nic.attachment = .vnet(reader.string(field.value, at: fieldPath) ?? "") }
            case "bridge": if attachments.first?.key == "bridge", let bridge = reader.interfaceName(field.value, at: fieldPath) { nic.attachment = .bridge(bridge) }
            case "mac": nic.mac = reader.scalar(field.value, at: fieldPath) { text throws(ScalarParseError) in try MACAddress(text) }
            case "tag": nic.tag = reader.scalar(field.value, at: fieldPath, code: .tagOutOfRange) { text throws(ScalarParseError) in try VLANID(text) }
            case "trunks": nic.trunks = reader.scalar(field.value, at: fieldPath) { text throws(ScalarParseError) in try VLANSet(text) }
            case "firewall": nic.firewall = reader.bool(field.value, at: fieldPath) ?? true
            case "ip": nic.ips = reader.scalarList(field.value, at: fieldPath) { text throws(ScalarParseError) in try IPPrefix(text) }
            case "rate": nic.rateLimit = reader.double(field.value, at: fieldPath)
            default: break
            }
        }
        return nic
    }
}
