import SDNModel
import SDNNFTables

/// Compiles policy rules into nft rules: expands macros, splits by address family, resolves aliases
/// and IP sets, adds counters, rate-limited logging and the verdict.
struct RuleCompiler {
    let firewall: FirewallConfig
    let tableFamily: TableFamily
    let logRateLimit: LogRateLimit
    var diagnostics: [Diagnostic] = []
    /// Named sets (IP sets) the compiled rules reference.
    var referencedSets: Set<String> = []

    /// Which IP set names exist per family (a set with only IPv4 entries has no `_v6` nft set).
    let ipSetFamilies: [String: Set<IPAddress.Family>]
    let aliases: [String: Alias]

    init(firewall: FirewallConfig, tableFamily: TableFamily, logRateLimit: LogRateLimit, ipSetFamilies: [String: Set<IPAddress.Family>], aliases: [String: Alias]? = nil) {
        self.firewall = firewall
        self.tableFamily = tableFamily
        self.logRateLimit = logRateLimit
        self.ipSetFamilies = ipSetFamilies
        self.aliases = aliases ?? Dictionary(firewall.aliases.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// How a rule's verdicts and interface are expressed in the chain it lands in.
    struct Placement {
        var chain: String
        var direction: Direction
        /// Statement restricting the rule to an interface written in the rule (`iface eth0`), for node chains.
        var interfaceKey: MetaKey?
        /// Log prefix scope, e.g. `guest-101-net0-in`.
        var logScope: String
    }

    /// One policy rule → zero or more nft rules (zero when disabled or when it can never match).
    mutating func compile(_ rule: FirewallRule, placement: Placement) -> [Rule] {
        var rules: [Rule] = []
        compile(rule, placement: placement, into: &rules)
        return rules
    }

    /// A guest rule into its NIC's outbound and inbound chains: a match rule lands in the chain of its
    /// direction only, a group jump in both.
    mutating func compile(_ rule: FirewallRule, out: Placement, in inbound: Placement, outRules: inout [Rule], inRules: inout [Rule]) {
        guard rule.enabled else { return }
        switch rule.body {
        case .group:
            compile(rule, placement: out, into: &outRules)
            compile(rule, placement: inbound, into: &inRules)
        case .match(let match):
            if match.direction == out.direction {
                compileMatch(match, rule: rule, baseID: Self.id(out.chain, rule.id), placement: out, into: &outRules)
            } else if match.direction == inbound.direction {
                compileMatch(match, rule: rule, baseID: Self.id(inbound.chain, rule.id), placement: inbound, into: &inRules)
            }
        }
    }

    /// `compile(_:placement:)`, appending to `rules` (the guest compile builds 800,000 rules: no
    /// intermediate arrays).
    mutating func compile(_ rule: FirewallRule, placement: Placement, into rules: inout [Rule]) {
        guard rule.enabled else { return }
        switch rule.body {
        case .group(let name, let iface):
            var statements: [Statement] = []
            if let iface, let key = placement.interfaceKey { statements.append(.match(.meta(key), .equal, .value(.string(iface)))) }
            statements += [.counter, .verdict(.jump(FirewallNaming.groupChain(name, placement.direction)))]
            rules.append(Rule(id: Self.id(placement.chain, rule.id), statements: statements, origin: rule.origin))
        case .match(let match):
            guard match.direction == placement.direction else { return }
            compileMatch(match, rule: rule, baseID: Self.id(placement.chain, rule.id), placement: placement, into: &rules)
        }
    }

    /// `chain/rule` in one allocation.
    static func id(_ chain: String, _ rule: String) -> String {
        var chain = chain, rule = rule
        let chainCount = chain.utf8.count, ruleCount = rule.utf8.count
        return chain.withUTF8 { head in
            rule.withUTF8 { tail in
                String(unsafeUninitializedCapacity: chainCount + 1 + ruleCount) { buffer in
                    _ = buffer.initialize(fromContentsOf: head)
                    buffer[chainCount] = UInt8(ascii: "/")
                    _ = buffer[(chainCount + 1)...].initialize(fromContentsOf: tail)
                    return chainCount + 1 + ruleCount
                }
            }
        }
    }

    private struct ProtocolVariant {
        var proto: IPProtocolName?
        var sport: [PortRange]
        var dport: [PortRange]
        var icmpType: String?
    }

    private struct AddressVariant {
        var family: IPAddress.Family?
        var right: Expression?
    }

    private mutating func compileMatch(_ match: RuleMatch, rule: FirewallRule, baseID: String, placement: Placement, into rules: inout [Rule]) {
        var protocols: [ProtocolVariant]
        if let macroName = match.macro, let macro = FirewallMacro.named(macroName) {
            protocols = macro.entries.compactMap { entry in
                guard let proto = IPProtocolName(entry.proto) else { return nil }
                return ProtocolVariant(proto: proto, sport: entry.sport, dport: entry.dport, icmpType: entry.icmpType)
            }
        } else {
            protocols = [ProtocolVariant(proto: match.proto, sport: match.sport, dport: match.dport, icmpType: match.icmpType)]
        }
        let sources = resolve(match.source)
        let destinations = resolve(match.destination)
        let first = rules.count
        var index = 0
        for variant in protocols {
            let protoFamily: IPAddress.Family? = variant.proto == .icmp ? .ipv4 : variant.proto == .icmpv6 ? .ipv6 : nil
            let icmpType: Value?
            do {
                icmpType = try Self.icmpTypeValue(variant)
            } catch {
                diagnostics.append(.error(.unknownIcmpType, "rule '\(match.oneLine)': \(error)", at: rule.origin, path: rule.sourcePath?.description ?? "",
                                          hint: "write an ICMP type nft knows, or its number"))
                continue
            }
            for source in sources {
                for destination in destinations {
                    // Protocol, source and destination must not name two different families.
                    var family = protoFamily
                    if let sourceFamily = source.family {
                        if let family, family != sourceFamily { continue }
                        family = sourceFamily
                    }
                    if let destinationFamily = destination.family, let family, family != destinationFamily { continue }
                    var matches: [Statement] = []
                    matches.reserveCapacity(6)
                    if let iface = match.iface, let key = placement.interfaceKey {
                        matches.append(.match(.meta(key), .equal, .value(.string(iface))))
                    }
                    if let right = source.right { matches.append(.match(.payload(.address(ipv6: source.family == .ipv6, destination: false)), .equal, right)) }
                    if let right = destination.right { matches.append(.match(.payload(.address(ipv6: destination.family == .ipv6, destination: true)), .equal, right)) }
                    appendProtocolMatches(variant, icmpType: icmpType, to: &matches)
                    let id = index == 0 ? baseID : "\(baseID)/\(index)"
                    index += 1
                    if let level = match.log, level != .nolog {
                        rules.append(Rule(id: id + "/log", statements: matches + logStatements(level: level, scope: placement.logScope, ruleID: rule.id, action: match.action), origin: rule.origin))
                    }
                    matches.append(.counter)
                    matches.append(verdict(for: match.action, proto: variant.proto))
                    rules.append(Rule(id: id, statements: matches, origin: rule.origin))
                }
            }
        }
        if rules.count == first {
            diagnostics.append(.warning(.neverMatches, "rule '\(match.oneLine)' can never match (its addresses and protocol are of different families)", at: rule.origin, path: rule.sourcePath?.description ?? "",
                                        hint: "split IPv4 and IPv6 into separate rules"))
        }
    }

    /// The ICMP type a variant matches, checked against nft's names for its protocol.
    private static func icmpTypeValue(_ variant: ProtocolVariant) throws(UnknownSymbolError) -> Value? {
        guard let proto = variant.proto, proto.isICMP, let type = variant.icmpType else { return nil }
        if let number = UInt8(type) { return .integer(Int(number)) }
        return .symbol(try Symbol(type, of: proto == .icmp ? .icmpType : .icmpv6Type))
    }

    private func appendProtocolMatches(_ variant: ProtocolVariant, icmpType: Value?, to matches: inout [Statement]) {
        guard let proto = variant.proto else { return }
        if proto.hasPorts && (!variant.sport.isEmpty || !variant.dport.isEmpty) {
            // `hasPorts` protocols are exactly those with port fields in the catalog.
            if !variant.sport.isEmpty, let field = Field.port(proto.description, destination: false) {
                matches.append(.match(.payload(field), .equal, Self.portExpression(variant.sport)))
            }
            if !variant.dport.isEmpty, let field = Field.port(proto.description, destination: true) {
                matches.append(.match(.payload(field), .equal, Self.portExpression(variant.dport)))
            }
        } else if proto.isICMP, let value = icmpType {
            matches.append(.match(.payload(proto == .icmp ? .icmpType : .icmpv6Type), .equal, .value(value)))
        } else {
            matches.append(.match(.meta(.l4proto), .equal, .value(Self.protocolValue(proto))))
        }
    }

    /// The protocol as nft names its number; a number the policy wrote stays a number. A policy's
    /// names are SDNModel's (`ipip` is Linux's IP-in-IP, protocol 4), nft's are /etc/protocols'
    /// (where protocol 4 is `ipencap` and `ipip` is 94), so the number, not the name, crosses over.
    static func protocolValue(_ proto: IPProtocolName) -> Value {
        if case .number(let number) = proto { return .integer(Int(number)) }
        if let name = Datatype.inetProtocol.symbols.name(of: UInt64(proto.number)) { return .symbol(Symbol(unchecked: name)) }
        return .integer(Int(proto.number))
    }

    static func portExpression(_ ports: [PortRange]) -> Expression {
        let values: [Value] = ports.map { $0.isSinglePort ? .integer(Int($0.lower)) : .range(.integer(Int($0.lower)), .integer(Int($0.upper))) }
        return values.count == 1 ? .value(values[0]) : .set(values)
    }

    private func verdict(for action: RuleAction, proto: IPProtocolName?) -> Statement {
        switch action {
        case .accept: .verdict(.accept)
        case .drop: .verdict(.drop)
        case .reject: proto == .tcp ? .reject(.tcpReset) : .reject(.default)
        }
    }

    func logStatements(level: LogLevel, scope: String, ruleID: String, action: RuleAction) -> [Statement] {
        let rate = logRateLimit
        return [.limit(rate: rate.rate, per: rate.unit.rawValue, burst: rate.burst),
                .log(prefix: "sdn \(scope) \(ruleID) \(action.rawValue.uppercased()): ", level: level)]
    }

    /// Source or destination list → one variant per family and named set. An empty list is "any".
    private static let anyAddress = [AddressVariant(family: nil, right: nil)]

    private mutating func resolve(_ matches: [AddressMatch]) -> [AddressVariant] {
        if matches.isEmpty { return Self.anyAddress }
        // One prefix (the common case) is its own merged interval set.
        if matches.count == 1, case .prefix(let prefix) = matches[0] {
            return [AddressVariant(family: prefix.family, right: .value(prefix.isHost ? .address(prefix.address) : .prefix(prefix.masked)))]
        }
        var literals: [IPAddress.Family: AddressIntervals] = [:]
        func add(_ range: ClosedRange<UInt128>, _ family: IPAddress.Family) {
            literals[family, default: AddressIntervals(family: family)].insert(range)
        }
        var variants: [AddressVariant] = []
        for match in matches {
            switch match {
            case .prefix(let prefix):
                add(AddressIntervals.range(of: prefix), prefix.family)
            case .range(let range):
                add(AddressIntervals.range(of: range), range.family)
            case .reference(let name):
                if let alias = aliases[name] {
                    add(AddressIntervals.range(of: alias.cidr), alias.cidr.family)
                } else {
                    for family in [IPAddress.Family.ipv4, .ipv6] where ipSetFamilies[name]?.contains(family) == true {
                        let setName = FirewallNaming.ipSet(name, family)
                        referencedSets.insert(setName)
                        variants.append(AddressVariant(family: family, right: .setReference(setName)))
                    }
                }
            }
        }
        for family in [IPAddress.Family.ipv4, .ipv6] {
            // Merged intervals: nft refuses overlapping elements in one anonymous set.
            guard let values = literals[family]?.values else { continue }
            variants.append(AddressVariant(family: family, right: values.count == 1 ? .value(values[0]) : .set(values)))
        }
        return variants
    }
}
