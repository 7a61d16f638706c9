import SDNModel
import Yams

extension DocumentParser {
    static let policyBodyKeys = ["options", "rules"]
    static let optionKeys = [
        "enable", "policy-in", "policy-out", "policy-forward", "macfilter", "ipfilter", "dhcp", "ndp", "radv",
        "dhcp-server", "log-level-in", "log-level-out", "log-level-forward", "log-rate-limit", "nosmurfs",
        "tcpflags", "allow-invalid", "failsafe",
    ]
    static let structuredRuleKeys = [
        "id", "rule", "group", "direction", "action", "macro", "proto", "source", "dest", "sport", "dport",
        "icmp-type", "iface", "log", "comment", "enabled",
    ]

    mutating func parsePolicy(_ entries: [YAMLReader.Entry]) {
        let root = ConfigPath.policy
        for entry in entries {
            let path = root / entry.key
            switch entry.key {
            case "aliases":
                for alias in reader.mapping(entry.value, at: path, what: "a mapping of alias names") ?? [] {
                    if let parsed = parseAlias(alias, at: path / alias.key) { result.firewall.aliases.append(parsed) } else { unreadable.insert(path / alias.key) }
                }
            case "ipsets":
                for set in reader.mapping(entry.value, at: path, what: "a mapping of IP set names") ?? [] {
                    if let parsed = parseIPSet(set, at: path / set.key) { result.firewall.ipsets.append(parsed) } else { unreadable.insert(path / set.key) }
                }
            case "groups":
                for group in reader.mapping(entry.value, at: path, what: "a mapping of security group names") ?? [] {
                    if let parsed = parseGroup(group, at: path / group.key) { result.firewall.groups.append(parsed) } else { unreadable.insert(path / group.key) }
                }
            case "cluster":
                if let policy = parsePolicyBody(entry.value, scope: .cluster, at: path, context: "the cluster policy") { result.firewall.cluster = policy }
            case "nodes":
                for node in reader.mapping(entry.value, at: path, what: "a mapping of node names") ?? [] {
                    if let policy = parsePolicyBody(node.value, scope: .node(node.key), at: path / node.key, context: "node policy '\(node.key)'") { result.firewall.nodes.append(policy) }
                }
            case "vnets":
                for vnet in reader.mapping(entry.value, at: path, what: "a mapping of vnet names") ?? [] {
                    if let policy = parsePolicyBody(vnet.value, scope: .vnet(vnet.key), at: path / vnet.key, context: "vnet policy '\(vnet.key)'") { result.firewall.vnets.append(policy) }
                }
            case "guests":
                for guest in reader.mapping(entry.value, at: path, what: "a mapping of guest ids") ?? [] {
                    guard let id = Int(guest.key) else {
                        reader.error(.invalidGuestId, "guest key '\(guest.key)' is not a numeric id", at: guest.keyNode, path: path / guest.key, hint: "guest policies are keyed by guest id")
                        continue
                    }
                    if let policy = parsePolicyBody(guest.value, scope: .guest(id), at: path / guest.key, context: "guest policy \(id)") { result.firewall.guests.append(policy) }
                }
            default:
                break
            }
        }
    }

    private mutating func parseAlias(_ entry: YAMLReader.Entry, at path: ConfigPath) -> Alias? {
        // `office: 203.0.113.0/24` or `office: {cidr: 203.0.113.0/24, comment: …}`
        var valueNode = entry.value
        var comment: String?
        var valuePath = path
        if entry.value.mapping != nil {
            guard let fields = reader.mapping(entry.value, at: path) else { return nil }
            reader.checkKeys(fields, allowed: ["cidr", "comment"], at: path, context: "alias '\(entry.key)'")
            guard let cidr = fields.first(where: { $0.key == "cidr" }) else {
                reader.error(.missingKey, "alias '\(entry.key)' needs a cidr", at: entry.keyNode, path: path, hint: "add cidr: <address or prefix>")
                return nil
            }
            valueNode = cidr.value
            valuePath = path / "cidr"
            comment = fields.first(where: { $0.key == "comment" }).flatMap { reader.string($0.value, at: path / "comment") }
        }
        guard let cidr = reader.scalar(valueNode, at: valuePath, { text throws(ScalarParseError) in try IPPrefix(text) }) else { return nil }
        return Alias(name: entry.key, cidr: cidr, comment: comment)
    }

    private mutating func parseIPSet(_ entry: YAMLReader.Entry, at path: ConfigPath) -> IPSet? {
        // `admins: [10.0.0.5, "!10.0.0.7"]` or `admins: {entries: […], comment: …}`
        var entriesNode = entry.value
        var set = IPSet(name: entry.key)
        if entry.value.mapping != nil {
            guard let fields = reader.mapping(entry.value, at: path) else { return nil }
            reader.checkKeys(fields, allowed: ["entries", "comment"], at: path, context: "IP set '\(entry.key)'")
            set.comment = fields.first(where: { $0.key == "comment" }).flatMap { reader.string($0.value, at: path / "comment") }
            guard let entries = fields.first(where: { $0.key == "entries" }) else { return set }
            entriesNode = entries.value
        }
        set.entries = reader.scalarList(entriesNode, at: path) { text throws(ScalarParseError) in try IPSet.Entry(text) }
        return set
    }

    private mutating func parseGroup(_ entry: YAMLReader.Entry, at path: ConfigPath) -> SecurityGroup? {
        var group = SecurityGroup(name: entry.key)
        if entry.value.sequence != nil {
            group.rules = parseRules(entry.value, at: path / "rules", scopeKey: "group:\(entry.key)")
            return group
        }
        guard let fields = reader.mapping(entry.value, at: path, what: "the group's rules") else { return nil }
        reader.checkKeys(fields, allowed: ["comment", "rules"], at: path, context: "security group '\(entry.key)'")
        for field in fields {
            switch field.key {
            case "comment": group.comment = reader.string(field.value, at: path / "comment")
            case "rules": group.rules = parseRules(field.value, at: path / "rules", scopeKey: "group:\(entry.key)")
            default: break
            }
        }
        return group
    }

    private mutating func parsePolicyBody(_ node: Yams.Node, scope: PolicyScope, at path: ConfigPath, context: String) -> FirewallPolicy? {
        var policy = FirewallPolicy(scope: scope)
        // A bare list is shorthand for `rules:`.
        if node.sequence != nil {
            policy.rules = parseRules(node, at: path / "rules", scopeKey: scope.description)
            return policy
        }
        guard let fields = reader.mapping(node, at: path, what: "options: and rules:") else { return nil }
        reader.checkKeys(fields, allowed: Self.policyBodyKeys, at: path, context: context)
        for field in fields {
            switch field.key {
            case "options": policy.options = parseOptions(field.value, at: path / "options")
            case "rules": policy.rules = parseRules(field.value, at: path / "rules", scopeKey: scope.description)
            default: break
            }
        }
        return policy
    }

    private mutating func parseOptions(_ node: Yams.Node, at path: ConfigPath) -> FirewallOptions {
        var options = FirewallOptions()
        guard let fields = reader.mapping(node, at: path, what: "firewall options") else { return options }
        reader.checkKeys(fields, allowed: Self.optionKeys, at: path, context: "firewall options")
        for field in fields {
            let fieldPath = path / field.key
            switch field.key {
            case "enable": options.enable = reader.bool(field.value, at: fieldPath)
            case "policy-in": options.policyIn = reader.enumeration(field.value, at: fieldPath, what: "default policy")
            case "policy-out": options.policyOut = reader.enumeration(field.value, at: fieldPath, what: "default policy")
            case "policy-forward": options.policyForward = reader.enumeration(field.value, at: fieldPath, what: "default policy")
            case "macfilter": options.macfilter = reader.bool(field.value, at: fieldPath)
            case "ipfilter": options.ipfilter = reader.bool(field.value, at: fieldPath)
            case "dhcp": options.dhcp = reader.bool(field.value, at: fieldPath)
            case "ndp": options.ndp = reader.bool(field.value, at: fieldPath)
            case "radv": options.radv = reader.bool(field.value, at: fieldPath)
            case "dhcp-server": options.dhcpServer = reader.bool(field.value, at: fieldPath)
            case "log-level-in": options.logLevelIn = reader.enumeration(field.value, at: fieldPath, what: "log level")
            case "log-level-out": options.logLevelOut = reader.enumeration(field.value, at: fieldPath, what: "log level")
            case "log-level-forward": options.logLevelForward = reader.enumeration(field.value, at: fieldPath, what: "log level")
            case "log-rate-limit":
                options.logRateLimit = reader.scalar(field.value, at: fieldPath, hint: "e.g. 1/second burst 5; the rate is 1-\(UInt32.max) per unit, and the kernel caps the burst by the rate (1/day: 213503)") { text throws(ScalarParseError) in
                    try LogRateLimit(text)
                }
            case "nosmurfs": options.nosmurfs = reader.bool(field.value, at: fieldPath)
            case "tcpflags": options.tcpflags = reader.bool(field.value, at: fieldPath)
            case "allow-invalid": options.allowInvalid = reader.bool(field.value, at: fieldPath)
            case "failsafe": options.failsafe = reader.bool(field.value, at: fieldPath)
            default: break
            }
        }
        return options
    }

    // MARK: rules

    mutating func parseRules(_ node: Yams.Node, at path: ConfigPath, scopeKey: String) -> [FirewallRule] {
        guard let items = reader.list(node, at: path) else { return [] }
        var rules: [FirewallRule] = []
        var digestCounts: [String: Int] = [:]
        for (index, item) in items {
            let rulePath = path / index
            guard var rule = parseRule(item, at: rulePath) else { continue }
            rule.sourcePath = rulePath
            if !rule.hasExplicitID {
                // Content digest: stable under reordering. Identical rules in one list get a counter.
                let base = "r" + StableDigest.hex(of: scopeKey + "\u{1f}" + rule.canonicalText)
                let count = digestCounts[base, default: 0] + 1
                digestCounts[base] = count
                rule.id = count == 1 ? base : "\(base)-\(count)"
            }
            rules.append(rule)
        }
        return rules
    }

    private mutating func parseRule(_ node: Yams.Node, at path: ConfigPath) -> FirewallRule? {
        if let scalar = node.scalar, !reader.isNull(node) {
            return parseOneLine(scalar.string, node: node, at: path, id: nil, comment: nil, enabled: true)
        }
        guard let fields = reader.mapping(node, at: path, what: "a rule (a one-line string or a mapping)") else { return nil }
        reader.checkKeys(fields, allowed: Self.structuredRuleKeys, at: path, context: "a rule")
        func field(_ key: String) -> YAMLReader.Entry? { fields.first { $0.key == key } }
        var id: String?
        if let idField = field("id"), let text = reader.string(idField.value, at: path / "id") {
            if let problem = Identifier.ruleIDProblem(with: text) {
                reader.error(.invalidName, "invalid rule id: \(problem)", at: idField.value, path: path / "id")
            } else {
                id = text
            }
        }
        let comment = field("comment").flatMap { reader.string($0.value, at: path / "comment") }
        let enabled = field("enabled").flatMap { reader.bool($0.value, at: path / "enabled") } ?? true
        let origin = reader.location(of: node)

        if let ruleField = field("rule") {
            let others = fields.filter { !["rule", "id", "comment", "enabled"].contains($0.key) }
            for other in others {
                reader.error(.conflictingKeys, "'\(other.key)' cannot be combined with 'rule'", at: other.keyNode, path: path / other.key, hint: "write it inside the one-line rule, or use the structured form without 'rule'")
            }
            guard let scalar = ruleField.value.scalar else {
                reader.error(.expectedScalar, "'rule' takes a one-line rule string", at: ruleField.value, path: path / "rule")
                return nil
            }
            var rule = parseOneLine(scalar.string, node: ruleField.value, at: path, id: id, comment: comment, enabled: enabled)
            rule?.origin = origin
            return rule
        }

        if let groupField = field("group") {
            guard let name = reader.string(groupField.value, at: path / "group") else { return nil }
            let iface = field("iface").flatMap { reader.string($0.value, at: path / "iface") }
            for other in fields where !["group", "iface", "id", "comment", "enabled"].contains(other.key) {
                reader.error(.conflictingKeys, "'\(other.key)' does not apply to a group rule", at: other.keyNode, path: path / other.key, hint: "a group rule takes only group, iface, id, comment and enabled")
            }
            return FirewallRule(id: id ?? "", hasExplicitID: id != nil, body: .group(name: name, iface: iface), origin: origin, enabled: enabled, comment: comment)
        }

        var missing = false
        var direction = Direction.in
        var action = RuleAction.accept
        if let value = field("direction") {
            if let parsed: Direction = reader.enumeration(value.value, at: path / "direction", what: "direction") { direction = parsed } else { missing = true }
        } else {
            reader.error(.missingKey, "a rule needs a direction", at: node, path: path, hint: "add direction: in | out | forward")
            missing = true
        }
        if let value = field("action") {
            if let parsed: RuleAction = reader.enumeration(value.value, at: path / "action", what: "action") { action = parsed } else { missing = true }
        } else {
            reader.error(.missingKey, "a rule needs an action", at: node, path: path, hint: "add action: accept | drop | reject")
            missing = true
        }
        var match = RuleMatch(direction: direction, action: action)
        for item in fields {
            let fieldPath = path / item.key
            switch item.key {
            case "macro": match.macro = reader.string(item.value, at: fieldPath)
            case "proto":
                if let text = reader.string(item.value, at: fieldPath) {
                    if let proto = IPProtocolName(text) { match.proto = proto } else {
                        reader.error(.invalidValue, "'\(text)' is not a protocol", at: item.value, path: fieldPath, hint: Suggestion.hint(for: text, in: IPProtocolName.named.keys) ?? "use tcp, udp, icmp, icmpv6, … or a number 0-255")
                        missing = true
                    }
                }
            case "source": match.source = reader.scalarList(item.value, at: fieldPath) { text throws(ScalarParseError) in try AddressMatch(text) }
            case "dest": match.destination = reader.scalarList(item.value, at: fieldPath) { text throws(ScalarParseError) in try AddressMatch(text) }
            case "sport": match.sport = parsePorts(item.value, at: fieldPath)
            case "dport": match.dport = parsePorts(item.value, at: fieldPath)
            case "icmp-type": match.icmpType = reader.string(item.value, at: fieldPath)
            case "iface": match.iface = reader.string(item.value, at: fieldPath)
            case "log": match.log = reader.enumeration(item.value, at: fieldPath, what: "log level")
            default: break
            }
        }
        if missing { return nil }
        return FirewallRule(id: id ?? "", hasExplicitID: id != nil, body: .match(match), origin: origin, enabled: enabled, comment: comment)
    }

    /// `22`, `[80, 443]` or `"80, 443, 8000-8080"` (spaces after commas allowed, as in other lists).
    private mutating func parsePorts(_ node: Yams.Node, at path: ConfigPath) -> [PortRange] {
        reader.scalarList(node, at: path) { text throws(ScalarParseError) in try PortRange(text) }
    }

    private mutating func parseOneLine(_ text: String, node: Yams.Node, at path: ConfigPath, id: String?, comment: String?, enabled: Bool) -> FirewallRule? {
        let parsed: RuleParser.ParsedRule
        do {
            parsed = try RuleParser.parse(text)
        } catch {
            reader.error(.ruleSyntax, error.message, at: node, path: path, hint: error.hint, offset: error.offset)
            return nil
        }
        if id != nil && parsed.id != nil {
            reader.error(.conflictingKeys, "the rule id is given twice (id: and 'id' inside the rule)", at: node, path: path)
        }
        // Record where each clause sits inside the string, so later checks point at the exact column.
        for (field, offset) in parsed.fieldOffsets {
            reader.sources.record(path / field, value: reader.location(in: node, offset: offset))
        }
        let finalID = id ?? parsed.id
        return FirewallRule(id: finalID ?? "", hasExplicitID: finalID != nil, body: parsed.body, origin: reader.location(of: node),
                            enabled: enabled && parsed.enabled, comment: comment ?? parsed.comment)
    }
}

extension FirewallRule {
    /// The rule's content as one canonical line (what the default id digests).
    var canonicalText: String {
        switch body {
        case .match(let match): match.oneLine
        case .group(let name, let iface): "group \(name)" + (iface.map { " iface \($0)" } ?? "")
        }
    }
}

/// FNV-1a, 64 bit: a fixed, platform-independent digest (Swift's `Hasher` is seeded per process).
enum StableDigest {
    static func hex(of text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
