/// The outcome of validating a desired state: every diagnostic found and, only when none is an error,
/// the `Validated` value later stages accept.
public struct ValidationOutcome: Sendable {
    public let validated: Validated<DesiredState>?
    public let diagnostics: [Diagnostic]
}

extension DesiredState {
    /// Checks the whole state and reports every problem at once. This is the only way to obtain a
    /// `Validated<DesiredState>`.
    public func validate() -> ValidationOutcome { validate(unreadable: []) }

    /// Validates, treating `unreadable` (definitions the loader found but could not read, and already
    /// reported) as present: references to them are not reported as undefined a second time.
    public func validate(unreadable: Set<ConfigPath>) -> ValidationOutcome {
        var validator = Validator(state: self, unreadable: unreadable)
        validator.run()
        let diagnostics = validator.diagnostics.sortedForDisplay()
        let validated = diagnostics.hasErrors ? nil : Validated(unchecked: self, diagnostics: diagnostics)
        return ValidationOutcome(validated: validated, diagnostics: diagnostics)
    }
}

/// The semantic checks. Paths match the YAML layout, so each finding points at the line that caused it.
struct Validator {
    let state: DesiredState
    let unreadable: Set<ConfigPath>
    var diagnostics: [Diagnostic] = []
    /// Guests by id, for a whole-state run (looking each policy's guest up linearly is quadratic).
    private var guestIndex: [Int: Int]?

    init(state: DesiredState, unreadable: Set<ConfigPath> = []) {
        self.state = state
        self.unreadable = unreadable
    }

    private func guest(id: Int) -> Guest? {
        guard let guestIndex else { return state.guest(id: id) }
        return guestIndex[id].map { state.guests[$0] }
    }

    private let topology = ConfigPath.topology
    private let policy = ConfigPath.policy

    mutating func run() {
        guestIndex = Dictionary(state.guests.indices.map { (state.guests[$0].id, $0) }, uniquingKeysWith: { first, _ in first })
        checkNodes()
        checkZones()
        checkVNets()
        checkGuests()
        checkFirewall()
    }

    // MARK: reporting

    private mutating func error(_ code: DiagnosticCode, _ message: String, at path: ConfigPath, hint: String? = nil, related: [ConfigPath] = [], atKey: Bool = false) {
        report(.error, code, message, at: path, hint: hint, related: related, atKey: atKey)
    }

    private mutating func warning(_ code: DiagnosticCode, _ message: String, at path: ConfigPath, hint: String? = nil, related: [ConfigPath] = [], atKey: Bool = false) {
        report(.warning, code, message, at: path, hint: hint, related: related, atKey: atKey)
    }

    private mutating func report(_ severity: Diagnostic.Severity, _ code: DiagnosticCode, _ message: String, at path: ConfigPath, hint: String?, related: [ConfigPath], atKey: Bool) {
        let location = atKey ? state.sources.keyLocation(of: path) : state.sources.location(of: path)
        diagnostics.append(Diagnostic(severity, code: code, message, at: location, path: path.description, hint: hint,
                                      related: related.compactMap { state.sources.keyLocation(of: $0) }))
    }

    private mutating func checkName(_ name: String, what: String, at path: ConfigPath) {
        if let problem = Identifier.problem(with: name) {
            error(.invalidName, "invalid \(what) name: \(problem)", at: path, atKey: true)
        }
    }

    private mutating func checkGeneratedInterface(_ name: String, for what: String, at path: ConfigPath, hint: String) {
        if let problem = InterfaceName.problem(with: name) {
            error(.interfaceNameTooLong, "\(what) needs the interface name '\(name)', which is invalid: \(problem.reason)", at: path, hint: hint, atKey: true)
        }
    }

    private mutating func checkDuplicates<T>(_ items: [T], key: (T) -> String, what: String, path: (T) -> ConfigPath) {
        var seen: [String: T] = [:]
        for item in items {
            let name = key(item)
            if let first = seen[name] {
                error(.duplicateName, "\(what) '\(name)' is defined more than once", at: path(item), hint: "rename one of them", related: [path(first)], atKey: true)
            } else {
                seen[name] = item
            }
        }
    }

    /// Reports a reference to a name that is not defined. `definedIn` lists where such a name would be
    /// defined; if one of those definitions was written but could not be read, its own error explains
    /// the problem and the reference is not reported again.
    private mutating func undefined(_ what: String, _ name: String, candidates: some Sequence<String>, at path: ConfigPath, definedIn: [ConfigPath] = []) {
        if definedIn.contains(where: { unreadable.contains($0 / name) }) { return }
        let suggestion = Suggestion.hint(for: name, in: candidates)
        let known = Array(candidates).sorted()
        let hint = suggestion ?? (known.isEmpty ? "no \(what) is defined" : "defined: \(known.prefix(8).joined(separator: ", "))\(known.count > 8 ? ", …" : "")")
        error(.undefinedReference, "\(what) '\(name)' is not defined", at: path, hint: hint)
    }

    // MARK: nodes and uplinks

    private mutating func checkNodes() {
        checkDuplicates(state.nodes, key: \.name, what: "node") { ConfigPath.topology / "nodes" / $0.name }
        for node in state.nodes {
            let path = topology / "nodes" / node.name
            checkName(node.name, what: "node", at: path)
            checkDuplicates(node.uplinks, key: \.name.rawValue, what: "uplink") { path / "uplinks" / $0.name.rawValue }
            let uplinksByName = Dictionary(node.uplinks.map { ($0.name.rawValue, $0) }, uniquingKeysWith: { a, _ in a })
            var owner: [String: String] = [:]
            for uplink in node.uplinks {
                let uplinkPath = path / "uplinks" / uplink.name.rawValue
                for lower in uplink.lowerLinks where uplinksByName[lower.rawValue] == nil {
                    let field: String = switch uplink.kind {
                    case .bond: "bond.members"
                    case .vlan: "vlan.parent"
                    case .bridge: "bridge.ports"
                    case .physical: ""
                    }
                    undefined("uplink", lower.rawValue, candidates: uplinksByName.keys, at: uplinkPath / field, definedIn: [path / "uplinks"])
                }
                if case .bond(let bond) = uplink.kind {
                    checkBond(bond, at: uplinkPath / "bond")
                    for member in bond.members {
                        if let previous = owner[member.rawValue] {
                            error(.portInUse, "'\(member)' is already a port of '\(previous)'", at: uplinkPath / "bond" / "members", hint: "a link can be enslaved to one bond or bridge only")
                        }
                        owner[member.rawValue] = uplink.name.rawValue
                        if let memberUplink = uplinksByName[member.rawValue], case .physical = memberUplink.kind {} else if uplinksByName[member.rawValue] != nil {
                            error(.invalidBondMember, "bond member '\(member)' must be a physical NIC", at: uplinkPath / "bond" / "members")
                        }
                    }
                }
                if case .bridge(let bridge) = uplink.kind {
                    if !bridge.vlanAware {
                        if bridge.vids != nil { error(.requiresVlanAware, "'vids' needs 'vlan-aware: true'", at: uplinkPath / "bridge" / "vids", hint: "set vlan-aware: true on the bridge or remove vids") }
                        if bridge.pvid != nil { error(.requiresVlanAware, "'pvid' needs 'vlan-aware: true'", at: uplinkPath / "bridge" / "pvid", hint: "set vlan-aware: true on the bridge or remove pvid") }
                    }
                    for port in bridge.ports {
                        if let previous = owner[port.rawValue] {
                            error(.portInUse, "'\(port)' is already a port of '\(previous)'", at: uplinkPath / "bridge" / "ports", hint: "a link can be enslaved to one bond or bridge only")
                        }
                        owner[port.rawValue] = uplink.name.rawValue
                        if let portUplink = uplinksByName[port.rawValue], case .bridge = portUplink.kind {
                            error(.invalidBridgePort, "bridge '\(uplink.name)' cannot have bridge '\(port)' as a port", at: uplinkPath / "bridge" / "ports")
                        }
                    }
                }
                if case .vlan(let vlan) = uplink.kind, vlan.parent == uplink.name {
                    error(.cycle, "VLAN '\(uplink.name)' cannot be its own parent", at: uplinkPath / "vlan" / "parent")
                }
            }
            checkUplinkCycles(node, at: path)
        }
    }

    private mutating func checkBond(_ bond: Bond, at path: ConfigPath) {
        if bond.members.isEmpty { error(.emptyBond, "a bond needs at least one member", at: path / "members", hint: "list the NICs, e.g. members: [eno1, eno2]") }
        if bond.lacpRate != nil && bond.mode != .lacp {
            error(.bondOptionMode, "'lacp-rate' applies only to mode 802.3ad, not \(bond.mode.rawValue)", at: path / "lacp-rate", hint: "remove lacp-rate or use mode: 802.3ad")
        }
        if bond.transmitHashPolicy != nil && !bond.mode.usesTransmitHash {
            error(.bondOptionMode, "'xmit-hash-policy' applies only to modes balance-xor, 802.3ad and balance-tlb, not \(bond.mode.rawValue)", at: path / "xmit-hash-policy",
                  hint: "remove xmit-hash-policy or change the mode")
        }
        if let primary = bond.primary {
            if ![.activeBackup, .balanceTLB, .balanceALB].contains(bond.mode) {
                error(.bondOptionMode, "'primary' applies only to modes active-backup, balance-tlb and balance-alb, not \(bond.mode.rawValue)", at: path / "primary")
            } else if !bond.members.contains(primary) {
                error(.undefinedReference, "primary '\(primary)' is not a member of the bond", at: path / "primary", hint: Suggestion.hint(for: primary.rawValue, in: bond.members.map(\.rawValue)))
            }
        }
        if let minLinks = bond.minLinks, minLinks < 0 || minLinks > bond.members.count {
            error(.outOfRange, "min-links \(minLinks) must be between 0 and the number of members (\(bond.members.count))", at: path / "min-links")
        }
        if bond.miimon < 0 { error(.outOfRange, "miimon must not be negative", at: path / "miimon") }
    }

    private mutating func checkUplinkCycles(_ node: Node, at path: ConfigPath) {
        let lowers = Dictionary(node.uplinks.map { ($0.name.rawValue, $0.lowerLinks.map(\.rawValue)) }, uniquingKeysWith: { a, _ in a })
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        var reported = false
        func visit(_ name: String) -> Bool {
            if state[name] == 2 { return false }
            if state[name] == 1 { return true }
            state[name] = 1
            for lower in lowers[name] ?? [] where visit(lower) { return true }
            state[name] = 2
            return false
        }
        for uplink in node.uplinks where !reported && visit(uplink.name.rawValue) {
            reported = true
            error(.cycle, "uplinks of node '\(node.name)' form a cycle through '\(uplink.name)'", at: path / "uplinks" / uplink.name.rawValue, hint: "a link cannot be built on itself")
        }
    }

    // MARK: zones

    private mutating func checkZones() {
        let nodeNames = Set(state.nodes.map(\.name))
        checkDuplicates(state.zones, key: \.name, what: "zone") { ConfigPath.topology / "zones" / $0.name }
        for zone in state.zones {
            let path = topology / "zones" / zone.name
            checkName(zone.name, what: "zone", at: path)
            for (index, node) in (zone.nodes ?? []).enumerated() where !nodeNames.contains(node) {
                undefined("node", node, candidates: nodeNames, at: path / "nodes" / index, definedIn: [topology / "nodes"])
            }
            let zoneNodes = state.nodes(of: zone)
            switch zone.kind {
            case .simple:
                break
            case .vlan(let bridge), .qinq(let bridge, _, _):
                for node in zoneNodes {
                    guard let uplink = node.uplink(named: bridge.rawValue) else {
                        if unreadable.contains(topology / "nodes" / node.name / "uplinks" / bridge.rawValue) { continue }
                        error(.undefinedReference, "zone '\(zone.name)' uses bridge '\(bridge)', which node '\(node.name)' does not have", at: path / "bridge",
                              hint: Suggestion.hint(for: bridge.rawValue, in: node.uplinks.map(\.name.rawValue)) ?? "declare it under nodes.\(node.name).uplinks, or limit the zone with nodes: [...]")
                        continue
                    }
                    if case .bridge = uplink.kind {} else {
                        error(.notABridge, "zone '\(zone.name)' needs '\(bridge)' on node '\(node.name)' to be a bridge, but it is a \(uplink.kindName)", at: path / "bridge")
                    }
                }
                if case .qinq(_, let serviceTag, _) = zone.kind {
                    for node in zoneNodes {
                        checkGeneratedInterface(InterfaceNaming.qinqServiceInterface(bridge: bridge.rawValue, serviceTag: serviceTag.value), for: "zone '\(zone.name)' on node '\(node.name)'", at: path, hint: "use a shorter bridge name")
                    }
                }
            case .vxlan(let vxlan):
                if case .allNodes = vxlan.peers {
                    for node in zoneNodes where node.address == nil {
                        error(.missingAddress, "zone '\(zone.name)' sends VXLAN to every node, but node '\(node.name)' has no address", at: topology / "nodes" / node.name,
                              hint: "set nodes.\(node.name).address to its underlay IP, or list the zone's peers", related: [path / "peers"], atKey: true)
                    }
                }
                if case .addresses(let peers) = vxlan.peers {
                    if peers.isEmpty { error(.noPeers, "zone '\(zone.name)' has an empty peer list", at: path / "peers", hint: "list peer addresses or write peers: all") }
                    if Set(peers.map(\.family)).count > 1 { error(.mixedFamilies, "VXLAN peers of zone '\(zone.name)' mix IPv4 and IPv6", at: path / "peers") }
                }
                if vxlan.port == 0 { error(.outOfRange, "UDP port 0 is not usable", at: path / "port") }
            case .evpn(let evpn):
                if evpn.controller.isEmpty { error(.missingValue, "an evpn zone needs a controller", at: path / "controller") }
                for (index, exit) in evpn.exitNodes.enumerated() where !nodeNames.contains(exit) {
                    undefined("node", exit, candidates: nodeNames, at: path / "exit-nodes" / index, definedIn: [topology / "nodes"])
                }
                for node in zoneNodes where node.address == nil {
                    error(.missingAddress, "evpn zone '\(zone.name)' needs an underlay address on node '\(node.name)'", at: topology / "nodes" / node.name,
                          hint: "set nodes.\(node.name).address", related: [path], atKey: true)
                }
            }
        }
        // VNIs of VXLAN/EVPN zones' VRFs and vnets share one space across the cluster.
        var vniOwner: [Int: (path: ConfigPath, owner: String)] = [:]
        for zone in state.zones {
            if case .evpn(let evpn) = zone.kind {
                let path = topology / "zones" / zone.name / "vrf-vni"
                if let first = vniOwner[evpn.vrfVNI.value] {
                    error(.duplicateVni, "VNI \(evpn.vrfVNI) of zone '\(zone.name)' is already used by \(first.owner)", at: path,
                          hint: "VNIs are unique across all VXLAN and EVPN zones", related: [first.path])
                } else {
                    vniOwner[evpn.vrfVNI.value] = (path, "the VRF of zone '\(zone.name)'")
                }
            }
        }
        for vnet in state.vnets {
            guard let tag = vnet.tag, let zone = state.zone(named: vnet.zone), zone.tagIsVNI else { continue }
            let path = topology / "vnets" / vnet.name / "tag"
            if let first = vniOwner[tag] {
                error(.duplicateVni, "VNI \(tag) of vnet '\(vnet.name)' is already used by \(first.owner)", at: path, hint: "VNIs are unique across all VXLAN and EVPN zones", related: [first.path])
            } else {
                vniOwner[tag] = (path, "vnet '\(vnet.name)'")
            }
        }
    }

    // MARK: vnets and subnets

    private mutating func checkVNets() {
        let zoneNames = state.zones.map(\.name)
        checkDuplicates(state.vnets, key: \.name, what: "vnet") { ConfigPath.topology / "vnets" / $0.name }
        var tagsByZone: [String: [Int: (path: ConfigPath, vnet: String)]] = [:]
        var subnetsByZone: [String: [(IPPrefix, ConfigPath)]] = [:]
        for vnet in state.vnets {
            let path = topology / "vnets" / vnet.name
            checkName(vnet.name, what: "vnet", at: path)
            checkGeneratedInterface(InterfaceNaming.vnetBridge(vnet.name), for: "vnet '\(vnet.name)'", at: path, hint: "vnet names become bridge names; keep them short")
            guard let zone = state.zone(named: vnet.zone) else {
                undefined("zone", vnet.zone, candidates: zoneNames, at: path / "zone", definedIn: [topology / "zones"])
                continue
            }
            switch zone.kind {
            case .simple:
                if vnet.tag != nil { error(.unexpectedTag, "vnet '\(vnet.name)' is in simple zone '\(zone.name)', which has no tags", at: path / "tag", hint: "remove the tag, or move the vnet to a vlan or vxlan zone") }
            case .vlan, .qinq:
                if let tag = vnet.tag {
                    if !VLANID.validRange.contains(tag) {
                        error(.tagOutOfRange, "VLAN tag \(tag) of vnet '\(vnet.name)' is out of range", at: path / "tag", hint: "VLAN ids are 1-4094")
                    } else if let first = tagsByZone[zone.name]?[tag] {
                        error(.duplicateTag, "VLAN tag \(tag) of vnet '\(vnet.name)' is already used by vnet '\(first.vnet)' in zone '\(zone.name)'", at: path / "tag",
                              hint: "each vnet of a zone needs its own VLAN", related: [first.path])
                    } else {
                        tagsByZone[zone.name, default: [:]][tag] = (path / "tag", vnet.name)
                    }
                    if case .vlan(let bridge) = zone.kind, let node = state.nodes(of: zone).first, let uplink = node.uplink(named: bridge.rawValue),
                       case .bridge(let settings) = uplink.kind {
                        let port = settings.vlanAware ? InterfaceNaming.vlanPort(uplink: bridge.rawValue, tag: tag)
                                                      : InterfaceNaming.vlanPort(uplink: settings.ports.first?.rawValue ?? bridge.rawValue, tag: tag)
                        checkGeneratedInterface(port, for: "vnet '\(vnet.name)'", at: path / "tag", hint: "use a shorter uplink name")
                    }
                    if case .qinq = zone.kind {
                        checkGeneratedInterface(InterfaceNaming.qinqCustomerInterface(zone: zone.name, tag: tag), for: "vnet '\(vnet.name)'", at: path / "tag", hint: "use a shorter zone name")
                    }
                } else {
                    error(.missingTag, "vnet '\(vnet.name)' in \(zone.kindName) zone '\(zone.name)' needs a VLAN tag", at: path, hint: "add tag: <1-4094>")
                }
            case .vxlan, .evpn:
                if let tag = vnet.tag {
                    if !VNI.validRange.contains(tag) {
                        error(.tagOutOfRange, "VNI \(tag) of vnet '\(vnet.name)' is out of range", at: path / "tag", hint: "VNIs are 1-16777215")
                    }
                } else {
                    error(.missingTag, "vnet '\(vnet.name)' in \(zone.kindName) zone '\(zone.name)' needs a VNI", at: path, hint: "add tag: <1-16777215>")
                }
                checkGeneratedInterface(InterfaceNaming.vxlanDevice(vnet.name), for: "vnet '\(vnet.name)'", at: path, hint: "VXLAN devices are named vxlan_<vnet>; keep vnet names to 9 characters")
            }
            if let mtu = vnet.mtu, let zoneMTU = zone.mtu, mtu > zoneMTU {
                error(.mtuTooLarge, "vnet MTU \(mtu) exceeds zone '\(zone.name)' MTU \(zoneMTU)", at: path / "mtu")
            }
            checkDuplicates(vnet.subnets, key: \.cidr.masked.description, what: "subnet") { path / "subnets" / $0.cidr.compactDescription }
            for subnet in vnet.subnets {
                let subnetPath = path / "subnets" / subnet.cidr.compactDescription
                checkSubnet(subnet, at: subnetPath)
                for (other, otherPath) in subnetsByZone[zone.name] ?? [] where other.overlaps(subnet.cidr) && other.masked != subnet.cidr.masked {
                    error(.overlappingSubnets, "subnet \(subnet.cidr) overlaps \(other) in zone '\(zone.name)'", at: subnetPath, related: [otherPath], atKey: true)
                }
                subnetsByZone[zone.name, default: []].append((subnet.cidr, subnetPath))
            }
        }
    }

    private mutating func checkSubnet(_ subnet: Subnet, at path: ConfigPath) {
        let cidr = subnet.cidr
        if !cidr.isNetworkAddress {
            error(.hostBitsSet, "subnet \(cidr) has host bits set", at: path, hint: "did you mean \(cidr.masked)?", atKey: true)
        }
        if let gateway = subnet.gateway {
            if !cidr.contains(gateway) {
                error(.gatewayOutsideSubnet, "gateway \(gateway) is not inside subnet \(cidr.masked)", at: path / "gateway", hint: "use an address between \(cidr.network) and \(cidr.lastAddress)")
            } else if cidr.family == .ipv4 && cidr.length < 31 && (gateway == cidr.network || gateway == cidr.lastAddress) {
                error(.gatewayReserved, "gateway \(gateway) is the \(gateway == cidr.network ? "network" : "broadcast") address of \(cidr.masked)", at: path / "gateway")
            }
        }
        for (index, range) in subnet.dhcpRanges.enumerated() {
            if !range.isInside(cidr) {
                error(.dhcpOutsideSubnet, "DHCP range \(range) is not inside subnet \(cidr.masked)", at: path / "dhcp" / index,
                      hint: "use addresses between \(cidr.network) and \(cidr.lastAddress)")
            }
            if let gateway = subnet.gateway, range.contains(gateway) {
                error(.dhcpContainsGateway, "DHCP range \(range) contains the gateway \(gateway)", at: path / "dhcp" / index, hint: "start the range after the gateway")
            }
            for (otherIndex, other) in subnet.dhcpRanges.enumerated() where otherIndex < index && other.overlaps(range) {
                error(.dhcpOverlap, "DHCP range \(range) overlaps \(other)", at: path / "dhcp" / index, hint: "make the ranges disjoint, or merge them into one", related: [path / "dhcp" / otherIndex])
            }
        }
        if let dns = subnet.dnsServer, dns.family != cidr.family {
            warning(.familyMismatch, "DNS server \(dns) is \(dns.family) but subnet \(cidr.masked) is \(cidr.family)", at: path / "dns")
        }
    }

    // MARK: guests

    private mutating func checkGuests() {
        let nodeNames = state.nodes.map(\.name)
        let vnetNames = state.vnets.map(\.name)
        checkDuplicates(state.guests, key: { String($0.id) }, what: "guest id") { ConfigPath.topology / "guests" / String($0.id) }
        var macOwner: [MACAddress: ConfigPath] = [:]
        var ipOwner: [String: ConfigPath] = [:]
        for guest in state.guests {
            let path = topology / "guests" / String(guest.id)
            if !Guest.validIDs.contains(guest.id) {
                error(.guestIdOutOfRange, "guest id \(guest.id) is out of range", at: path, hint: "ids are 100-999999999, as in Proxmox", atKey: true)
            }
            let node = state.node(named: guest.node)
            if node == nil { undefined("node", guest.node, candidates: nodeNames, at: path / "node", definedIn: [topology / "nodes"]) }
            for nic in guest.nics {
                let nicPath = path / "nics" / nic.key
                if !GuestNIC.validIndices.contains(nic.index) {
                    error(.nicIndexOutOfRange, "'\(nic.key)' is not a NIC slot; use net0 to net31", at: nicPath, atKey: true)
                }
                checkGeneratedInterface(InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index), for: "guest \(guest.id) \(nic.key)", at: nicPath, hint: "use a smaller guest id")
                var vlanAware = false
                switch nic.attachment {
                case .vnet(let name):
                    if let vnet = state.vnet(named: name) {
                        vlanAware = vnet.vlanAware
                        if let zone = state.zone(named: vnet.zone), node != nil, !zone.includes(node: guest.node) {
                            error(.zoneNotOnNode, "vnet '\(name)' belongs to zone '\(zone.name)', which does not extend to node '\(guest.node)'", at: nicPath / "vnet",
                                  hint: "add '\(guest.node)' to zones.\(zone.name).nodes or move the guest")
                        }
                        for (index, ip) in nic.ips.enumerated() where !vnet.subnets.isEmpty && !vnet.subnets.contains(where: { $0.cidr.contains(ip.address) }) {
                            warning(.ipOutsideSubnets, "address \(ip.address) is not inside any subnet of vnet '\(name)'", at: nicPath / "ip" / index)
                        }
                        for (index, ip) in nic.ips.enumerated() {
                            let key = "\(name)|\(ip.address)"
                            if let first = ipOwner[key] {
                                error(.duplicateAddress, "address \(ip.address) is already declared on vnet '\(name)'", at: nicPath / "ip" / index, related: [first])
                            }
                            ipOwner[key] = nicPath / "ip" / index
                        }
                    } else {
                        undefined("vnet", name, candidates: vnetNames, at: nicPath / "vnet", definedIn: [topology / "vnets"])
                    }
                case .bridge(let bridge):
                    if let node {
                        if let uplink = node.uplink(named: bridge.rawValue) {
                            if case .bridge(let settings) = uplink.kind { vlanAware = settings.vlanAware } else {
                                error(.notABridge, "'\(bridge)' on node '\(node.name)' is a \(uplink.kindName), not a bridge", at: nicPath / "bridge")
                            }
                        } else {
                            undefined("bridge", bridge.rawValue, candidates: node.uplinks.filter { if case .bridge = $0.kind { true } else { false } }.map(\.name.rawValue), at: nicPath / "bridge",
                                      definedIn: [topology / "nodes" / node.name / "uplinks"])
                        }
                    }
                }
                if !vlanAware {
                    if nic.tag != nil { error(.requiresVlanAware, "\(nic.key) has a VLAN tag, but its network is not VLAN-aware", at: nicPath / "tag", hint: "set vlan-aware: true on the vnet, or remove the tag") }
                    if nic.trunks != nil { error(.requiresVlanAware, "\(nic.key) has trunks, but its network is not VLAN-aware", at: nicPath / "trunks", hint: "set vlan-aware: true on the vnet, or remove trunks") }
                }
                if let mac = nic.mac {
                    if mac.isMulticast || mac.isZero {
                        error(.invalidMac, "\(mac) is a \(mac.isZero ? "zero" : "multicast") address; a NIC needs a unicast MAC", at: nicPath / "mac",
                              hint: mac.isZero ? "use a real address, e.g. 52:54:00:… (or leave mac out)" : "the first octet must be even, e.g. 52:54:00:…")
                    } else if let first = macOwner[mac] {
                        error(.duplicateMac, "MAC \(mac) is already used", at: nicPath / "mac", hint: "every NIC needs its own MAC address; change one of them", related: [first])
                    } else {
                        macOwner[mac] = nicPath / "mac"
                    }
                }
                if let rate = nic.rateLimit, rate <= 0 {
                    error(.outOfRange, "rate must be positive (MB/s)", at: nicPath / "rate")
                }
            }
        }
    }

    // MARK: firewall

    private mutating func checkFirewall() {
        let firewall = state.firewall
        checkDuplicates(firewall.groups, key: \.name, what: "security group") { ConfigPath.policy / "groups" / $0.name }
        checkDuplicates(firewall.aliases, key: \.name, what: "alias") { ConfigPath.policy / "aliases" / $0.name }
        checkDuplicates(firewall.ipsets, key: \.name, what: "IP set") { ConfigPath.policy / "ipsets" / $0.name }
        let aliasNames = Set(firewall.aliases.map(\.name))
        for set in firewall.ipsets where aliasNames.contains(set.name) {
            error(.duplicateName, "'\(set.name)' is both an alias and an IP set; rules refer to both as @\(set.name)", at: policy / "ipsets" / set.name,
                  hint: "rename one of them", related: [policy / "aliases" / set.name], atKey: true)
        }
        for alias in firewall.aliases { checkName(alias.name, what: "alias", at: policy / "aliases" / alias.name) }
        for set in firewall.ipsets {
            let path = policy / "ipsets" / set.name
            checkName(set.name, what: "IP set", at: path)
            let included = set.entries.filter { !$0.excluded }
            for (index, entry) in set.entries.enumerated() {
                if case .alias(let name) = entry.value, !aliasNames.contains(name) {
                    undefined("alias", name, candidates: aliasNames, at: path / index, definedIn: [policy / "aliases"])
                }
                if entry.excluded, case .prefix(let prefix) = entry.value,
                   !included.contains(where: { if case .prefix(let p) = $0.value { p.contains(prefix) } else { false } }) {
                    warning(.exclusionOutsideSet, "excluded \(prefix.compactDescription) is not inside any entry of IP set '\(set.name)'", at: path / index, hint: "the exclusion has no effect")
                }
            }
        }
        for group in firewall.groups {
            let path = policy / "groups" / group.name
            checkName(group.name, what: "security group", at: path)
            checkRules(group.rules, scope: nil, at: path / "rules", inGroup: true)
        }
        checkPolicy(firewall.cluster, at: policy / "cluster")
        let nodeNames = state.nodes.map(\.name)
        for node in firewall.nodes {
            guard case .node(let name) = node.scope else { continue }
            let path = policy / "nodes" / name
            if state.node(named: name) == nil { undefined("node", name, candidates: nodeNames, at: path, definedIn: [topology / "nodes"]) }
            checkPolicy(node, at: path)
        }
        for vnet in firewall.vnets {
            guard case .vnet(let name) = vnet.scope else { continue }
            let path = policy / "vnets" / name
            if state.vnet(named: name) == nil { undefined("vnet", name, candidates: state.vnets.map(\.name), at: path, definedIn: [topology / "vnets"]) }
            checkPolicy(vnet, at: path)
        }
        for guest in firewall.guests { checkGuestPolicy(guest) }
    }

    /// Everything about one guest's firewall policy: the guest exists, its options fit a guest, its
    /// rules are valid and name what exists. Nothing else depends on a guest policy, so this is all
    /// that changing one has to re-check (`Validated.replacingGuestPolicy`).
    mutating func checkGuestPolicy(_ guestPolicy: FirewallPolicy) {
        guard case .guest(let id) = guestPolicy.scope else { return }
        let path = policy / "guests" / String(id)
        if guest(id: id) == nil { undefined("guest", String(id), candidates: state.guests.map { String($0.id) }, at: path, definedIn: [topology / "guests"]) }
        checkPolicy(guestPolicy, at: path)
    }

    private mutating func checkPolicy(_ firewallPolicy: FirewallPolicy, at path: ConfigPath) {
        let options = firewallPolicy.options
        let optionsPath = path / "options"
        if options.policyForward == .reject {
            error(.rejectNotAllowed, "policy-forward cannot be reject", at: optionsPath / "policy-forward",
                  hint: "forwarded traffic has no local socket to answer for; use drop (Proxmox allows only ACCEPT and DROP here too)")
        }
        switch firewallPolicy.scope {
        case .guest, .vnet:
            if options.failsafe != nil {
                error(.misplacedOption, "failsafe can only be set in a cluster or node policy", at: optionsPath / "failsafe", hint: "it protects access to the node, not to guests")
            }
        default: break
        }
        switch firewallPolicy.scope {
        case .guest:
            if options.policyForward != nil { error(.misplacedOption, "a guest policy has no forward direction", at: optionsPath / "policy-forward", hint: "use policy-in and policy-out") }
        case .vnet:
            for (key, value) in [("policy-in", options.policyIn), ("policy-out", options.policyOut)] where value != nil {
                error(.misplacedOption, "a vnet policy filters forwarded traffic only; '\(key)' does not apply", at: optionsPath / key, hint: "use policy-forward")
            }
        default: break
        }
        if let limit = options.logRateLimit, let problem = limit.problem {
            error(.outOfRange, "log-rate-limit \(limit): \(problem)", at: optionsPath / "log-rate-limit",
                  hint: "the kernel refuses this limit; lower the burst or raise the rate")
        }
        checkRules(firewallPolicy.rules, scope: firewallPolicy.scope, at: path / "rules", inGroup: false)
    }

    private mutating func checkRules(_ rules: [FirewallRule], scope: PolicyScope?, at path: ConfigPath, inGroup: Bool) {
        let firewall = state.firewall
        var explicitIDs: [String: ConfigPath] = [:]
        for (index, rule) in rules.enumerated() {
            let rulePath = rule.sourcePath ?? path / index
            if rule.hasExplicitID {
                if let problem = Identifier.ruleIDProblem(with: rule.id) {
                    error(.invalidName, "invalid rule id: \(problem)", at: rulePath / "id")
                }
                if let first = explicitIDs[rule.id] {
                    error(.duplicateRuleId, "rule id '\(rule.id)' is used twice in this list", at: rulePath, related: [first])
                }
                explicitIDs[rule.id] = rulePath
            }
            switch rule.body {
            case .group(let name, let iface):
                if inGroup {
                    error(.nestedGroup, "a security group cannot include another group", at: rulePath, hint: "copy the rules, or attach both groups to the guest")
                } else if !firewall.groups.contains(where: { $0.name == name }) {
                    undefined("security group", name, candidates: firewall.groups.map(\.name), at: rulePath / "group", definedIn: [policy / "groups"])
                }
                if let iface { checkInterface(iface, scope: scope, at: rulePath / "iface") }
            case .match(let match):
                checkMatch(match, scope: scope, at: rulePath)
            }
        }
    }

    private mutating func checkInterface(_ iface: String, scope: PolicyScope?, at path: ConfigPath) {
        if case .guest(let id)? = scope {
            if let guest = guest(id: id), !guest.nics.contains(where: { $0.key == iface }) {
                undefined("NIC", iface, candidates: guest.nics.map(\.key), at: path)
            }
        } else if let problem = InterfaceName.patternProblem(with: iface) {
            error(.invalidInterface, "invalid interface '\(iface)': \(problem.reason)", at: path,
                  hint: "write an interface name (eth0), or a name prefix ending in '*' (eth*)")
        }
    }

    private mutating func checkMatch(_ match: RuleMatch, scope: PolicyScope?, at path: ConfigPath) {
        let firewall = state.firewall
        if let macro = match.macro, FirewallMacro.named(macro) == nil {
            undefined("macro", macro, candidates: FirewallMacro.catalog.map(\.name), at: path / "macro")
        }
        if match.macro != nil && (match.proto != nil || !match.dport.isEmpty || !match.sport.isEmpty) {
            error(.macroWithProtocol, "a rule with macro '\(match.macro!)' cannot also set a protocol or ports", at: path, hint: "the macro defines them; write a separate rule for other ports")
        }
        if !match.dport.isEmpty || !match.sport.isEmpty {
            if let proto = match.proto, !proto.hasPorts {
                error(.portsWithoutPortProtocol, "protocol \(proto) has no ports", at: path / (match.dport.isEmpty ? "sport" : "dport"), hint: "ports need tcp, udp, udplite, sctp or dccp")
            } else if match.proto == nil && match.macro == nil {
                error(.portsWithoutProtocol, "ports need a protocol", at: path / (match.dport.isEmpty ? "sport" : "dport"), hint: "add tcp or udp before dport/sport, e.g. 'in accept tcp dport 22' (structured form: proto: tcp)")
            }
        }
        if let icmpType = match.icmpType {
            if let proto = match.proto, proto.isICMP {
                if ICMPType.number(icmpType, for: proto) == nil {
                    error(.unknownIcmpType, "'\(icmpType)' is not an \(proto) type", at: path / "icmp-type", hint: Suggestion.hint(for: icmpType, in: ICMPType.knownNames(for: proto)) ?? "known: \(ICMPType.knownNames(for: proto).prefix(6).joined(separator: ", ")), …")
                }
            } else {
                error(.icmpTypeWithoutIcmp, "an ICMP type needs protocol icmp or icmpv6", at: path / "icmp-type", hint: "set the protocol to icmp (or icmpv6), e.g. 'in accept icmp type \(icmpType)'")
            }
        }
        var families = Set<IPAddress.Family>()
        for (side, matches) in [("source", match.source), ("dest", match.destination)] {
            var sideFamilies = Set<IPAddress.Family>()
            for address in matches {
                if case .reference(let name) = address {
                    if let alias = firewall.aliases.first(where: { $0.name == name }) {
                        sideFamilies.insert(alias.cidr.family)
                    } else if firewall.ipsets.contains(where: { $0.name == name }) {
                        continue
                    } else {
                        undefined("alias or IP set", name, candidates: firewall.aliases.map(\.name) + firewall.ipsets.map(\.name), at: path / side,
                                  definedIn: [policy / "aliases", policy / "ipsets"])
                    }
                } else if let family = address.family {
                    sideFamilies.insert(family)
                }
            }
            if sideFamilies.count == 1 { families.formUnion(sideFamilies) }
        }
        if families.count > 1 {
            error(.familyMismatch, "the rule's source and destination are of different address families", at: path, hint: "IPv4 and IPv6 need separate rules")
        }
        if match.proto == .icmp && families == [.ipv6] {
            error(.familyMismatch, "protocol icmp with IPv6 addresses never matches", at: path, hint: "use icmpv6")
        }
        if match.proto == .icmpv6 && families == [.ipv4] {
            error(.familyMismatch, "protocol icmpv6 with IPv4 addresses never matches", at: path, hint: "use icmp")
        }
        switch scope {
        case .guest?:
            if match.direction == .forward {
                error(.invalidDirection, "guest rules are 'in' or 'out'; 'forward' applies to vnet and node policies", at: path,
                      hint: "write 'in' (to the guest) or 'out' (from it), or move the rule to the vnet's policy")
            }
        case .vnet?:
            if match.direction != .forward {
                error(.invalidDirection, "vnet rules filter forwarded traffic; write 'forward' instead of '\(match.direction.rawValue)'", at: path)
            }
        default:
            break
        }
        if let iface = match.iface { checkInterface(iface, scope: scope, at: path / "iface") }
    }
}

extension Validated where Value == DesiredState {
    /// This state with one guest's firewall policy replaced (or added, at the end, when the guest had
    /// none), validated incrementally: only the new policy is checked, against the unchanged rest,
    /// because nothing else depends on it. The outcome is what `validate()` of the whole new state
    /// reports: the old policy's findings are replaced by the new one's.
    ///
    /// The cost follows the policy, not the cluster (a full `validate()` of 10,000 guests is hundreds of
    /// milliseconds). A policy whose scope is not a guest is validated with the whole state.
    public func replacingGuestPolicy(_ newPolicy: FirewallPolicy) -> ValidationOutcome {
        var state = value
        func replace(in policies: inout [FirewallPolicy]) {
            if let index = policies.firstIndex(where: { $0.scope == newPolicy.scope }) { policies[index] = newPolicy } else { policies.append(newPolicy) }
        }
        switch newPolicy.scope {
        case .guest: break
        case .cluster:
            state.firewall.cluster = newPolicy
            return state.validate()
        case .node:
            replace(in: &state.firewall.nodes)
            return state.validate()
        case .vnet:
            replace(in: &state.firewall.vnets)
            return state.validate()
        }
        var stale: [Diagnostic] = []
        if let index = state.firewall.guests.firstIndex(where: { $0.scope == newPolicy.scope }) {
            var old = Validator(state: value)
            old.checkGuestPolicy(value.firewall.guests[index])
            stale = old.diagnostics
            state.firewall.guests[index] = newPolicy
        } else {
            state.firewall.guests.append(newPolicy)
        }
        var checker = Validator(state: state)
        checker.checkGuestPolicy(newPolicy)
        return Self.outcome(state, keeping: diagnostics, without: stale, adding: checker.diagnostics)
    }

    /// This state without guest `id`'s firewall policy (the guest keeps the defaults), validated
    /// incrementally as `replacingGuestPolicy` is.
    public func removingGuestPolicy(of id: Int) -> ValidationOutcome {
        var state = value
        guard let index = state.firewall.guests.firstIndex(where: { $0.scope == .guest(id) }) else {
            return ValidationOutcome(validated: self, diagnostics: diagnostics)
        }
        var old = Validator(state: value)
        old.checkGuestPolicy(value.firewall.guests[index])
        state.firewall.guests.remove(at: index)
        return Self.outcome(state, keeping: diagnostics, without: old.diagnostics, adding: [])
    }

    private static func outcome(_ state: DesiredState, keeping previous: [Diagnostic], without stale: [Diagnostic], adding new: [Diagnostic]) -> ValidationOutcome {
        var remaining = previous
        for diagnostic in stale {
            if let index = remaining.firstIndex(of: diagnostic) { remaining.remove(at: index) }
        }
        let diagnostics = new.isEmpty ? remaining : (remaining + new).sortedForDisplay()
        let validated = diagnostics.hasErrors ? nil : Validated(unchecked: state, diagnostics: diagnostics)
        return ValidationOutcome(validated: validated, diagnostics: diagnostics)
    }
}
