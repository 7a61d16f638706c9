import SDNModel
public import SDNNFTables

extension Ruleset {
    /// The ruleset as tests compare it with what `nft -j list ruleset` prints (or two rulesets whose
    /// objects may come in another order), so that two rulesets meaning the same to the kernel compare
    /// equal. Test support only: production has one canonical form, SDNNFTables' `Ruleset.canonical()`
    /// (what netlink reads back). This one mirrors how nft *prints* a ruleset it loaded from text,
    /// which the tests need because they load the reference with `nft -f` and read it with `nft -j`
    /// (and so need the JSON reader too).
    ///
    /// Tables, chains and sets are sorted by name (rule order is kept: it is meaning); set elements
    /// are sorted and deduplicated. Constants take one spelling each: a host prefix is an address,
    /// a range that is a CIDR block is a prefix, `a-a` is `a`, a one-element anonymous set is its
    /// element, known names of protocols, ICMP types, ether types … are their numbers, flags are
    /// ordered by bit. The rest mirrors how nft lists what it loaded: an implied protocol match
    /// (`meta l4proto tcp` before `tcp dport`, `meta nfproto ipv4` before `ip saddr` or `meta l4proto
    /// icmp` in inet, `ether type ip` in bridge) is dropped and `th` after `meta l4proto tcp` becomes `tcp`; `log level
    /// warn` (the default) has no level; `reject with icmpx port-unreachable` is `reject`. Counter
    /// values and handles are not in the IR, so there is nothing to strip.
    public func normalizedForComparison() -> Ruleset {
        Ruleset(tables: tables.map { $0.normalizedForComparison() }.sorted { ($0.family.rawValue, $0.name) < ($1.family.rawValue, $1.name) })
    }
}

extension Table {
    /// This table in comparison form (see ``Ruleset/normalizedForComparison()``).
    public func normalizedForComparison() -> Table {
        var table = self
        table.sets = sets.map(Normalizer.set).sorted { $0.name < $1.name }
        table.chains = chains.map { chain in
            var chain = chain
            chain.rules = chain.rules.map { rule in
                var rule = rule
                rule.statements = Normalizer.statements(rule.statements, family: family)
                return rule
            }
            return chain
        }.sorted { $0.name < $1.name }
        return table
    }
}

enum Normalizer {
    static func set(_ set: NamedSet) -> NamedSet {
        var set = set
        let kinds = set.keyType.map(Datatype.init)
        let elements = set.elements.map { element in
            SetElement(
                key: zip(element.key, kinds).map { value($0, kind: $1) },
                data: element.data.map { value($0, kind: set.data.map(Datatype.init) ?? .integer) }
            )
        }
        set.elements = sortedUnique(elements)
        return set
    }

    static func sortedUnique(_ elements: [SetElement]) -> [SetElement] {
        var seen = Set<SetElement>()
        return elements.filter { seen.insert($0).inserted }.sorted { lhs, rhs in
            if lhs.key != rhs.key { return lhs.key.lexicographicallyPrecedes(rhs.key) }
            return String(describing: lhs.data) < String(describing: rhs.data)
        }
    }

    static func statements(_ statements: [Statement], family: TableFamily) -> [Statement] {
        var result = statements.map(statement)
        removeImpliedDependencies(&result, family: family)
        return result
    }

    static func statement(_ statement: Statement) -> Statement {
        switch statement {
        case .match(let left, let op, let right):
            let kind = left.datatype
            let left = expression(left)
            var op = op
            var right = rightSide(right, kind: kind)
            let isFlagTest = kind?.isBitmask == true || { if case .bitwiseAnd = left { true } else { false } }()
            if op == .implicit && !isFlagTest { op = .equal }
            // A one-element anonymous set is printed (and works) as a plain comparison.
            if case .set(let values) = right, values.count == 1, op == .equal || op == .notEqual || op == .implicit {
                right = .value(values[0])
            }
            return .match(left, op, right)
        case .log(let prefix, let level):
            return .log(prefix: prefix, level: level == .warning ? nil : level)
        case .reject(.icmpx("port-unreachable")):
            return .reject(.default)
        case .snat(let to):
            return .snat(to: value(to, kind: to.addressFamily == .ipv6 ? .ipv6Address : .ipv4Address))
        case .dnat(let to, let port):
            return .dnat(to: value(to, kind: to.addressFamily == .ipv6 ? .ipv6Address : .ipv4Address), port: port)
        case .vmap(let key, let map):
            return .vmap(expression(key), map: map)
        case .counter, .limit, .verdict, .reject, .masquerade:
            return statement
        }
    }

    static func expression(_ expression: Expression) -> Expression {
        switch expression {
        case .bitwiseAnd(let left, let right):
            return .bitwiseAnd(self.expression(left), rightSide(right, kind: left.datatype))
        case .concat(let parts):
            return .concat(parts.map(self.expression))
        default:
            return expression
        }
    }

    static func rightSide(_ expression: Expression, kind: Datatype?) -> Expression {
        guard let kind else { return expression }
        switch expression {
        case .value(let constant): return .value(value(constant, kind: kind))
        case .set(let values):
            var seen = Set<Value>()
            return .set(values.map { value($0, kind: kind) }.filter { seen.insert($0).inserted }.sorted())
        default: return expression
        }
    }

    /// One spelling per constant of `kind`.
    static func value(_ constant: Value, kind: Datatype) -> Value {
        switch constant {
        case .symbol(let symbol):
            return value(.string(symbol.name), kind: kind)
        case .string(let text):
            if kind.representation == .interfaceName { return .string(text) }
            if kind.isBitmask { return value(.flags([text]), kind: kind) }
            if kind.isAddress, let address = try? IPAddress(text) { return .address(address) }
            if kind.representation == .etherAddress, let mac = try? MACAddress(text) { return .ether(mac) }
            if let number = kind.number(named: text), let integer = Int(exactly: number) { return .integer(integer) }
            return .symbol(Symbol(unchecked: text))
        case .flags(let names):
            guard kind.isBitmask else { return names.count == 1 ? value(.string(names[0]), kind: kind) : constant }
            let unique = Array(Set(names))
            if unique.isEmpty { return .integer(0) }
            return .flags(unique.sorted { (kind.number(named: $0) ?? .max, $0) < (kind.number(named: $1) ?? .max, $1) })
        case .prefix(let prefix):
            return prefix.isHost ? .address(prefix.address) : .prefix(prefix.masked)
        case .range(let low, let high):
            let low = value(low, kind: kind)
            let high = value(high, kind: kind)
            if low == high { return low }
            if case .address(let first) = low, case .address(let last) = high, let prefix = exactPrefix(first, last) {
                return prefix.isHost ? .address(prefix.address) : .prefix(prefix)
            }
            return .range(low, high)
        case .integer(let number) where kind.isBitmask && number > 0:
            // `tcp flags == 0x12` is `tcp flags == syn,ack`: name the bits when every one has a name.
            let named = kind.flagNames(UInt64(number))
            return named.map { .flags($0) } ?? constant
        case .integer, .address, .ether, .verdict:
            return constant
        }
    }

    /// The prefix covering exactly `first`…`last`, if there is one.
    static func exactPrefix(_ first: IPAddress, _ last: IPAddress) -> IPPrefix? {
        guard first.family == last.family, first <= last else { return nil }
        let width = first.family.bitWidth
        let span = last.integerValue - first.integerValue
        // A block has 2^k addresses (span 2^k - 1) and starts on a multiple of 2^k.
        guard span & (span &+ 1) == 0 else { return nil }
        let hostBits = span == 0 ? 0 : UInt128.bitWidth - span.leadingZeroBitCount
        guard hostBits <= width else { return nil }
        let prefix = IPPrefix(address: first, length: width - hostBits)
        return prefix.isNetworkAddress ? prefix : nil
    }

    /// Drops the protocol matches nft itself adds before a header field and leaves out of listings.
    static func removeImpliedDependencies(_ statements: inout [Statement], family: TableFamily) {
        var index = 0
        while index < statements.count {
            guard case .match(let left, .equal, .value(.integer(let number))) = statements[index], number >= 0 else {
                index += 1
                continue
            }
            let value = UInt64(number)
            var headers: Set<String> = []
            // nft also hides `meta nfproto ipv4` before `meta l4proto icmp` (and ipv6 before ipv6-icmp).
            var impliedByTransport: UInt64?
            switch left {
            case .meta(.l4proto):
                headers = Set([transportHeader(value)].compactMap { $0 })
            case .meta(.nfproto) where family == .inet:
                if value == 2 { headers = ["ip", "icmp"]; impliedByTransport = 1 }
                if value == 10 { headers = ["ip6", "icmpv6"]; impliedByTransport = 58 }
            case .payload(.etherType) where family == .bridge || family == .netdev,
                 .meta(.protocol) where family == .bridge || family == .netdev:
                headers = Set([[0x0800: "ip", 0x86dd: "ip6", 0x0806: "arp", 0x8100: "vlan"][value]].compactMap { $0 })
            case .payload(.ipProtocol) where family == .ip, .payload(.ip6Nexthdr) where family == .ip6:
                headers = Set([transportHeader(value)].compactMap { $0 })
            default:
                break
            }
            guard !headers.isEmpty else {
                index += 1
                continue
            }
            let isTransport = left.datatype == .inetProtocol
            var used = false
            for later in index + 1..<statements.count {
                if isTransport, let header = headers.first, ["tcp", "udp", "udplite", "sctp", "dccp"].contains(header) {
                    // nft prints `meta l4proto tcp th dport 22` as `tcp dport 22`.
                    statements[later] = renamingPayload(statements[later], from: "th", to: header)
                }
                if headers.contains(where: { usesPayload(statements[later], $0) }) { used = true }
                if let impliedByTransport, case .match(.meta(.l4proto), .equal, .value(.integer(let proto))) = statements[later],
                   proto >= 0, UInt64(proto) == impliedByTransport {
                    used = true
                }
            }
            if used {
                statements.remove(at: index)
            } else {
                index += 1
            }
        }
    }

    /// The payload protocol a transport protocol number stands for (`6` → `tcp`), where nft has one.
    static func transportHeader(_ number: UInt64) -> String? {
        [6: "tcp", 17: "udp", 136: "udplite", 132: "sctp", 33: "dccp", 1: "icmp", 58: "icmpv6", 50: "esp", 51: "ah", 108: "comp"][number]
    }

    static func usesPayload(_ statement: Statement, _ header: String) -> Bool {
        func uses(_ expression: Expression) -> Bool {
            switch expression {
            case .payload(let field): field.protocolName == header
            case .concat(let parts): parts.contains(where: uses)
            case .bitwiseAnd(let left, _): uses(left)
            default: false
            }
        }
        switch statement {
        case .match(let left, _, _), .vmap(let left, _): return uses(left)
        default: return false
        }
    }

    static func renamingPayload(_ statement: Statement, from old: String, to new: String) -> Statement {
        func rename(_ expression: Expression) -> Expression {
            switch expression {
            case .payload(let field) where field.protocolName == old: Field.named(new, field.name).map(Expression.payload) ?? expression
            case .concat(let parts): .concat(parts.map(rename))
            case .bitwiseAnd(let left, let right): .bitwiseAnd(rename(left), right)
            default: expression
            }
        }
        switch statement {
        case .match(let left, let op, let right): return .match(rename(left), op, right)
        case .vmap(let key, let map): return .vmap(rename(key), map: map)
        default: return statement
        }
    }
}
