public import SDNModel

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
    public static let code = DiagnosticCode.shadowedRule

    /// Every shadowed rule, the rule lists checked on up to `parallelism.width` threads (blocking until done).
    public static func findings(in state: DesiredState, parallelism: Parallelism = .automatic) -> [Diagnostic] {
        let (lists, context) = ruleLists(in: state)
        let pieces = pieces(of: lists.count, width: parallelism.width)
        return parallelism.map(pieces.count) { findings(in: lists[pieces[$0]], context: context) }.flatMap { $0 }
    }

    /// The same findings, the rule lists checked as child tasks.
    public static func findings(in state: DesiredState, parallelism: Parallelism = .automatic) async -> [Diagnostic] {
        let (lists, context) = ruleLists(in: state)
        let pieces = pieces(of: lists.count, width: parallelism.width)
        return await parallelism.map(pieces.count) { findings(in: lists[pieces[$0]], context: context) }.flatMap { $0 }
    }

    private typealias RuleList = (owner: Owner, rules: [FirewallRule])

    /// Lists are independent: split them in one piece per thread (10,000 guest policies are a good part of a compile).
    private static func pieces(of count: Int, width: Int) -> [Range<Int>] {
        let workers = max(1, min(width, count / 512))
        let chunkSize = (count + workers - 1) / workers
        return (0..<workers).map { min(count, $0 * chunkSize)..<min(count, ($0 + 1) * chunkSize) }
    }

    private static func findings(in lists: ArraySlice<RuleList>, context: Context) -> [Diagnostic] {
        var found: [Diagnostic] = []
        for list in lists {
            found += findings(in: list.rules, owner: list.owner, context: context)
        }
        return found
    }

    private static func ruleLists(in state: DesiredState) -> ([RuleList], Context) {
        let firewall = state.firewall
        let context = Context(firewall: firewall)
        // Owners are named only when a finding needs them: 10,000 guest policies usually have none.
        var lists: [(owner: Owner, rules: [FirewallRule])] = []
        for policy in firewall.allPolicies.sorted(by: { $0.scope < $1.scope }) {
            lists.append((.policy(policy.scope), policy.rules))
        }
        for group in firewall.groups.sorted(by: { $0.name < $1.name }) {
            lists.append((.group(group.name), group.rules))
        }
        return (lists, context)
    }

    private enum Owner: Sendable {
        case policy(PolicyScope)
        case group(String)

        var description: String {
            switch self {
            case .policy(let scope): scope.description
            case .group(let name): "group \(name)"
            }
        }
    }

    /// For one policy's or group's rules: each enabled match rule against the enabled match rules above it.
    private static func findings(in rules: [FirewallRule], owner: Owner, context: Context) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        var indices: [Int] = []
        var keys: [Context.QuickKey] = []
        indices.reserveCapacity(rules.count)
        keys.reserveCapacity(rules.count)
        for (index, rule) in rules.enumerated() {
            guard rule.enabled, case .match(let match) = rule.body else { continue }
            keys.append(context.quickKey(match))
            indices.append(index)
        }
        guard keys.count > 1 else { return [] }
        for later in 1..<keys.count {
            for earlier in 0..<later {
                // Most pairs are decided by the plain-value keys; the rest compare the rules themselves.
                let covered: Bool
                switch Context.QuickKey.covers(keys[earlier], keys[later]) {
                case true?: covered = true
                case false?: covered = false
                case nil:
                    guard case .match(let earlierMatch) = rules[indices[earlier]].body, case .match(let laterMatch) = rules[indices[later]].body else { continue }
                    covered = context.covers(earlierMatch, laterMatch)
                }
                guard covered else { continue }
                let laterRule = rules[indices[later]], earlierRule = rules[indices[earlier]]
                if case .match(let laterMatch) = laterRule.body, case .match(let earlierMatch) = earlierRule.body {
                    diagnostics.append(diagnostic(later: laterRule, laterMatch: laterMatch, earlier: earlierRule, earlierMatch: earlierMatch, owner: owner.description))
                }
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

    /// The comparisons, with allocation-free paths for the common shapes (no macro, one port range,
    /// one address): a compile lints every rule pair of 10,000 policies.
    private struct Context: Sendable {
        let aliases: [String: Alias]

        init(firewall: FirewallConfig) {
            aliases = Dictionary(firewall.aliases.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        }

        /// The common shapes of a rule as plain values (no references to retain): no macro, interface
        /// or ICMP type, at most one port range per side, at most one address per side. `complex` rules
        /// are compared in full.
        struct QuickKey: Sendable {
            enum Address: Sendable, Equatable {
                case any
                case range(IPAddress.Family, ClosedRange<UInt128>)
                /// An IP set, by the hash of its name (equal hashes are compared in full).
                case set(Int)
            }
            var direction: Direction
            var complex: Bool
            /// The protocol number, nil for any.
            var proto: UInt8?
            /// nil for any port.
            var sport: ClosedRange<UInt16>?
            var dport: ClosedRange<UInt16>?
            var source: Address
            var destination: Address

            /// nil when the keys cannot decide.
            static func covers(_ earlier: QuickKey, _ later: QuickKey) -> Bool? {
                guard earlier.direction == later.direction else { return false }
                if earlier.complex || later.complex { return nil }
                if let proto = earlier.proto {
                    guard let laterProto = later.proto, proto == laterProto else { return false }
                    guard covers(earlier.sport, later.sport), covers(earlier.dport, later.dport) else { return false }
                }
                switch (covers(earlier.source, later.source), covers(earlier.destination, later.destination)) {
                case (false?, _), (_, false?): return false
                case (true?, true?): return true
                default: return nil
                }
            }

            private static func covers(_ earlier: ClosedRange<UInt16>?, _ later: ClosedRange<UInt16>?) -> Bool {
                guard let earlier else { return true }
                guard let later else { return false }
                return earlier.lowerBound <= later.lowerBound && later.upperBound <= earlier.upperBound
            }

            private static func covers(_ earlier: Address, _ later: Address) -> Bool? {
                switch (earlier, later) {
                case (.any, _): true
                case (_, .any): false
                case (.range(let family, let range), .range(let laterFamily, let laterRange)):
                    family == laterFamily && range.lowerBound <= laterRange.lowerBound && laterRange.upperBound <= range.upperBound
                case (.set(let hash), .set(let laterHash)): hash == laterHash ? nil : false
                default: false
                }
            }
        }

        func quickKey(_ match: RuleMatch) -> QuickKey {
            var key = QuickKey(direction: match.direction, complex: match.macro != nil || match.iface != nil || match.icmpType != nil,
                               proto: match.proto?.number, sport: nil, dport: nil, source: .any, destination: .any)
            func ports(_ list: [PortRange]) -> ClosedRange<UInt16>? {
                if list.count > 1 { key.complex = true }
                return list.first.map { $0.lower...$0.upper }
            }
            func address(_ list: [AddressMatch]) -> QuickKey.Address {
                guard let first = list.first else { return .any }
                if list.count > 1 { key.complex = true }
                if let (family, range) = literalRange(first) { return .range(family, range) }
                if case .reference(let name) = first { return .set(name.hashValue) }
                key.complex = true
                return .any
            }
            key.sport = ports(match.sport)
            key.dport = ports(match.dport)
            key.source = address(match.source)
            key.destination = address(match.destination)
            return key
        }

        func covers(_ earlier: borrowing RuleMatch, _ later: borrowing RuleMatch) -> Bool {
            guard earlier.direction == later.direction else { return false }
            if let iface = earlier.iface, iface != later.iface { return false }
            if earlier.macro == nil && later.macro == nil {
                guard Self.covers(ServiceEntry(proto: earlier.proto, sport: earlier.sport, dport: earlier.dport, icmpType: earlier.icmpType),
                                  ServiceEntry(proto: later.proto, sport: later.sport, dport: later.dport, icmpType: later.icmpType)) else { return false }
            } else {
                guard let earlierEntries = entries(of: earlier), let laterEntries = entries(of: later) else { return false }
                guard laterEntries.allSatisfy({ entry in earlierEntries.contains { Self.covers($0, entry) } }) else { return false }
            }
            return covers(earlier.source, later.source) && covers(earlier.destination, later.destination)
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
            if earlier.count == 1 {
                let range = earlier[0]
                return later.allSatisfy { range.lower <= $0.lower && $0.upper <= range.upper }
            }
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
            if earlier.count == 1 {
                // One earlier address: a literal interval or one IP set, no union to build.
                if let (family, range) = literalRange(earlier[0]) {
                    return later.allSatisfy { match in
                        guard let (laterFamily, laterRange) = literalRange(match) else { return false }
                        return laterFamily == family && range.lowerBound <= laterRange.lowerBound && laterRange.upperBound <= range.upperBound
                    }
                }
                guard case .reference(let name) = earlier[0] else { return false }
                return later.allSatisfy { match in
                    if literalRange(match) != nil { return false }
                    if case .reference(let laterName) = match { return laterName == name }
                    return false
                }
            }
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
