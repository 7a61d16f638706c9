public import SDNModel

/// Renders a desired state back into the documents' schema. The output loads back into the same state.
public enum ConfigRenderer {
    /// How firewall options are written.
    public enum Style: Sendable, Hashable {
        /// Every option resolved through inheritance (cluster → node/vnet/guest → defaults), as `sdn show`
        /// prints it: what is in force, spelled out.
        case resolved
        /// Only what each policy itself sets, and only the policies that exist: what the daemon writes
        /// back after an edit, so that an option inherited from the cluster stays inherited (a resolved
        /// rendering would freeze it into every policy).
        case asWritten
    }

    public static func topology(_ state: DesiredState) -> RenderedTree {
        var document: [(String, RenderedTree)] = [("kind", .string("topology"))]
        document.append(("nodes", .map(state.nodes.map { ($0.name, node($0)) })))
        document.append(("zones", .map(state.zones.map { ($0.name, zone($0)) })))
        document.append(("vnets", .map(state.vnets.map { ($0.name, vnet($0)) })))
        document.append(("guests", .map(state.guests.map { (String($0.id), guest($0)) })))
        return .map(document)
    }

    public static func policy(_ state: DesiredState, style: Style = .resolved) -> RenderedTree {
        let firewall = state.firewall
        var document: [(String, RenderedTree)] = [("kind", .string("policy"))]
        document.append(("aliases", .map(firewall.aliases.map { alias in
            (alias.name, alias.comment == nil ? .string(alias.cidr.compactDescription)
                : .map([("cidr", .string(alias.cidr.compactDescription)), ("comment", .string(alias.comment!))]))
        })))
        document.append(("ipsets", .map(firewall.ipsets.map { set in
            let entries = RenderedTree.list(set.entries.map { .string($0.description) })
            return (set.name, set.comment == nil ? entries : .map([("comment", .string(set.comment!)), ("entries", entries)]))
        })))
        document.append(("groups", .map(firewall.groups.map { group in
            var fields: [(String, RenderedTree)] = []
            if let comment = group.comment { fields.append(("comment", .string(comment))) }
            fields.append(("rules", rules(group.rules)))
            return (group.name, .map(fields))
        })))
        func options(of policy: FirewallPolicy) -> FirewallOptions {
            style == .resolved ? firewall.effectiveOptions(for: policy.scope) : policy.options
        }
        // The loader treats an empty cluster policy as "not written"; as written, it stays unwritten.
        if style == .resolved || firewall.cluster != FirewallPolicy(scope: .cluster) {
            document.append(("cluster", policyBody(firewall.cluster, options: options(of: firewall.cluster))))
        }
        func bodies(_ policies: [FirewallPolicy]) -> RenderedTree {
            .map(policies.map { ($0.scope.key, policyBody($0, options: options(of: $0))) })
        }
        document.append(("nodes", bodies(firewall.nodes)))
        document.append(("vnets", bodies(firewall.vnets)))
        document.append(("guests", bodies(firewall.guests)))
        return .map(document)
    }

    /// Both documents, as `sdn show` prints them.
    public static func documents(_ state: DesiredState, style: Style = .resolved) -> [RenderedTree] { [topology(state), policy(state, style: style)] }

    /// A rule as one line of a `rules:` list: `id X` first when the id is explicit, then the canonical
    /// form, `disabled`, and `# comment`.
    public static func ruleLine(_ rule: FirewallRule) -> String {
        var line = rule.hasExplicitID ? "id \(rule.id) " : ""
        line += rule.canonicalText
        if !rule.enabled { line += " disabled" }
        if let comment = rule.comment { line += " # \(comment)" }
        return line
    }

    // MARK: topology

    private static func node(_ node: Node) -> RenderedTree {
        var fields: [(String, RenderedTree)] = []
        if let address = node.address { fields.append(("address", .string(address.description))) }
        fields.append(("management", .list(node.management.map { .string($0.compactDescription) })))
        fields.append(("api-port", .integer(Int(node.apiPort))))
        fields.append(("uplinks", .map(node.uplinks.map { ($0.name.rawValue, uplink($0)) })))
        return .map(fields)
    }

    private static func uplink(_ uplink: Uplink) -> RenderedTree {
        var fields: [(String, RenderedTree)] = []
        switch uplink.kind {
        case .physical(let mac):
            if let mac { fields.append(("mac", .string(mac.description))) }
        case .bond(let bond):
            var settings: [(String, RenderedTree)] = [
                ("mode", .string(bond.mode.rawValue)),
                ("members", .list(bond.members.map { .string($0.rawValue) })),
                ("miimon", .integer(bond.miimon)),
            ]
            if let rate = bond.lacpRate { settings.append(("lacp-rate", .string(rate.rawValue))) }
            if let policy = bond.transmitHashPolicy { settings.append(("xmit-hash-policy", .string(policy.rawValue))) }
            if let minLinks = bond.minLinks { settings.append(("min-links", .integer(minLinks))) }
            if let primary = bond.primary { settings.append(("primary", .string(primary.rawValue))) }
            fields.append(("bond", .map(settings)))
        case .vlan(let vlan):
            fields.append(("vlan", .map([("parent", .string(vlan.parent.rawValue)), ("id", .integer(vlan.id.value)), ("protocol", .string(vlan.proto.rawValue))])))
        case .bridge(let bridge):
            var settings: [(String, RenderedTree)] = [
                ("ports", .list(bridge.ports.map { .string($0.rawValue) })),
                ("vlan-aware", .bool(bridge.vlanAware)),
            ]
            if bridge.vlanAware {
                settings.append(("vids", .string((bridge.vids ?? Bridge.defaultVIDs).description)))
                if let pvid = bridge.pvid { settings.append(("pvid", .integer(pvid.value))) }
            }
            settings.append(("stp", .bool(bridge.stp)))
            fields.append(("bridge", .map(settings)))
        }
        if let mtu = uplink.mtu { fields.append(("mtu", .integer(mtu.value))) }
        if !uplink.addresses.isEmpty { fields.append(("addresses", .list(uplink.addresses.map { .string($0.description) }))) }
        if let comment = uplink.comment { fields.append(("comment", .string(comment))) }
        return .map(fields)
    }

    private static func zone(_ zone: Zone) -> RenderedTree {
        var fields: [(String, RenderedTree)] = [("type", .string(zone.kindName))]
        if let nodes = zone.nodes { fields.append(("nodes", .list(nodes.map { .string($0) }))) }
        if let mtu = zone.mtu { fields.append(("mtu", .integer(mtu.value))) }
        switch zone.kind {
        case .simple: break
        case .vlan(let bridge): fields.append(("bridge", .string(bridge.rawValue)))
        case .qinq(let bridge, let tag, let proto):
            fields += [("bridge", .string(bridge.rawValue)), ("service-tag", .integer(tag.value)), ("service-protocol", .string(proto.rawValue))]
        case .vxlan(let vxlan):
            switch vxlan.peers {
            case .allNodes: fields.append(("peers", .string("all")))
            case .addresses(let addresses): fields.append(("peers", .list(addresses.map { .string($0.description) })))
            }
            fields.append(("port", .integer(Int(vxlan.port))))
        case .evpn(let evpn):
            fields += [("controller", .string(evpn.controller)), ("vrf-vni", .integer(evpn.vrfVNI.value)),
                       ("exit-nodes", .list(evpn.exitNodes.map { .string($0) })), ("port", .integer(Int(evpn.port)))]
        }
        return .map(fields)
    }

    private static func vnet(_ vnet: VNet) -> RenderedTree {
        var fields: [(String, RenderedTree)] = [("zone", .string(vnet.zone))]
        if let tag = vnet.tag { fields.append(("tag", .integer(tag))) }
        fields += [("vlan-aware", .bool(vnet.vlanAware)), ("isolate-ports", .bool(vnet.isolatePorts)), ("mac-learning", .bool(vnet.macLearning)),
                   ("unknown-ports", .string(vnet.unknownPorts.rawValue))]
        if let alias = vnet.alias { fields.append(("alias", .string(alias))) }
        if let mtu = vnet.mtu { fields.append(("mtu", .integer(mtu.value))) }
        fields.append(("subnets", .map(vnet.subnets.map { subnet in
            var settings: [(String, RenderedTree)] = []
            if let gateway = subnet.gateway { settings.append(("gateway", .string(gateway.description))) }
            settings.append(("snat", .bool(subnet.snat)))
            settings.append(("dhcp", .list(subnet.dhcpRanges.map { .string($0.description) })))
            if let dns = subnet.dnsServer { settings.append(("dns", .string(dns.description))) }
            return (subnet.cidr.compactDescription, .map(settings))
        })))
        return .map(fields)
    }

    private static func guest(_ guest: Guest) -> RenderedTree {
        .map([
            ("name", .string(guest.name)),
            ("kind", .string(guest.kind.rawValue)),
            ("node", .string(guest.node)),
            ("nics", .map(guest.nics.map { nic in
                var fields: [(String, RenderedTree)] = []
                switch nic.attachment {
                case .vnet(let name): fields.append(("vnet", .string(name)))
                case .bridge(let bridge): fields.append(("bridge", .string(bridge.rawValue)))
                }
                if let mac = nic.mac { fields.append(("mac", .string(mac.description))) }
                if let tag = nic.tag { fields.append(("tag", .integer(tag.value))) }
                if let trunks = nic.trunks { fields.append(("trunks", .string(trunks.description))) }
                fields.append(("firewall", .bool(nic.firewall)))
                fields.append(("ip", .list(nic.ips.map { .string($0.compactDescription) })))
                if let rate = nic.rateLimit { fields.append(("rate", .number(rate))) }
                return (nic.key, .map(fields))
            })),
        ])
    }

    // MARK: policy

    private static func policyBody(_ policy: FirewallPolicy, options: FirewallOptions) -> RenderedTree {
        let written = self.options(options, scope: policy.scope)
        return .map((written == .map([]) ? [] : [("options", written)]) + [("rules", rules(policy.rules))])
    }

    private static func options(_ options: FirewallOptions, scope: PolicyScope) -> RenderedTree {
        var fields: [(String, RenderedTree)] = []
        func add(_ key: String, _ value: RenderedTree?) { if let value { fields.append((key, value)) } }
        let isGuest: Bool = if case .guest = scope { true } else { false }
        let isVNet: Bool = if case .vnet = scope { true } else { false }
        add("enable", options.enable.map { .bool($0) })
        if !isVNet {
            add("policy-in", options.policyIn.map { .string($0.rawValue) })
            add("policy-out", options.policyOut.map { .string($0.rawValue) })
        }
        if !isGuest { add("policy-forward", options.policyForward.map { .string($0.rawValue) }) }
        add("macfilter", options.macfilter.map { .bool($0) })
        add("ipfilter", options.ipfilter.map { .bool($0) })
        add("dhcp", options.dhcp.map { .bool($0) })
        add("ndp", options.ndp.map { .bool($0) })
        add("radv", options.radv.map { .bool($0) })
        add("dhcp-server", options.dhcpServer.map { .bool($0) })
        add("log-level-in", options.logLevelIn.map { .string($0.rawValue) })
        add("log-level-out", options.logLevelOut.map { .string($0.rawValue) })
        add("log-level-forward", options.logLevelForward.map { .string($0.rawValue) })
        add("log-rate-limit", options.logRateLimit.map { .string($0.description) })
        add("nosmurfs", options.nosmurfs.map { .bool($0) })
        add("tcpflags", options.tcpflags.map { .bool($0) })
        add("allow-invalid", options.allowInvalid.map { .bool($0) })
        if !isGuest && !isVNet { add("failsafe", options.failsafe.map { .bool($0) }) }
        return .map(fields)
    }

    private static func rules(_ rules: [FirewallRule]) -> RenderedTree {
        .list(rules.map { .string(ruleLine($0)) })
    }
}
