import SDNModel

/// A firewall policy produced by the import, and the file it came from.
struct ImportedPolicy {
    var file: String
    var policy: FirewallPolicy
    /// Lines explaining the policy as a whole (rendered as YAML comments above it).
    var notes: [String] = []
}

/// A named object (alias, IP set, group) and where it was defined.
struct Located<Value> {
    var value: Value
    var location: SourceLocation
    /// Where each entry of a list came from (IP set entries, group rules), in order.
    var entryLocations: [SourceLocation] = []
    /// The guest whose firewall file defined it (rendered with that guest's policy), or nil.
    var guest: Int? = nil
}

/// Maps Proxmox firewall files into our firewall model: names, options, rules, IP sets.
struct FirewallImport {
    var accounting: Accounting
    /// Guests known from their configs, by id (NIC checks, `ipfilter-netN` → NIC addresses).
    var guests: [Int: ImportedGuest]
    /// Node names known from `nodes/`.
    var nodeNames: [String]
    /// Vnet names known from `sdn/vnets.cfg`.
    var vnetNames: Set<String>

    var aliases: [Located<Alias>] = []
    var ipsets: [Located<IPSet>] = []
    var groups: [Located<SecurityGroup>] = []
    var cluster: ImportedPolicy?
    var nodes: [ImportedPolicy] = []
    var guestPolicies: [Int: ImportedPolicy] = [:]
    var vnets: [ImportedPolicy] = []

    /// Cluster-level names (lower-cased, as Proxmox matches them) → our names.
    private var clusterAliases: [String: String] = [:]
    private var clusterIPSets: [String: String] = [:]
    /// Guest-level names → our (prefixed) names.
    private var guestAliases: [Int: [String: String]] = [:]
    private var guestIPSets: [Int: [String: String]] = [:]
    private var groupNames: Set<String> = []
    /// Every name given to an alias or IP set so far (they share `@name` in our rules).
    private var usedNames: Set<String> = []

    init(accounting: Accounting, guests: [Int: ImportedGuest], nodeNames: [String], vnetNames: Set<String>) {
        self.accounting = accounting
        self.guests = guests
        self.nodeNames = nodeNames
        self.vnetNames = vnetNames
    }

    enum RuleScope: Equatable {
        case cluster, host(String), guest(Int), vnet(String), group(String)

        var policyScope: PolicyScope? {
            switch self {
            case .cluster: .cluster
            case .host(let node): .node(node)
            case .guest(let id): .guest(id)
            case .vnet(let name): .vnet(name)
            case .group: nil
            }
        }

        var what: String {
            switch self {
            case .cluster: "the cluster firewall"
            case .host(let node): "the host firewall of \(node)"
            case .guest(let id): "the firewall of guest \(id)"
            case .vnet(let name): "the firewall of vnet \(name)"
            case .group(let name): "security group \(name)"
            }
        }
    }

    // MARK: files

    /// `firewall/cluster.fw`: aliases, IP sets and groups first (rules refer to them), then options and rules.
    mutating func importCluster(_ file: PVEFirewallFile) {
        for alias in file.aliases { importAlias(alias, guest: nil) }
        for set in file.ipsets { importIPSet(set, guest: nil) }
        for group in file.groups {
            groupNames.insert(group.name)
        }
        for group in file.groups {
            var rules: [FirewallRule] = []
            var locations: [SourceLocation] = []
            for rule in group.rules {
                if let converted = convert(rule, scope: .group(group.name)) {
                    rules.append(converted)
                    locations.append(rule.line.location)
                }
            }
            groups.append(Located(value: SecurityGroup(name: group.name, comment: group.comment, rules: rules), location: group.header.location, entryLocations: locations))
        }
        var policy = FirewallPolicy(scope: .cluster)
        var notes: [String] = []
        var sawEnable = false
        for option in file.options {
            if option.key.lowercased() == "enable" { sawEnable = true }
            importClusterOption(option, into: &policy.options)
        }
        if !sawEnable {
            // pve-firewall's datacenter default: the whole firewall is off until `enable: 1`.
            policy.options.enable = false
            notes.append("no 'enable' option: Proxmox keeps the whole firewall off, so this import does too (enable: false)")
        }
        policy.rules = file.rules.compactMap { convert($0, scope: .cluster) }
        if ipsets.contains(where: { $0.value.name == "management" }) {
            notes.append("IP set 'management' (Proxmox's failsafe sources) also became every node's management networks")
        }
        cluster = ImportedPolicy(file: file.path, policy: policy, notes: notes)
    }

    /// `nodes/<node>/host.fw`.
    mutating func importHost(_ file: PVEFirewallFile, node: String) {
        var policy = FirewallPolicy(scope: .node(node))
        for option in file.options { importHostOption(option, into: &policy.options) }
        policy.rules = file.rules.compactMap { convert($0, scope: .host(node)) }
        nodes.append(ImportedPolicy(file: file.path, policy: policy))
    }

    /// `sdn/firewall/<vnet>.fw` (Proxmox VE 8.3+): forwarded traffic of one vnet.
    mutating func importVNet(_ file: PVEFirewallFile, vnet: String) {
        guard vnetNames.contains(vnet) else {
            for option in file.options { accounting.dropped(option.line, meaning: "an option of vnet \(vnet)'s firewall", reason: "sdn/vnets.cfg defines no vnet '\(vnet)'") }
            for rule in file.rules { accounting.dropped(rule.line, meaning: "a rule of vnet \(vnet)'s firewall", reason: "sdn/vnets.cfg defines no vnet '\(vnet)'") }
            return
        }
        var policy = FirewallPolicy(scope: .vnet(vnet))
        for option in file.options { importVNetOption(option, into: &policy.options) }
        policy.rules = file.rules.compactMap { convert($0, scope: .vnet(vnet)) }
        vnets.append(ImportedPolicy(file: file.path, policy: policy))
    }

    /// `firewall/<vmid>.fw`. Guest options do not inherit from the datacenter in Proxmox, so the
    /// policies are written out explicitly (ours would otherwise inherit the cluster's).
    mutating func importGuest(_ file: PVEFirewallFile?, id: Int) {
        guard let guest = guests[id] else {
            guard let file else { return }
            let reason = "no nodes/*/qemu-server/\(id).conf or lxc/\(id).conf defines guest \(id)"
            for option in file.options { accounting.dropped(option.line, meaning: "an option of guest \(id)'s firewall", reason: reason) }
            for alias in file.aliases { accounting.dropped(alias.line, meaning: "an alias of guest \(id)", reason: reason) }
            for set in file.ipsets {
                accounting.dropped(set.header, meaning: "IP set '\(set.name)' of guest \(id)", reason: reason)
                for entry in set.entries { accounting.dropped(entry.line, meaning: "an entry of IP set '\(set.name)'", reason: reason) }
            }
            for rule in file.rules { accounting.dropped(rule.line, meaning: "a rule of guest \(id)'s firewall", reason: reason) }
            return
        }
        var policy = FirewallPolicy(scope: .guest(id))
        guard let file else {
            // Without a .fw file pve-firewall builds no chains for the guest: nothing is filtered.
            policy.options.enable = false
            guestPolicies[id] = ImportedPolicy(file: "", policy: policy, notes: [
                "no firewall/\(id).fw: Proxmox filters nothing for this guest (not even MAC spoofing), so its firewall is off here too",
            ])
            return
        }
        for alias in file.aliases { importAlias(alias, guest: id) }
        var ipfilterSets: [Int: PVEFirewallFile.IPSetSection] = [:]
        for set in file.ipsets {
            if set.name.hasPrefix("ipfilter-net"), let index = Int(set.name.dropFirst("ipfilter-net".count)) {
                ipfilterSets[index] = set
            } else {
                importIPSet(set, guest: id)
            }
        }
        var notes: [String] = []
        var enableLine: SourceLine?
        var options = FirewallOptions()
        for option in file.options {
            if option.key.lowercased() == "enable" { enableLine = option.line }
            importGuestOption(option, into: &options)
        }
        if enableLine == nil {
            options.enable = false
            notes.append("no 'enable' option: Proxmox leaves this guest's rules off (its default is enable: 0)")
        }
        if options.enable == false {
            notes.append("with the firewall off Proxmox still filters the NICs' MAC (and IP with ipfilter) source addresses; sdn filters nothing for a disabled guest")
            let location = enableLine?.location ?? SourceLocation(file: file.path, line: 1, column: 1)
            accounting.note(.changed, at: location, input: enableLine.map { String($0.text) } ?? "(no enable option)",
                            meaning: "the guest's rules and policies are off; its NICs' source MAC (and, with ipfilter, IP) are still checked",
                            action: "enable: false: nothing is filtered for this guest",
                            reason: "sdn's guest firewall is on or off as a whole; turn it on (with accepting policies) to keep the source checks")
        }
        // Proxmox's guest defaults, written out so they do not inherit the datacenter's policies.
        options.policyIn = options.policyIn ?? .drop
        options.policyOut = options.policyOut ?? .accept
        importIPFilter(ipfilterSets, guest: guest, options: &options, notes: &notes)
        policy.options = options
        for rule in file.rules {
            guard let converted = convert(rule, scope: .guest(id)) else { continue }
            policy.rules.append(converted)
            if options.enable != false, converted.enabled, let why = rejectsInbound(converted) { noteInboundReject(at: rule.line, why) }
        }
        if options.enable != false, options.policyIn == .reject, let option = file.options.last(where: { $0.key.lowercased() == "policy_in" }) {
            noteInboundReject(at: option.line, "refuse inbound traffic no rule accepts, with a TCP reset or an ICMP unreachable")
        }
        if ipsets.contains(where: { $0.value.name == "blacklist" }) {
            policy.rules.insert(blacklistRule(), at: 0)
            notes.append("the datacenter's 'blacklist' IP set is dropped first, as Proxmox does for every guest")
        }
        guestPolicies[id] = ImportedPolicy(file: file.path, policy: policy, notes: notes)
    }

    /// What a guest rule rejects inbound, in Proxmox's words, or nil when it rejects nothing inbound.
    private func rejectsInbound(_ rule: FirewallRule) -> String? {
        switch rule.body {
        case .match(let match):
            return match.direction == .in && match.action == .reject ? "refuse this inbound traffic with a TCP reset or an ICMP unreachable" : nil
        case .group(let name, _):
            let group = groups.first { $0.value.name == name }?.value
            let rejects = group?.rules.contains { rule in
                guard rule.enabled, case .match(let match) = rule.body else { return false }
                return match.direction == .in && match.action == .reject
            } ?? false
            return rejects ? "security group \(name)'s IN REJECT rules refuse inbound traffic with a TCP reset or an ICMP unreachable" : nil
        }
    }

    /// A guest's inbound REJECT: the full layout (bridge conntrack: Debian's and Proxmox's kernels) runs
    /// guests' inbound chains on the bridge forward and output hooks, where the kernel refuses reject,
    /// so it drops there (`sdn compile` warns `reject-inbound-drops`); the minimal layout answers.
    private mutating func noteInboundReject(at line: SourceLine, _ meaning: String) {
        accounting.changed(line, meaning: meaning,
                           action: "reject; on kernels with bridge conntrack (sdn's full layout, e.g. Debian's and Proxmox's) the packet is dropped without an answer",
                           reason: "the kernel refuses reject on the bridge hooks where a guest's inbound traffic is filtered (forward, output); sdn compile warns reject-inbound-drops")
    }

    /// `[IPSET ipfilter-netN]`: the addresses NIC N may send from. Proxmox filters a NIC's source
    /// addresses when the guest has `ipfilter: 1` or when such a set exists; ours filters per guest,
    /// from each NIC's `ip` list.
    private mutating func importIPFilter(_ sets: [Int: PVEFirewallFile.IPSetSection], guest: ImportedGuest, options: inout FirewallOptions, notes: inout [String]) {
        for (index, set) in sets.sorted(by: { $0.key < $1.key }) {
            guard let nicIndex = guest.guest.nics.firstIndex(where: { $0.index == index }) else {
                accounting.dropped(set.header, meaning: "the source addresses net\(index) may use", reason: "guest \(guest.guest.id) has no net\(index)")
                for entry in set.entries { accounting.dropped(entry.line, meaning: "an address net\(index) may use", reason: "guest \(guest.guest.id) has no net\(index)") }
                continue
            }
            accounting.mapped(set.header)
            for entry in set.entries {
                if entry.excluded {
                    accounting.dropped(entry.line, meaning: "an address carved out of what net\(index) may use", reason: "a NIC's ip list has no exclusions")
                    continue
                }
                var prefix = ProxmoxValues.prefix(entry.value)
                if prefix == nil, let alias = resolveAliasName(entry.value, guest: guest.guest.id) {
                    prefix = aliases.first { $0.value.name == alias }?.value.cidr
                }
                guard let prefix else {
                    accounting.dropped(entry.line, meaning: "an address range or unknown alias net\(index) may use", reason: "a NIC's ip list holds addresses and prefixes only")
                    continue
                }
                if !guests[guest.guest.id]!.guest.nics[nicIndex].ips.contains(prefix) {
                    guests[guest.guest.id]!.guest.nics[nicIndex].ips.append(prefix)
                }
                accounting.mapped(entry.line)
            }
            if options.ipfilter != true {
                options.ipfilter = true
                accounting.changed(set.header, meaning: "the set's existence turns source-address filtering on for net\(index)",
                                   action: "ipfilter: true for the guest, the set's addresses in net\(index)'s ip list",
                                   reason: "sdn's ipfilter is a guest option; " + (guest.guest.nics.count > sets.count ? "this guest's other NICs are filtered too (by their own ip lists)" : "every NIC of this guest has a set"))
            }
        }
        if options.ipfilter == true {
            notes.append("ipfilter: Proxmox also allows each NIC's MAC-derived IPv6 link-local address implicitly")
        }
    }

    /// Proxmox drops traffic from the datacenter's `blacklist` IP set before any rule, on hosts and guests.
    func blacklistRule() -> FirewallRule {
        FirewallRule(id: "", hasExplicitID: false, body: .match(RuleMatch(direction: .in, action: .drop, source: [.reference(ourIPSetName("blacklist"))])),
                     comment: "Proxmox: traffic from IP set blacklist is dropped")
    }

    private func ourIPSetName(_ name: String) -> String { clusterIPSets[name] ?? name }

    // MARK: aliases and IP sets

    private mutating func claim(_ preferred: String) -> String {
        var name = preferred
        var counter = 2
        while usedNames.contains(name) {
            name = "\(preferred)-\(counter)"
            counter += 1
        }
        usedNames.insert(name)
        return name
    }

    private mutating func importAlias(_ alias: PVEFirewallFile.AliasLine, guest: Int?) {
        let lower = alias.name.lowercased()
        if let problem = PVEFirewallFile.nameProblem(lower, maximumLength: 64) {
            accounting.error(.pveInvalidName, "invalid alias name: \(problem)", at: alias.line.location(of: alias.name))
            return
        }
        guard let cidr = ProxmoxValues.prefix(alias.cidr) else {
            accounting.error(.pveInvalidAddress, "'\(alias.cidr)' is not an address or CIDR", at: alias.line.location(of: alias.cidr), hint: "aliases name one address or network, e.g. 192.0.2.0/24")
            return
        }
        let existing = guest.map { guestAliases[$0]?[lower] } ?? clusterAliases[lower]
        if existing != nil {
            accounting.error(.pveDuplicateName, "alias '\(alias.name)' is defined twice", at: alias.line.location(of: alias.name))
            return
        }
        let name = claim(guest.map { "vm\($0)-\(lower)" } ?? lower)
        if let guest { guestAliases[guest, default: [:]][lower] = name } else { clusterAliases[lower] = name }
        aliases.append(Located(value: Alias(name: name, cidr: cidr, comment: alias.comment), location: alias.line.location, guest: guest))
        if guest != nil {
            accounting.changed(alias.line, input: alias.name, meaning: "alias '\(lower)' of guest \(guest!)'s firewall (seen only by that guest's rules)",
                               action: "alias '\(name)' of the whole configuration; the guest's rules refer to it by that name",
                               reason: "sdn's aliases are global; the guest's id in the name keeps it apart")
        } else if name != lower {
            accounting.changed(alias.line, input: alias.name, meaning: "alias '\(lower)'", action: "alias '\(name)'", reason: "an IP set already has this name, and sdn refers to both as @name")
        } else {
            accounting.mapped(alias.line)
        }
    }

    private mutating func importIPSet(_ set: PVEFirewallFile.IPSetSection, guest: Int?) {
        let known = guest.map { guestIPSets[$0]?[set.name] } ?? clusterIPSets[set.name]
        if known != nil {
            accounting.error(.pveDuplicateName, "IP set '\(set.name)' is defined twice", at: set.header.location)
            for entry in set.entries { accounting.ledger.mark(entry.line, .error) }
            return
        }
        let preferred = guest.map { "vm\($0)-\(set.name)" } ?? set.name
        let name = claim(preferred)
        if let guest { guestIPSets[guest, default: [:]][set.name] = name } else { clusterIPSets[set.name] = name }
        if guest != nil {
            accounting.changed(set.header, meaning: "IP set '\(set.name)' of guest \(guest!)'s firewall (seen only by that guest's rules, as +\(set.name) or +guest/\(set.name))",
                               action: "IP set '\(name)' of the whole configuration; the guest's rules refer to it by that name",
                               reason: "sdn's IP sets are global; the guest's id in the name keeps it apart")
        } else if name != preferred {
            accounting.changed(set.header, meaning: "IP set '\(set.name)'", action: "IP set '\(name)'", reason: "an alias already has this name, and sdn refers to both as @name")
        }
        var entries: [IPSet.Entry] = []
        var locations: [SourceLocation] = []
        var seen = Set<String>()
        for entry in set.entries {
            let value: IPSet.Entry.Value
            if let prefix = ProxmoxValues.prefix(entry.value) {
                value = .prefix(prefix)
            } else if entry.value.contains("-"), let range = try? IPRange(String(entry.value)) {
                value = .range(range)
            } else if let alias = resolveAliasName(entry.value, guest: guest) {
                value = .alias(alias)
            } else {
                let looksLikeName = entry.value.first?.isLetter == true && !entry.value.contains(":")
                accounting.error(looksLikeName ? .pveUndefinedAlias : .pveInvalidAddress,
                                 looksLikeName ? "no alias '\(entry.value)' is defined" : "'\(entry.value)' is not an address, CIDR or range",
                                 at: entry.line.location(of: entry.value),
                                 hint: looksLikeName ? "define it under [ALIASES]" : "write e.g. 10.0.0.0/24, 10.0.0.5 or 10.0.0.5-10.0.0.9")
                continue
            }
            let key = (entry.excluded ? "!" : "") + IPSet.Entry(value: value).description
            guard seen.insert(key).inserted else {
                // pve-firewall keeps the first of duplicate entries and ignores the rest.
                accounting.changed(entry.line, meaning: "a duplicate entry of IP set '\(set.name)'", action: "dropped (the first one is kept)", reason: "Proxmox ignores duplicate entries too")
                continue
            }
            entries.append(IPSet.Entry(value: value, excluded: entry.excluded, comment: entry.comment))
            locations.append(entry.line.location)
            accounting.mapped(entry.line)
        }
        accounting.mapped(set.header)
        ipsets.append(Located(value: IPSet(name: name, comment: set.comment, entries: entries), location: set.header.location, entryLocations: locations, guest: guest))
    }

    /// An alias reference (`name`, `dc/name`, `guest/name`) → our alias name; Proxmox looks in the
    /// guest's aliases first, then the datacenter's.
    private func resolveAliasName(_ text: Substring, guest: Int?) -> String? {
        let lower = text.lowercased()
        if lower.hasPrefix("dc/") { return clusterAliases[String(lower.dropFirst(3))] }
        if lower.hasPrefix("guest/") { return guest.flatMap { guestAliases[$0]?[String(lower.dropFirst(6))] } }
        return guest.flatMap { guestAliases[$0]?[lower] } ?? clusterAliases[lower]
    }

    private func resolveIPSetName(_ text: Substring, guest: Int?) -> String? {
        let lower = text.lowercased()
        if lower.hasPrefix("dc/") { return clusterIPSets[String(lower.dropFirst(3))] }
        if lower.hasPrefix("guest/") { return guest.flatMap { guestIPSets[$0]?[String(lower.dropFirst(6))] } }
        return guest.flatMap { guestIPSets[$0]?[lower] } ?? clusterIPSets[lower]
    }

    // MARK: rules

    /// One Proxmox rule → ours, or nil (with a located error) when it cannot be carried over.
    mutating func convert(_ rule: PVERule, scope: RuleScope) -> FirewallRule? {
        let line = rule.line
        let guestID: Int? = if case .guest(let id) = scope { id } else { nil }
        let type = rule.type.uppercased()
        var iface: String?
        if let value = rule.option("iface") {
            if case .guest(let id) = scope {
                guard value.hasPrefix("net"), let index = Int(value.dropFirst(3)), GuestNIC.validIndices.contains(index) else {
                    accounting.error(.pveInvalidInterface, "'\(value)' is not a guest NIC; write net0 … net31", at: line.location(of: value))
                    return nil
                }
                if guests[id]?.guest.nics.contains(where: { $0.index == index }) != true {
                    accounting.changed(line, input: value, meaning: "a rule for net\(index), which guest \(id) does not have: it never matches",
                                       action: "dropped", reason: "a rule that never matches has no effect in Proxmox either")
                    return nil
                }
            } else if let problem = InterfaceName.problem(with: value.filter { $0 != "+" && $0 != "*" }.description) {
                accounting.error(.pveInvalidInterface, "invalid interface '\(value)': \(problem)", at: line.location(of: value))
                return nil
            }
            // iptables writes an interface wildcard as `+`, nftables as `*`.
            iface = value.hasSuffix("+") ? String(value.dropLast()) + "*" : String(value)
        }

        if type == "GROUP" {
            if case .group = scope {
                accounting.error(.pveNestedGroup, "a security group cannot include another group", at: line.location(of: rule.type))
                return nil
            }
            if case .vnet = scope {
                accounting.error(.pveInvalidDirection, "vnet firewalls take FORWARD rules only", at: line.location(of: rule.type))
                return nil
            }
            let name = rule.action.lowercased()
            guard groupNames.contains(name) else {
                accounting.error(.pveUndefinedGroup, "no security group '\(rule.action)' is defined in firewall/cluster.fw", at: line.location(of: rule.action),
                                 hint: Suggestion.hint(for: name, in: groupNames.sorted()) ?? "define it with [group \(name)] in cluster.fw")
                return nil
            }
            accounting.mapped(line)
            return FirewallRule(id: "", hasExplicitID: false, body: .group(name: name, iface: iface), origin: line.location, enabled: rule.enabled, comment: rule.comment)
        }

        let direction: Direction
        switch type {
        case "IN": direction = .in
        case "OUT": direction = .out
        default: direction = .forward
        }
        switch scope {
        case .guest where direction == .forward:
            accounting.error(.pveInvalidDirection, "a guest firewall has no FORWARD rules", at: line.location(of: rule.type), hint: "use IN or OUT, or put the rule in the vnet's firewall")
            return nil
        case .vnet where direction != .forward:
            accounting.error(.pveInvalidDirection, "vnet firewalls take FORWARD rules only", at: line.location(of: rule.type))
            return nil
        default:
            break
        }
        let action: RuleAction = switch rule.action {
        case "ACCEPT": .accept
        case "DROP": .drop
        default: .reject
        }
        var match = RuleMatch(direction: direction, action: action, iface: iface)
        var droppedByMacro: [Substring] = []
        if let macroText = rule.macro {
            guard let macro = FirewallMacro.named(String(macroText)) else {
                accounting.error(.pveUnknownMacro, "'\(macroText)' is not a Proxmox firewall macro", at: line.location(of: macroText),
                                 hint: Suggestion.hint(for: String(macroText), in: FirewallMacro.catalog.map(\.name)))
                return nil
            }
            match.macro = macro.name
            // pve-firewall fills a macro's entries from the rule only where the macro leaves a field
            // open; every macro sets a protocol, so -p is ignored, and ports the macro sets win.
            for key in ["proto", "dport", "sport", "icmp-type"] { if let value = rule.option(key) { droppedByMacro.append(value) } }
        } else {
            if let protoText = rule.option("proto") {
                guard let proto = ProxmoxValues.proto(String(protoText)) else {
                    accounting.error(.pveUnknownProtocol, "'\(protoText)' is not a protocol name the importer knows", at: line.location(of: protoText),
                                     hint: "write the protocol number from /etc/protocols instead")
                    return nil
                }
                match.proto = proto
            }
            for key in ["dport", "sport"] {
                guard let text = rule.option(key) else { continue }
                guard let proto = match.proto, proto.hasPorts else {
                    accounting.error(.pvePortsWithoutProtocol, "-\(key) needs -p tcp, udp, udplite, dccp or sctp", at: line.location(of: text))
                    return nil
                }
                _ = proto
                switch ProxmoxValues.ports(text) {
                case .success(let ports):
                    if key == "dport" { match.dport = ports } else { match.sport = ports }
                case .failure(let failure):
                    accounting.error(.pveInvalidPort, failure.message, at: line.location(of: text).advanced(by: failure.offset), hint: "write ports like 22, 80,443 or 8000:8080")
                    return nil
                }
            }
            if let text = rule.option("icmp-type") {
                guard let proto = match.proto, proto.isICMP else {
                    accounting.error(.pveIcmpTypeWithoutIcmp, "-icmp-type needs -p icmp or -p icmpv6", at: line.location(of: text))
                    return nil
                }
                guard let translation = ProxmoxValues.icmpType(String(text), proto: proto) else {
                    accounting.error(.pveUnknownIcmpType, "'\(text)' is not an \(proto) type", at: line.location(of: text),
                                     hint: Suggestion.hint(for: String(text), in: ICMPType.knownNames(for: proto)))
                    return nil
                }
                match.icmpType = translation.type
                if let code = translation.droppedCode {
                    accounting.changed(line, input: text, meaning: "ICMP \(translation.type ?? "") with code \(code) only",
                                       action: "matches every code of \(translation.type ?? "the type")", reason: "sdn's rules match ICMP types, not codes")
                }
            }
        }
        for (key, side) in [("source", \RuleMatch.source), ("dest", \RuleMatch.destination)] {
            guard let text = rule.option(key) else { continue }
            guard let addresses = addresses(text, guest: guestID, line: line) else { return nil }
            match[keyPath: side] = addresses
        }
        if let text = rule.option("log") {
            guard let level = ProxmoxValues.logLevel(text) else {
                accounting.error(.pveInvalidLogLevel, "'\(text)' is not a log level", at: line.location(of: text),
                                 hint: "levels: \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
                return nil
            }
            match.log = level
        }
        for value in droppedByMacro {
            accounting.changed(line, input: value, meaning: "ignored by Proxmox: macro \(match.macro!) sets the protocol and ports itself",
                               action: "left out", reason: "sdn refuses a macro combined with a protocol or ports")
        }
        accounting.mapped(line)
        return FirewallRule(id: "", hasExplicitID: false, body: .match(match), origin: line.location, enabled: rule.enabled, comment: rule.comment)
    }

    /// `-source`/`-dest`: `+ipset` (or `+dc/…`, `+guest/…`), or a comma list of addresses, CIDRs,
    /// ranges and alias names (`dc/…`, `guest/…`).
    private mutating func addresses(_ text: Substring, guest: Int?, line: SourceLine) -> [AddressMatch]? {
        if text.hasPrefix("+") {
            guard let name = resolveIPSetName(text.dropFirst(), guest: guest) else {
                accounting.error(.pveUndefinedIpset, "no IP set '\(text.dropFirst())' is defined", at: line.location(of: text),
                                 hint: "define it with [IPSET \(text.dropFirst().lowercased())] in cluster.fw" + (guest.map { " or firewall/\($0).fw" } ?? ""))
                return nil
            }
            return [.reference(name)]
        }
        var result: [AddressMatch] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            // Alias names start with a letter and hold no '.' or ':' (which IPv4 and IPv6 addresses do).
            if let first = part.first, first.isLetter, !part.contains(":"), !part.contains(".") {
                guard let name = resolveAliasName(part, guest: guest) else {
                    accounting.error(.pveUndefinedAlias, "no alias '\(part)' is defined", at: line.location(of: part), hint: "define it under [ALIASES]")
                    return nil
                }
                result.append(.reference(name))
                continue
            }
            do {
                result.append(try AddressMatch(String(part)))
            } catch {
                accounting.error(.pveInvalidAddress, error.reason, at: line.location(of: part).advanced(by: error.offset))
                return nil
            }
        }
        return result
    }

    // MARK: options

    private mutating func unknownOption(_ option: PVEFirewallFile.Option, level: String, known: [String]) {
        accounting.error(.pveUnknownOption, "'\(option.key)' is not a \(level) firewall option", at: option.line.location(of: option.key),
                         hint: suggest(String(option.key), in: known, listing: "options: \(known.joined(separator: ", "))"))
    }

    private mutating func invalidValue(_ option: PVEFirewallFile.Option, expected: String) {
        accounting.error(.pveInvalidValue, "'\(option.value)' is not a valid value for \(option.key); expected \(expected)", at: option.line.location(of: option.value))
    }

    private mutating func bool(_ option: PVEFirewallFile.Option, _ set: (Bool) -> Void) {
        guard let value = ProxmoxValues.bool(option.value) else { return invalidValue(option, expected: "0 or 1") }
        set(value)
        accounting.mapped(option.line)
    }

    private mutating func level(_ option: PVEFirewallFile.Option, _ set: (LogLevel) -> Void) {
        guard let value = ProxmoxValues.logLevel(option.value) else { return invalidValue(option, expected: "a log level") }
        set(value)
        accounting.mapped(option.line)
    }

    private mutating func policyValue(_ option: PVEFirewallFile.Option, allowReject: Bool = true, _ set: (DefaultPolicy) -> Void) {
        guard let value = ProxmoxValues.policy(option.value), allowReject || value != .reject else {
            return invalidValue(option, expected: allowReject ? "ACCEPT, DROP or REJECT" : "ACCEPT or DROP")
        }
        set(value)
        accounting.mapped(option.line)
    }

    static let clusterOptionNames = ["enable", "ebtables", "policy_in", "policy_out", "policy_forward", "log_ratelimit"]

    private mutating func importClusterOption(_ option: PVEFirewallFile.Option, into options: inout FirewallOptions) {
        switch option.key.lowercased() {
        case "enable":
            guard let number = Int(option.value) else { return invalidValue(option, expected: "0 or 1") }
            if number > 1 {
                // A timestamp: pve-firewall's "enable for 60 seconds, then fall back" from the GUI.
                options.enable = false
                accounting.changed(option.line, input: option.value, meaning: "the firewall was enabled temporarily (a timestamp: off again 60 s later)",
                                   action: "enable: false", reason: "the temporary enable has long expired")
            } else {
                options.enable = number == 1
                accounting.mapped(option.line)
            }
        case "ebtables":
            accounting.changed(option.line, meaning: "generate ebtables rules (layer-2 filtering of guest frames)",
                               action: "not needed: sdn filters guest frames in the nftables bridge family, always",
                               reason: "MAC and ARP filtering are part of every guest NIC's chain")
        case "policy_in": policyValue(option) { options.policyIn = $0 }
        case "policy_out": policyValue(option) { options.policyOut = $0 }
        case "policy_forward": policyValue(option, allowReject: false) { options.policyForward = $0 }
        case "log_ratelimit":
            importLogRateLimit(option, into: &options)
        default:
            unknownOption(option, level: "datacenter", known: Self.clusterOptionNames)
        }
    }

    /// `log_ratelimit: enable=1,rate=1/second,burst=5`.
    private mutating func importLogRateLimit(_ option: PVEFirewallFile.Option, into options: inout FirewallOptions) {
        var enabled = true
        var rate = LogRateLimit.default
        for part in option.value.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { return invalidValue(option, expected: "enable=0|1,rate=N/unit,burst=N") }
            switch pair[0] {
            case "enable": enabled = ProxmoxValues.bool(pair[1]) ?? true
            case "rate":
                guard let parsed = try? LogRateLimit(String(pair[1])) else { return invalidValue(option, expected: "rate=N/second|minute|hour|day") }
                rate.rate = parsed.rate
                rate.unit = parsed.unit
            case "burst":
                guard let burst = Int(pair[1]), burst > 0 else { return invalidValue(option, expected: "burst=N") }
                rate.burst = burst
            default:
                return invalidValue(option, expected: "enable=0|1,rate=N/unit,burst=N")
            }
        }
        options.logRateLimit = rate
        if enabled {
            accounting.mapped(option.line)
        } else {
            accounting.dropped(option.line, meaning: "log without a rate limit", reason: "sdn always rate-limits log statements; the rate given (or the default) is used")
        }
    }

    static let hostOptionNames = [
        "enable", "nosmurfs", "tcpflags", "ndp", "log_level_in", "log_level_out", "log_level_forward", "nf_conntrack_allow_invalid",
        "smurf_log_level", "tcp_flags_log_level", "log_nf_conntrack", "nf_conntrack_max", "nf_conntrack_tcp_timeout_established",
        "nf_conntrack_tcp_timeout_syn_recv", "nf_conntrack_helpers", "protection_synflood", "protection_synflood_rate",
        "protection_synflood_burst", "nftables",
    ]

    private mutating func importHostOption(_ option: PVEFirewallFile.Option, into options: inout FirewallOptions) {
        let key = option.key.lowercased()
        switch key {
        case "enable": bool(option) { options.enable = $0 }
        case "nosmurfs": bool(option) { options.nosmurfs = $0 }
        case "tcpflags": bool(option) { options.tcpflags = $0 }
        case "ndp": bool(option) { options.ndp = $0 }
        case "nf_conntrack_allow_invalid": bool(option) { options.allowInvalid = $0 }
        case "log_level_in": level(option) { options.logLevelIn = $0 }
        case "log_level_out": level(option) { options.logLevelOut = $0 }
        case "log_level_forward": level(option) { options.logLevelForward = $0 }
        case "smurf_log_level", "tcp_flags_log_level":
            accounting.dropped(option.line, meaning: "log the packets the \(key == "smurf_log_level" ? "smurf" : "TCP flag") filter drops, at this level",
                               reason: "sdn has no log level per built-in filter")
        case "log_nf_conntrack":
            accounting.dropped(option.line, meaning: "log new conntrack entries (pvefw-logger)", reason: "sdn has no conntrack event logging")
        case "nf_conntrack_max", "nf_conntrack_tcp_timeout_established", "nf_conntrack_tcp_timeout_syn_recv", "nf_conntrack_helpers":
            accounting.dropped(option.line, meaning: "a conntrack sysctl or helper setting pve-firewall applies to the host",
                               reason: "sdn does not manage sysctls or conntrack helpers; set them in /etc/sysctl.d or with nf_conntrack module options")
        case "protection_synflood", "protection_synflood_rate", "protection_synflood_burst":
            accounting.dropped(option.line, meaning: "SYN flood protection (rate-limit new TCP connections per source)", reason: "sdn has no SYN flood limiter")
        case "nftables":
            accounting.changed(option.line, meaning: "use the nftables-based proxmox-firewall instead of iptables",
                               action: "nothing to do: sdn always uses nftables", reason: "there is no iptables backend")
        default:
            unknownOption(option, level: "host", known: Self.hostOptionNames)
        }
    }

    static let guestOptionNames = [
        "enable", "dhcp", "ndp", "radv", "macfilter", "ipfilter", "ips", "ips_queues", "log_level_in", "log_level_out",
        "policy_in", "policy_out", "layer2_protocols",
    ]

    private mutating func importGuestOption(_ option: PVEFirewallFile.Option, into options: inout FirewallOptions) {
        switch option.key.lowercased() {
        case "enable": bool(option) { options.enable = $0 }
        case "dhcp": bool(option) { options.dhcp = $0 }
        case "ndp": bool(option) { options.ndp = $0 }
        case "radv": bool(option) { options.radv = $0 }
        case "macfilter": bool(option) { options.macfilter = $0 }
        case "ipfilter": bool(option) { options.ipfilter = $0 }
        case "log_level_in": level(option) { options.logLevelIn = $0 }
        case "log_level_out": level(option) { options.logLevelOut = $0 }
        case "policy_in": policyValue(option) { options.policyIn = $0 }
        case "policy_out": policyValue(option) { options.policyOut = $0 }
        case "ips", "ips_queues":
            if option.key.lowercased() == "ips" && ProxmoxValues.bool(option.value) == false {
                accounting.mapped(option.line)
            } else {
                accounting.dropped(option.line, meaning: "hand accepted traffic to Suricata (NFQUEUE) for intrusion prevention", reason: "sdn has no IPS queue")
            }
        case "layer2_protocols":
            accounting.dropped(option.line, meaning: "the ethertypes allowed through (ebtables)", reason: "sdn filters IP, IPv6 and ARP; other ethertypes are not restricted")
        default:
            unknownOption(option, level: "guest", known: Self.guestOptionNames)
        }
    }

    static let vnetOptionNames = ["enable", "policy_forward", "log_level_forward"]

    private mutating func importVNetOption(_ option: PVEFirewallFile.Option, into options: inout FirewallOptions) {
        switch option.key.lowercased() {
        case "enable": bool(option) { options.enable = $0 }
        case "policy_forward": policyValue(option, allowReject: false) { options.policyForward = $0 }
        case "log_level_forward": level(option) { options.logLevelForward = $0 }
        default: unknownOption(option, level: "vnet", known: Self.vnetOptionNames)
        }
    }
}
