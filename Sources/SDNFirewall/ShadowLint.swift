import SDNModel

/// Finds rules that can never match because an earlier rule of the same list already decides every
/// packet they would match: `in accept tcp dport 22` below `in drop tcp` is dead code.
///
/// A rule is shadowed when an earlier enabled rule of the same list (one policy, or one security
/// group) has the same direction and a match that is a superset of its own:
/// - protocol: the earlier's is unset or the same; macros count as their entries, and every entry of
///   the later rule must be covered by one entry of the earlier;
/// - ports: the earlier's list is empty or covers every later port range;
/// - ICMP type: the earlier's is unset or the same type;
/// - source and destination: the earlier's list is empty, or every later address (aliases resolved)
///   lies inside the earlier's literal addresses; IP sets only cover a reference to the same set;
/// - interface: the earlier's is unset or the same.
///
/// Every action (accept, drop, reject) ends evaluation, so any earlier rule can shadow. `group` rules
/// are never analysed: a group may return without a verdict. The check is conservative: it may miss
/// a shadowed rule (e.g. one covered only by several earlier rules together), but it never reports a
/// rule that can still match.
public enum ShadowLint {
    public static let code = "shadowed-rule"

    public static func findings(in state: DesiredState) -> [Diagnostic] {
        let firewall = state.firewall
        let context = Context(firewall: firewall)
        var lists: [(owner: String, rules: [FirewallRule])] = []
        for policy in firewall.allPolicies.sorted(by: { $0.scope < $1.scope }) {
            lists.append((policy.scope.description, policy.rules))
        }
        for group in firewall.groups.sorted(by: { $0.name < $1.name }) {
            lists.append(("group \(group.name)", group.rules))
        }
        var diagnostics: [Diagnostic] = []
        for list in lists {
            diagnostics += findings(in: list.rules, owner: list.owner, context: context)
        }
        return diagnostics
    }

    private static func findings(in rules: [FirewallRule], owner: String, context: Context) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        for (index, later) in rules.enumerated() {
            guard later.enabled, let laterMatch = later.match else { continue }
            for earlier in rules[..<index] {
                guard earlier.enabled, let earlierMatch = earlier.match,
                      context.covers(earlierMatch, laterMatch) else { continue }
                diagnostics.append(diagnostic(later: later, laterMatch: laterMatch, earlier: earlier, earlierMatch: earlierMatch, owner: owner))
                break
            }
        }
        return diagnostics
    }

    private static func diagnostic(later: FirewallRule, laterMatch: RuleMatch, earlier: FirewallRule, earlierMatch: RuleMatch, owner: String) -> Diagnostic {
        let place = earlier.origin.map { " at \($0)" } ?? ""
        var message = "rule '\(laterMatch.oneLine)' in \(owner) is shadowed by the earlier rule '\(earlierMatch.oneLine)'\(place)"
        if earlierMatch.action != laterMatch.action {
            message += ", which \(earlierMatch.action.rawValue)s everything this rule matches: this rule never takes effect"
        } else {
            message += ", which already \(earlierMatch.action.rawValue)s everything this rule matches: this rule never matches"
        }
        return .warning(code, message, at: later.origin, path: later.sourcePath?.description ?? "",
                        hint: "remove the rule, or move it above the one that shadows it",
                        related: earlier.origin.map { [$0] } ?? [])
    }

    /// One protocol/ports/ICMP combination a rule matches (a macro has several).
    private struct ServiceEntry {
        var proto: IPProtocolName?
        var sport: [PortRange]
        var dport: [PortRange]
        var icmpType: String?
    }

    private struct Context {
        let aliases: [String: Alias]

        init(firewall: FirewallConfig) {
            aliases = Dictionary(firewall.aliases.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        }

        func covers(_ earlier: RuleMatch, _ later: RuleMatch) -> Bool {
            guard earlier.direction == later.direction else { return false }
            if let iface = earlier.iface, iface != later.iface { return false }
            guard let earlierEntries = entries(of: earlier), let laterEntries = entries(of: later) else { return false }
            let servicesCovered = laterEntries.allSatisfy { entry in earlierEntries.contains { Self.covers($0, entry) } }
            return servicesCovered && covers(earlier.source, later.source) && covers(earlier.destination, later.destination)
        }

        /// The rule's service entries; nil for an unknown macro or macro protocol (nothing is assumed).
        private func entries(of match: RuleMatch) -> [ServiceEntry]? {
            guard let macroName = match.macro else {
                return [ServiceEntry(proto: match.proto, sport: match.sport, dport: match.dport, icmpType: match.icmpType)]
            }
            guard let macro = FirewallMacro.named(macroName) else { return nil }
            var result: [ServiceEntry] = []
            for entry in macro.entries {
                guard let proto = IPProtocolName(entry.proto) else { return nil }
                result.append(ServiceEntry(proto: proto, sport: entry.sport, dport: entry.dport, icmpType: entry.icmpType))
            }
            return result
        }

        private static func covers(_ earlier: ServiceEntry, _ later: ServiceEntry) -> Bool {
            guard let proto = earlier.proto else { return true }
            guard let laterProto = later.proto, proto.number == laterProto.number else { return false }
            guard covers(earlier.sport, later.sport), covers(earlier.dport, later.dport) else { return false }
            if let type = earlier.icmpType {
                guard let laterType = later.icmpType else { return false }
                let number = ICMPType.number(type, for: proto)
                return type == laterType || (number != nil && number == ICMPType.number(laterType, for: proto))
            }
            return true
        }

        /// An empty earlier list is any port; otherwise each later range must lie in the earlier union.
        private static func covers(_ earlier: [PortRange], _ later: [PortRange]) -> Bool {
            if earlier.isEmpty { return true }
            if later.isEmpty { return false }
            var union: [ClosedRange<Int>] = []
            for range in earlier.map({ Int($0.lower)...Int($0.upper) }).sorted(by: { $0.lowerBound < $1.lowerBound }) {
                if let last = union.last, range.lowerBound <= last.upperBound + 1 {
                    union[union.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
                } else {
                    union.append(range)
                }
            }
            return later.allSatisfy { range in union.contains { $0.contains(Int(range.lower)) && $0.contains(Int(range.upper)) } }
        }

        private func covers(_ earlier: [AddressMatch], _ later: [AddressMatch]) -> Bool {
            if earlier.isEmpty { return true }
            if later.isEmpty { return false }
            var literals: [IPAddress.Family: AddressIntervals] = [:]
            var sets = Set<String>()
            for match in earlier {
                if let (family, range) = literalRange(match) {
                    literals[family, default: AddressIntervals(family: family)].insert(range)
                } else if case .reference(let name) = match {
                    sets.insert(name)
                }
            }
            return later.allSatisfy { match in
                if let (family, range) = literalRange(match) {
                    return literals[family]?.intervals.contains { $0.lowerBound <= range.lowerBound && range.upperBound <= $0.upperBound } ?? false
                }
                if case .reference(let name) = match { return sets.contains(name) }
                return false
            }
        }

        /// A prefix, range or alias as an address interval; nil for an IP set reference.
        private func literalRange(_ match: AddressMatch) -> (IPAddress.Family, ClosedRange<UInt128>)? {
            switch match {
            case .prefix(let prefix): (prefix.family, AddressIntervals.range(of: prefix))
            case .range(let range): (range.family, AddressIntervals.range(of: range))
            case .reference(let name): aliases[name].map { ($0.cidr.family, AddressIntervals.range(of: $0.cidr)) }
            }
        }
    }
}
