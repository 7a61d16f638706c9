public import SDNConfig
import SDNModel

/// What an import produced: the YAML files (relative paths under the output directory), the report and
/// the line ledger.
public struct ImportResult: Sendable {
    public struct File: Sendable, Hashable {
        /// `Topologies/sdn.yaml`, `Policies/guests/101.yaml`, …
        public var path: String
        public var text: String
    }

    public var files: [File]
    public var report: ImportReport
    public var ledger: LineLedger

    /// The files as config documents, ready for `ConfigLoader` (paths as they will be written).
    public var documents: [ConfigDocument] {
        files.filter { $0.path.hasSuffix(".yaml") }.map { ConfigDocument(path: $0.path, text: $0.text, kind: ConfigDocument.kind(impliedBy: $0.path)) }
    }
}

/// `sdn import proxmox`: a Proxmox VE configuration tree → `Topologies/` and `Policies/` documents that
/// `sdn validate` accepts, and a report of every line that does not carry over one to one.
public enum ProxmoxImporter {
    /// The name of the report file written next to `Topologies/` and `Policies/`.
    public static let reportFileName = "IMPORT-REPORT.txt"

    /// Imports `tree`. With `node`, only that node (its interfaces, host firewall and guests) is
    /// imported, with the cluster-wide parts (datacenter firewall, SDN).
    public static func run(_ input: ProxmoxTree, node onlyNode: String? = nil) -> ImportResult {
        var tree = input
        var accounting = Accounting()
        accounting.report.skippedFiles = tree.skipped
        for (path, reason) in tree.unreadable.sorted(by: { $0.key < $1.key }) {
            accounting.report.diagnostics.append(.error(.pveUnreadable, "cannot read \(path): \(reason)", at: SourceLocation(file: path, line: 1, column: 1), path: ""))
        }
        var nodeNames = tree.nodeNames
        if let onlyNode {
            guard nodeNames.contains(onlyNode) else {
                accounting.report.diagnostics.append(.error(.pveUnknownNode, "there is no node '\(onlyNode)' under nodes/", at: nil, path: "",
                                                            hint: Suggestion.hint(for: onlyNode, in: nodeNames) ?? "nodes: \(nodeNames.joined(separator: ", "))"))
                return ImportResult(files: [], report: accounting.report, ledger: accounting.ledger)
            }
            nodeNames = [onlyNode]
            restrict(&tree, to: onlyNode, report: &accounting.report)
        }

        // SDN first (guests attach to vnets), then uplinks, guests, and the firewall (which refers to all).
        let sdn = SDNImport.run(tree: tree, nodeNames: nodeNames, accounting: &accounting)
        var nodes: [String: (node: Node, interfaces: InterfacesImport.Result?)] = [:]
        for name in nodeNames {
            var node = Node(name: name)
            var interfaces: InterfacesImport.Result?
            if let text = tree.files["nodes/\(name)/interfaces"] {
                let parsed = InterfacesImport.parse(text, path: "nodes/\(name)/interfaces", node: name, accounting: &accounting)
                node.uplinks = parsed.uplinks
                interfaces = parsed
                // The underlay address: the one of this node's addresses that VXLAN or EVPN peers list.
                node.address = parsed.uplinks.flatMap(\.addresses).map(\.address).first { sdn.underlayAddresses.contains($0) }
            }
            nodes[name] = (node, interfaces)
        }

        var guests: [Int: ImportedGuest] = [:]
        for name in nodeNames {
            for (directory, kind) in [("qemu-server", Guest.Kind.kvm), ("lxc", .lxc)] {
                for path in tree.paths(under: "nodes/\(name)/\(directory)/", suffix: ".conf") {
                    let idText = path.split(separator: "/").last!.dropLast(".conf".count)
                    guard let id = Int(idText), Guest.validIDs.contains(id) else {
                        accounting.report.skippedFiles.append(path)
                        for line in SourceLine.lines(of: tree.files[path]!, file: path) { accounting.outOfScope(line) }
                        continue
                    }
                    if let other = guests[id] {
                        accounting.error(.pveDuplicateGuest, "guest \(id) is also defined in \(other.file)", at: SourceLocation(file: path, line: 1, column: 1))
                        for line in SourceLine.lines(of: tree.files[path]!, file: path) { accounting.ledger.mark(line, .error) }
                        continue
                    }
                    var guest = GuestImport.parse(tree.files[path]!, path: path, id: id, kind: kind, node: name, vnetNames: sdn.vnetNames, accounting: &accounting)
                    checkAttachments(&guest, node: nodes[name]?.node, sdn: sdn, accounting: &accounting)
                    guests[id] = guest
                }
            }
        }

        var firewall = FirewallImport(accounting: accounting, guests: guests, nodeNames: nodeNames, vnetNames: sdn.vnetNames)
        if let text = tree.files["firewall/cluster.fw"] {
            firewall.importCluster(PVEFirewallFile.parse(text, path: "firewall/cluster.fw", level: .cluster, into: &firewall.accounting))
        }
        for name in nodeNames {
            let path = "nodes/\(name)/host.fw"
            guard let text = tree.files[path] else { continue }
            firewall.importHost(PVEFirewallFile.parse(text, path: path, level: .host, into: &firewall.accounting), node: name)
        }
        for path in tree.paths(under: "sdn/firewall/", suffix: ".fw") {
            let vnet = String(path.split(separator: "/").last!.dropLast(3))
            firewall.importVNet(PVEFirewallFile.parse(tree.files[path]!, path: path, level: .vnet, into: &firewall.accounting), vnet: vnet)
        }
        var guestFiles: [Int: String] = [:]
        for path in tree.paths(under: "firewall/", suffix: ".fw") where path != "firewall/cluster.fw" {
            let name = path.dropFirst("firewall/".count).dropLast(3)
            guard let id = Int(name) else {
                for line in SourceLine.lines(of: tree.files[path]!, file: path) { firewall.accounting.outOfScope(line) }
                firewall.accounting.report.skippedFiles.append(path)
                continue
            }
            guestFiles[id] = path
        }
        for id in Set(guests.keys).union(guestFiles.keys).sorted() {
            let file = guestFiles[id].map { PVEFirewallFile.parse(tree.files[$0]!, path: $0, level: .guest, into: &firewall.accounting) }
            firewall.importGuest(file, id: id)
        }
        guests = firewall.guests
        accounting = firewall.accounting

        // Proxmox checks a node's host.fw rules before the datacenter's; sdn's cluster chain comes
        // first. When some node has rules of its own, the datacenter's rules move behind each node's.
        let blacklist = firewall.ipsets.contains { $0.value.name == "blacklist" && $0.guest == nil } ? firewall.blacklistRule() : nil
        if var cluster = firewall.cluster, !cluster.policy.rules.isEmpty || blacklist != nil, firewall.nodes.contains(where: { !$0.policy.rules.isEmpty }) {
            let moved = cluster.policy.rules
            cluster.policy.rules = []
            cluster.notes.append("rules: moved behind each node's own rules (Policies/nodes/*.yaml), because Proxmox checks host.fw rules before these")
            firewall.cluster = cluster
            for name in nodeNames {
                if let index = firewall.nodes.firstIndex(where: { $0.policy.scope == .node(name) }) {
                    firewall.nodes[index].policy.rules = (blacklist.map { [$0] } ?? []) + firewall.nodes[index].policy.rules + moved
                    if blacklist != nil { firewall.nodes[index].notes.append("the first rule drops the datacenter's 'blacklist' IP set, as Proxmox does before any rule") }
                    firewall.nodes[index].notes.append("the rules after this node's own come from firewall/cluster.fw (Proxmox's order: host rules first)")
                } else {
                    firewall.nodes.append(ImportedPolicy(file: "", policy: FirewallPolicy(scope: .node(name), rules: (blacklist.map { [$0] } ?? []) + moved),
                                                         notes: ["no nodes/\(name)/host.fw: this node's rules are the datacenter's (firewall/cluster.fw)"]))
                }
            }
            for rule in moved {
                if let origin = rule.origin {
                    accounting.note(.changed, at: origin, input: lineText(tree, origin), meaning: "a datacenter rule, checked after each node's host.fw rules",
                                    action: "copied to the end of every node's policy", reason: "sdn checks the cluster policy before a node's; copying keeps Proxmox's order")
                }
            }
        } else if let blacklist, var cluster = firewall.cluster {
            cluster.policy.rules.insert(blacklist, at: 0)
            cluster.notes.append("IP set 'blacklist': Proxmox drops its traffic before any rule; the first rule here does the same")
            firewall.cluster = cluster
        }

        // Proxmox's failsafe: the `management` IP set may always reach SSH and the API.
        let management = firewall.ipsets.first { $0.value.name == "management" }?.value.entries.compactMap { entry -> IPPrefix? in
            if case .prefix(let prefix) = entry.value, !entry.excluded { return prefix }
            return nil
        } ?? []
        for name in nodeNames { nodes[name]?.node.management = management }

        var files: [ImportResult.File] = []
        files += renderTopology(sdn: sdn, nodes: nodeNames.compactMap { nodes[$0] }, guests: guests, tree: tree)
        files += renderPolicies(firewall, guests: guests, tree: tree)
        files.append(ImportResult.File(path: reportFileName, text: accounting.report.text))
        return ImportResult(files: files.sorted { $0.path < $1.path }, report: accounting.report, ledger: accounting.ledger)
    }

    /// Drops other nodes' files (and the firewalls of their guests) from the tree, listing them as skipped.
    private static func restrict(_ tree: inout ProxmoxTree, to node: String, report: inout ImportReport) {
        var keptGuests = Set<Int>()
        for path in tree.files.keys {
            let parts = path.split(separator: "/")
            guard parts.count >= 3, parts[0] == "nodes" else { continue }
            if parts[1] != node {
                tree.files[path] = nil
                report.skippedFiles.append(path)
            } else if parts.count == 4, let id = Int(parts[3].dropLast(".conf".count)) {
                keptGuests.insert(id)
            }
        }
        for path in tree.files.keys where path.hasPrefix("firewall/") && path != "firewall/cluster.fw" {
            if let id = Int(path.dropFirst("firewall/".count).dropLast(3)), !keptGuests.contains(id) {
                tree.files[path] = nil
                report.skippedFiles.append(path)
            }
        }
    }

    /// A NIC on a plain bridge needs that bridge on its node; a tag or trunks need a VLAN-aware network.
    private static func checkAttachments(_ guest: inout ImportedGuest, node: Node?, sdn: ImportedSDN, accounting: inout Accounting) {
        guest.guest.nics.removeAll { nic in
            guard let location = guest.nicLocations[nic.index] else { return false }
            let vlanAware: Bool
            switch nic.attachment {
            case .bridge(let bridge):
                guard let uplink = node?.uplink(named: bridge.rawValue), case .bridge(let settings) = uplink.kind else {
                    let why = node?.uplinks.isEmpty ?? true ? "nodes/\(guest.guest.node)/interfaces is missing or declares no bridges" : "nodes/\(guest.guest.node)/interfaces declares no bridge \(bridge)"
                    accounting.note(.dropped, at: location, input: "net\(nic.index) bridge=\(bridge)", meaning: "guest \(guest.guest.id)'s NIC on bridge \(bridge)",
                                    action: "dropped", reason: why + " and it backs no SDN vnet")
                    return true
                }
                vlanAware = settings.vlanAware
            case .vnet(let name):
                vlanAware = sdn.vnets.first { $0.value.name == name }?.value.vlanAware ?? false
            }
            if (nic.tag != nil || nic.trunks != nil) && !vlanAware {
                accounting.note(.dropped, at: location, input: "net\(nic.index)", meaning: "guest \(guest.guest.id)'s NIC on VLAN \(nic.tag.map(\.description) ?? "trunk") of a bridge that is not VLAN-aware (Proxmox makes a per-VLAN bridge for it)",
                                action: "dropped", reason: "sdn needs a VLAN-aware bridge or vnet for tagged NICs; without the tag the NIC would land on the untagged network")
                return true
            }
            return false
        }
    }

    static func lineText(_ tree: ProxmoxTree, _ location: SourceLocation) -> String {
        guard let text = tree.files[location.file] else { return "" }
        let lines = SourceLine.lines(of: text, file: location.file)
        return location.line >= 1 && location.line <= lines.count ? String(lines[location.line - 1].text) : ""
    }

    private static func source(_ tree: ProxmoxTree, _ location: SourceLocation?) -> String? {
        guard let location else { return nil }
        return "\(location.file):\(location.line): \(lineText(tree, location))"
    }

    // MARK: topology documents

    private static func renderTopology(sdn: ImportedSDN, nodes: [(node: Node, interfaces: InterfacesImport.Result?)], guests: [Int: ImportedGuest], tree: ProxmoxTree) -> [ImportResult.File] {
        var files: [ImportResult.File] = []
        if !sdn.zones.isEmpty || !sdn.vnets.isEmpty {
            var yaml = YAMLWriter()
            yaml.comment("Imported from Proxmox VE SDN: sdn/zones.cfg, sdn/vnets.cfg, sdn/subnets.cfg.\nEach object names the line it came from; IMPORT-REPORT.txt lists what did not carry over one to one.")
            yaml.field("kind", "topology", indent: 0)
            if !sdn.zones.isEmpty {
                yaml.open("zones", indent: 0)
                for zone in sdn.zones { renderZone(zone, tree: tree, into: &yaml) }
            }
            if !sdn.vnets.isEmpty {
                yaml.open("vnets", indent: 0)
                for vnet in sdn.vnets { renderVNet(vnet, sdn: sdn, tree: tree, into: &yaml) }
            }
            files.append(.init(path: "Topologies/sdn.yaml", text: yaml.text))
        }
        for (node, interfaces) in nodes {
            var yaml = YAMLWriter()
            yaml.comment("Node \(node.name), imported from Proxmox VE: " + (interfaces == nil ? "no nodes/\(node.name)/interfaces (no uplinks)" : "nodes/\(node.name)/interfaces") + ", and its guests' configs.")
            yaml.field("kind", "topology", indent: 0)
            yaml.open("nodes", indent: 0)
            yaml.open(node.name, indent: 1)
            if let address = node.address { yaml.field("address", YAMLWriter.scalar(address.description), indent: 2, comment: "the address VXLAN/EVPN peers list for this node") }
            if !node.management.isEmpty {
                yaml.field("management", YAMLWriter.flow(node.management.map(\.compactDescription)), indent: 2, comment: "firewall/cluster.fw [IPSET management]")
            }
            if node.uplinks.isEmpty {
                yaml.field("uplinks", "{}", indent: 2)
            } else {
                yaml.open("uplinks", indent: 2)
                for uplink in node.uplinks {
                    if let location = interfaces?.locations[uplink.name.rawValue] { yaml.comment("\(location.file):\(location.line)", indent: 3) }
                    renderUplink(uplink, into: &yaml)
                }
            }
            let nodeGuests = guests.values.filter { $0.guest.node == node.name }.sorted { $0.guest.id < $1.guest.id }
            if !nodeGuests.isEmpty {
                yaml.open("guests", indent: 0)
                for imported in nodeGuests {
                    let guest = imported.guest
                    yaml.comment(imported.file, indent: 1)
                    yaml.open(String(guest.id), indent: 1)
                    yaml.field("name", YAMLWriter.scalar(guest.name), indent: 2)
                    yaml.field("kind", guest.kind.rawValue, indent: 2)
                    yaml.field("node", YAMLWriter.scalar(guest.node), indent: 2)
                    if guest.nics.isEmpty {
                        yaml.field("nics", "{}", indent: 2)
                        continue
                    }
                    yaml.open("nics", indent: 2)
                    for nic in guest.nics {
                        if let location = imported.nicLocations[nic.index] { yaml.comment(source(tree, location)!, indent: 3) }
                        yaml.open(nic.key, indent: 3)
                        switch nic.attachment {
                        case .vnet(let name): yaml.field("vnet", YAMLWriter.scalar(name), indent: 4)
                        case .bridge(let bridge): yaml.field("bridge", YAMLWriter.scalar(bridge.rawValue), indent: 4)
                        }
                        if let mac = nic.mac { yaml.field("mac", YAMLWriter.quoted(mac.description), indent: 4) }
                        if let tag = nic.tag { yaml.field("tag", String(tag.value), indent: 4) }
                        if let trunks = nic.trunks { yaml.field("trunks", YAMLWriter.quoted(trunks.description), indent: 4) }
                        yaml.field("firewall", YAMLWriter.bool(nic.firewall), indent: 4)
                        if !nic.ips.isEmpty { yaml.field("ip", YAMLWriter.flow(nic.ips.map(\.compactDescription)), indent: 4) }
                        if let rate = nic.rateLimit { yaml.field("rate", rate == rate.rounded() ? String(Int(rate)) : String(rate), indent: 4) }
                    }
                }
            }
            files.append(.init(path: "Topologies/\(node.name).yaml", text: yaml.text))
        }
        return files
    }

    private static func renderZone(_ located: Located<Zone>, tree: ProxmoxTree, into yaml: inout YAMLWriter) {
        let zone = located.value
        yaml.comment(source(tree, located.location)!, indent: 1)
        yaml.open(zone.name, indent: 1)
        yaml.field("type", zone.kindName, indent: 2)
        if let nodes = zone.nodes { yaml.field("nodes", YAMLWriter.flow(nodes), indent: 2) }
        if let mtu = zone.mtu { yaml.field("mtu", String(mtu.value), indent: 2) }
        switch zone.kind {
        case .simple: break
        case .vlan(let bridge): yaml.field("bridge", YAMLWriter.scalar(bridge.rawValue), indent: 2)
        case .qinq(let bridge, let tag, let proto):
            yaml.field("bridge", YAMLWriter.scalar(bridge.rawValue), indent: 2)
            yaml.field("service-tag", String(tag.value), indent: 2)
            yaml.field("service-protocol", YAMLWriter.scalar(proto.rawValue), indent: 2)
        case .vxlan(let vxlan):
            if case .addresses(let peers) = vxlan.peers { yaml.field("peers", YAMLWriter.flow(peers.map(\.description)), indent: 2) }
            if vxlan.port != VXLANZone.defaultPort { yaml.field("port", String(vxlan.port), indent: 2) }
        case .evpn(let evpn):
            yaml.field("controller", YAMLWriter.scalar(evpn.controller), indent: 2)
            yaml.field("vrf-vni", String(evpn.vrfVNI.value), indent: 2)
            if !evpn.exitNodes.isEmpty { yaml.field("exit-nodes", YAMLWriter.flow(evpn.exitNodes), indent: 2) }
            if evpn.port != VXLANZone.defaultPort { yaml.field("port", String(evpn.port), indent: 2) }
        }
    }

    private static func renderVNet(_ located: Located<VNet>, sdn: ImportedSDN, tree: ProxmoxTree, into yaml: inout YAMLWriter) {
        let vnet = located.value
        yaml.comment(source(tree, located.location)!, indent: 1)
        yaml.open(vnet.name, indent: 1)
        yaml.field("zone", YAMLWriter.scalar(vnet.zone), indent: 2)
        if let tag = vnet.tag { yaml.field("tag", String(tag), indent: 2) }
        if vnet.vlanAware { yaml.field("vlan-aware", "true", indent: 2) }
        if vnet.isolatePorts { yaml.field("isolate-ports", "true", indent: 2) }
        if let alias = vnet.alias { yaml.field("alias", YAMLWriter.quoted(alias), indent: 2) }
        guard !vnet.subnets.isEmpty else { return }
        yaml.open("subnets", indent: 2)
        for subnet in vnet.subnets {
            if let location = sdn.subnetLocations[vnet.name]?[subnet.cidr] { yaml.comment(source(tree, location)!, indent: 3) }
            var fields: [(String, String)] = []
            if let gateway = subnet.gateway { fields.append(("gateway", YAMLWriter.scalar(gateway.description))) }
            if subnet.snat { fields.append(("snat", "true")) }
            if !subnet.dhcpRanges.isEmpty { fields.append(("dhcp", YAMLWriter.flow(subnet.dhcpRanges.map(\.description)))) }
            if let dns = subnet.dnsServer { fields.append(("dns", YAMLWriter.scalar(dns.description))) }
            if fields.isEmpty {
                yaml.field(subnet.cidr.compactDescription, "{}", indent: 3)
            } else {
                yaml.open(subnet.cidr.compactDescription, indent: 3)
                for (key, value) in fields { yaml.field(key, value, indent: 4) }
            }
        }
    }

    private static func renderUplink(_ uplink: Uplink, into yaml: inout YAMLWriter) {
        var fields: [(String, String)] = []
        var nested: (String, [(String, String)])?
        switch uplink.kind {
        case .physical:
            break
        case .bond(let bond):
            var settings = [("mode", YAMLWriter.scalar(bond.mode.rawValue)), ("members", YAMLWriter.flow(bond.members.map(\.rawValue))), ("miimon", String(bond.miimon))]
            if let rate = bond.lacpRate { settings.append(("lacp-rate", rate.rawValue)) }
            if let policy = bond.transmitHashPolicy { settings.append(("xmit-hash-policy", YAMLWriter.scalar(policy.rawValue))) }
            if let minLinks = bond.minLinks { settings.append(("min-links", String(minLinks))) }
            if let primary = bond.primary { settings.append(("primary", YAMLWriter.scalar(primary.rawValue))) }
            nested = ("bond", settings)
        case .vlan(let vlan):
            var settings = [("parent", YAMLWriter.scalar(vlan.parent.rawValue)), ("id", String(vlan.id.value))]
            if vlan.proto != .dot1Q { settings.append(("protocol", YAMLWriter.scalar(vlan.proto.rawValue))) }
            nested = ("vlan", settings)
        case .bridge(let bridge):
            var settings = [("ports", YAMLWriter.flow(bridge.ports.map(\.rawValue)))]
            if bridge.vlanAware {
                settings.append(("vlan-aware", "true"))
                if let vids = bridge.vids { settings.append(("vids", YAMLWriter.quoted(vids.description))) }
                if let pvid = bridge.pvid { settings.append(("pvid", String(pvid.value))) }
            }
            if bridge.stp { settings.append(("stp", "true")) }
            nested = ("bridge", settings)
        }
        if let mtu = uplink.mtu { fields.append(("mtu", String(mtu.value))) }
        if !uplink.addresses.isEmpty { fields.append(("addresses", YAMLWriter.flow(uplink.addresses.map(\.description)))) }
        if let comment = uplink.comment { fields.append(("comment", YAMLWriter.quoted(comment))) }
        if nested == nil && fields.isEmpty {
            yaml.field(uplink.name.rawValue, "{}", indent: 3)
            return
        }
        yaml.open(uplink.name.rawValue, indent: 3)
        if let (key, settings) = nested {
            yaml.open(key, indent: 4)
            for (name, value) in settings { yaml.field(name, value, indent: 5) }
        }
        for (key, value) in fields { yaml.field(key, value, indent: 4) }
    }

    // MARK: policy documents

    private static func renderPolicies(_ firewall: FirewallImport, guests: [Int: ImportedGuest], tree: ProxmoxTree) -> [ImportResult.File] {
        var files: [ImportResult.File] = []
        if let cluster = firewall.cluster {
            var yaml = YAMLWriter()
            yaml.comment("The datacenter firewall, imported from Proxmox VE's firewall/cluster.fw.\nEach object names the line it came from; IMPORT-REPORT.txt lists what did not carry over one to one.")
            yaml.field("kind", "policy", indent: 0)
            renderObjects(firewall, guest: nil, tree: tree, into: &yaml)
            if !firewall.groups.isEmpty {
                yaml.open("groups", indent: 0)
                for group in firewall.groups {
                    yaml.comment(source(tree, group.location)!, indent: 1)
                    yaml.open(group.value.name, indent: 1)
                    if let comment = group.value.comment { yaml.field("comment", YAMLWriter.quoted(comment), indent: 2) }
                    renderRules(group.value.rules, indent: 2, tree: tree, into: &yaml)
                }
            }
            for note in cluster.notes { yaml.comment(note) }
            yaml.open("cluster", indent: 0)
            renderPolicyBody(cluster.policy, indent: 1, tree: tree, into: &yaml)
            files.append(.init(path: "Policies/cluster.yaml", text: yaml.text))
        }
        for node in firewall.nodes.sorted(by: { $0.policy.scope < $1.policy.scope }) {
            guard case .node(let name) = node.policy.scope else { continue }
            var yaml = YAMLWriter()
            yaml.comment("The host firewall of node \(name), imported from Proxmox VE" + (node.file.isEmpty ? "." : "'s \(node.file)."))
            yaml.field("kind", "policy", indent: 0)
            yaml.open("nodes", indent: 0)
            for note in node.notes { yaml.comment(note, indent: 1) }
            yaml.open(name, indent: 1)
            renderPolicyBody(node.policy, indent: 2, tree: tree, into: &yaml)
            files.append(.init(path: "Policies/nodes/\(name).yaml", text: yaml.text))
        }
        for vnet in firewall.vnets {
            guard case .vnet(let name) = vnet.policy.scope else { continue }
            var yaml = YAMLWriter()
            yaml.comment("The firewall of vnet \(name), imported from Proxmox VE's \(vnet.file).")
            yaml.field("kind", "policy", indent: 0)
            yaml.open("vnets", indent: 0)
            yaml.open(name, indent: 1)
            renderPolicyBody(vnet.policy, indent: 2, tree: tree, into: &yaml)
            files.append(.init(path: "Policies/vnets/\(name).yaml", text: yaml.text))
        }
        for (id, guest) in firewall.guestPolicies.sorted(by: { $0.key < $1.key }) {
            var yaml = YAMLWriter()
            yaml.comment("The firewall of guest \(id)" + (guests[id].map { " (\($0.guest.name))" } ?? "") + (guest.file.isEmpty ? ": Proxmox has no firewall/\(id).fw." : ", imported from Proxmox VE's \(guest.file)."))
            yaml.field("kind", "policy", indent: 0)
            renderObjects(firewall, guest: id, tree: tree, into: &yaml)
            yaml.open("guests", indent: 0)
            for note in guest.notes { yaml.comment(note, indent: 1) }
            yaml.open(String(id), indent: 1)
            renderPolicyBody(guest.policy, indent: 2, tree: tree, into: &yaml)
            files.append(.init(path: "Policies/guests/\(id).yaml", text: yaml.text))
        }
        return files
    }

    /// The aliases and IP sets one file defined: the datacenter's (`guest` nil) or one guest's.
    private static func renderObjects(_ firewall: FirewallImport, guest: Int?, tree: ProxmoxTree, into yaml: inout YAMLWriter) {
        let aliases = firewall.aliases.filter { $0.guest == guest }
        let ipsets = firewall.ipsets.filter { $0.guest == guest }
        if !aliases.isEmpty {
            yaml.open("aliases", indent: 0)
            for alias in aliases {
                yaml.comment(source(tree, alias.location)!, indent: 1)
                yaml.field(alias.value.name, YAMLWriter.scalar(alias.value.cidr.compactDescription), indent: 1, comment: alias.value.comment)
            }
        }
        guard !ipsets.isEmpty else { return }
        yaml.open("ipsets", indent: 0)
        for set in ipsets {
            yaml.comment(source(tree, set.location)!, indent: 1)
            yaml.open(set.value.name, indent: 1)
            if let comment = set.value.comment { yaml.field("comment", YAMLWriter.quoted(comment), indent: 2) }
            if set.value.entries.isEmpty {
                yaml.field("entries", "[]", indent: 2)
                continue
            }
            yaml.open("entries", indent: 2)
            for (entry, location) in zip(set.value.entries, set.entryLocations) {
                yaml.item(YAMLWriter.quoted(entry.description), indent: 3, comment: "\(location.file):\(location.line)" + (entry.comment.map { " — \($0)" } ?? ""))
            }
        }
    }

    private static func renderPolicyBody(_ policy: FirewallPolicy, indent: Int, tree: ProxmoxTree, into yaml: inout YAMLWriter) {
        let options = optionFields(policy.options)
        if options.isEmpty {
            yaml.field("options", "{}", indent: indent)
        } else {
            yaml.open("options", indent: indent)
            for (key, value) in options { yaml.field(key, value, indent: indent + 1) }
        }
        renderRules(policy.rules, indent: indent, tree: tree, into: &yaml)
    }

    private static func optionFields(_ options: FirewallOptions) -> [(String, String)] {
        var fields: [(String, String)] = []
        func add(_ key: String, _ value: String?) { if let value { fields.append((key, value)) } }
        add("enable", options.enable.map(YAMLWriter.bool))
        add("policy-in", options.policyIn?.rawValue)
        add("policy-out", options.policyOut?.rawValue)
        add("policy-forward", options.policyForward?.rawValue)
        add("macfilter", options.macfilter.map(YAMLWriter.bool))
        add("ipfilter", options.ipfilter.map(YAMLWriter.bool))
        add("dhcp", options.dhcp.map(YAMLWriter.bool))
        add("ndp", options.ndp.map(YAMLWriter.bool))
        add("radv", options.radv.map(YAMLWriter.bool))
        add("log-level-in", options.logLevelIn?.rawValue)
        add("log-level-out", options.logLevelOut?.rawValue)
        add("log-level-forward", options.logLevelForward?.rawValue)
        add("log-rate-limit", options.logRateLimit.map { YAMLWriter.quoted($0.description) })
        add("nosmurfs", options.nosmurfs.map(YAMLWriter.bool))
        add("tcpflags", options.tcpflags.map(YAMLWriter.bool))
        add("allow-invalid", options.allowInvalid.map(YAMLWriter.bool))
        return fields
    }

    private static func renderRules(_ rules: [FirewallRule], indent: Int, tree: ProxmoxTree, into yaml: inout YAMLWriter) {
        guard !rules.isEmpty else {
            yaml.field("rules", "[]", indent: indent)
            return
        }
        yaml.open("rules", indent: indent)
        for rule in rules {
            if let origin = source(tree, rule.origin) { yaml.comment(origin, indent: indent + 1) }
            yaml.item(YAMLWriter.quoted(ruleLine(rule)), indent: indent + 1)
        }
    }

    /// The one-line form our loader reads back into the same rule.
    static func ruleLine(_ rule: FirewallRule) -> String {
        var line: String = switch rule.body {
        case .match(let match): match.oneLine
        case .group(let name, let iface): "group \(name)" + (iface.map { " iface \($0)" } ?? "")
        }
        if !rule.enabled { line += " disabled" }
        if let comment = rule.comment { line += " # \(comment)" }
        return line
    }
}
