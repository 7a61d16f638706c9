import SDNModel

extension Ruleset {
    /// The ruleset as the kernel gives it back after it has been applied: what reading it through
    /// netlink returns, computed from the IR alone. A planner diffs observed state against this.
    ///
    /// Tables, chains, sets and rules keep their order. Constants are written the way the decoder
    /// reads wire bytes: known names as `.symbol` (the name nft prints, `ipv6-icmp` for 58), flag values
    /// as `.flags` in bit order, host prefixes as addresses, prefixes masked, a one-element set as its
    /// value, anonymous sets sorted with adjacent and overlapping ranges merged (nft auto-merges them),
    /// named set elements in the kernel's order with CIDR-aligned ranges as prefixes. Matches use
    /// `.equal`, `.implicit` only for flag tests. Protocol matches that are exactly the dependency nft
    /// inserts before a payload match are dropped (`meta nfproto ipv4` before `ip saddr` in inet);
    /// `reject with tcp reset` gets its `meta l4proto tcp` unless TCP is known; `log` states its level
    /// (the kernel reports `warn` when none was given); adjacent payload matches that nft merges into
    /// one load (`udp dport 53 udp sport 53`) come in header order.
    ///
    /// A form the netlink encoder refuses keeps its constants as written: the encoder is where that
    /// is reported.
    public func canonical() -> Ruleset {
        Ruleset(tables: tables.map { $0.canonical() })
    }
}

extension Table {
    /// This table as the kernel gives it back (see ``Ruleset/canonical()``).
    public func canonical() -> Table {
        var table = self
        table.sets = sets.map(Canonical.set)
        table.chains = chains.map { chain in
            var chain = chain
            chain.rules = chain.rules.map { rule in
                var rule = rule
                rule.statements = Canonical.statements(rule.statements, family: family)
                return rule
            }
            return chain
        }
        return table
    }
}

enum Canonical {
    // MARK: - Sets

    static func set(_ set: NamedSet) -> NamedSet {
        let kinds = set.keyType.map(Datatype.init)
        guard !kinds.isEmpty, !kinds.contains(.verdict) else { return set }
        let dataKind = set.data.map(Datatype.init)
        var decoded: [(element: SetElement, bytes: [UInt8])] = []
        decoded.reserveCapacity(set.elements.count)
        for element in set.elements {
            guard element.key.count == kinds.count else { return set }
            var key: [Value] = []
            var bytes: [UInt8] = []
            for (value, kind) in zip(element.key, kinds) {
                guard let interval = try? WireInterval(value, datatype: kind), let canonical = interval.value(datatype: kind) else { return set }
                key.append(canonical)
                bytes += kinds.count == 1 ? interval.low : padded(interval.low)
            }
            var data = element.data
            if let dataKind, dataKind != .verdict, let value = element.data {
                guard let wire = try? dataKind.wireBytes(value), let back = dataKind.value(wire: wire) else { return set }
                data = back
            }
            decoded.append((SetElement(key: key, data: data), bytes))
        }
        var result = set
        result.elements = SetElement.sortedLikeKernel(decoded)
        return result
    }

    /// Concatenated key components take whole 32-bit registers.
    static func padded(_ bytes: [UInt8]) -> [UInt8] {
        bytes + [UInt8](repeating: 0, count: (bytes.count + 3) / 4 * 4 - bytes.count)
    }

    // MARK: - Rules

    static func statements(_ statements: [Statement], family: TableFamily) -> [Statement] {
        var context = ProtocolContext(family: family)
        var result: [(statement: Statement, context: ProtocolContext)] = []
        result.reserveCapacity(statements.count)
        for statement in mergedInHeaderOrder(statements) {
            switch statement {
            case .match(let left, let op, let right):
                let canonical = match(left, op, right)
                if case .match(let canonicalLeft, _, _) = canonical {
                    stripDependencies(of: canonicalLeft, from: &result)
                    for field in fields(of: canonicalLeft) {
                        if let header = ProtocolHeader(payloadOf: field) { _ = try? context.dependencies(of: header) }
                    }
                }
                result.append((canonical, context))
                learn(from: statement, into: &context)
            case .vmap(let key, let map):
                stripDependencies(of: key, from: &result)
                for field in fields(of: key) {
                    if let header = ProtocolHeader(payloadOf: field) { _ = try? context.dependencies(of: header) }
                }
                result.append((.vmap(key, map: map), context))
            case .log(let prefix, let level):
                result.append((.log(prefix: prefix, level: level ?? .warning), context))
            case .reject(let reject):
                for canonical in self.reject(reject, family: family, context: &context) { result.append((canonical, context)) }
            case .counter, .limit, .verdict, .masquerade, .snat, .dnat:
                result.append((statement, context))
            }
        }
        return result.map(\.statement)
    }

    /// The catalog fields an expression reads.
    static func fields(of expression: Expression) -> [Field] {
        switch expression {
        case .payload, .meta, .ct: expression.field.map { [$0] } ?? []
        case .concat(let parts): parts.flatMap(fields(of:))
        case .bitwiseAnd(let left, _): fields(of: left)
        default: []
        }
    }

    /// What the context learns from a match as written (the encoder learns from the lowered match:
    /// an equality with one value, or each element of a set that is not an interval set, in the
    /// order written; the last one wins, as in nft 1.0.6).
    static func learn(from statement: Statement, into context: inout ProtocolContext) {
        guard case .match(let left, let op, let right) = statement, op == .equal || op == .implicit, let field = left.field else { return }
        let values: [Value]
        switch right {
        case .value(let value): values = [value]
        case .set(let elements) where elements.count == 1: values = elements
        case .set(let elements):
            guard !elements.contains(where: { if case .range = $0 { true } else if case .prefix = $0 { true } else { false } }) else { return }
            values = elements
        default: return
        }
        for value in values {
            if let number = number(value, field.datatype) { context.learn(field, equals: number) }
        }
    }

    static func number(_ value: Value, _ datatype: Datatype) -> UInt64? {
        guard datatype.representation == .number, let bytes = try? datatype.wireBytes(value) else { return nil }
        return datatype.isHostOrderOnWire ? Datatype.number(hostOrder: bytes) : Datatype.number(bigEndian: bytes)
    }

    /// Removes the matches just before a payload match that are exactly the dependencies the encoder
    /// would insert for it at that point (the decoder cannot tell them apart, so it drops them).
    static func stripDependencies(of left: Expression, from result: inout [(statement: Statement, context: ProtocolContext)]) {
        let headers = fields(of: left).compactMap(ProtocolHeader.init(payloadOf:))
        guard !headers.isEmpty else { return }
        for count in stride(from: min(result.count, 4), through: 1, by: -1) {
            let candidates = result[(result.count - count)...]
            guard candidates.allSatisfy({ if case .match = $0.statement { true } else { false } }) else { continue }
            var context = candidates.first!.context
            var expected: [Statement] = []
            do {
                for header in headers {
                    expected += try context.dependencies(of: header).map { dependency in
                        let value = dependency.field.datatype.value(wire: dependencyBytes(dependency)) ?? .integer(Int(dependency.number))
                        return Statement.match(dependency.field.expression, .equal, .value(value))
                    }
                }
            } catch {
                continue
            }
            if expected == candidates.map(\.statement) {
                result.removeLast(count)
                return
            }
        }
    }

    static func dependencyBytes(_ dependency: ProtocolContext.Dependency) -> [UInt8] {
        let key = dependency.field
        return key.datatype.isHostOrderOnWire ? Datatype.hostOrder(dependency.number, length: key.length) : Datatype.bigEndian(dependency.number, length: key.length)
    }

    static func reject(_ reject: Reject, family: TableFamily, context: inout ProtocolContext) -> [Statement] {
        let network: ProtocolHeader? = family == .ip ? .ip : family == .ip6 ? .ip6 : context[.network]
        switch reject {
        case .tcpReset:
            guard context[.transport] != .tcp else { return [.reject(.tcpReset)] }
            context.learn(MetaKey.l4proto.field, equals: 6)
            return [.match(.meta(.l4proto), .equal, .value(.symbol(.tcp))), .reject(.tcpReset)]
        case .default:
            return [.reject(.default)]
        case .icmpx(let name):
            // icmpx port-unreachable is also what a plain `reject` becomes where the network protocol is unknown.
            let code = Datatype.icmpxCode.number(named: name)
            if code == 1 && network == nil && family != .ip && family != .ip6 { return [.reject(.default)] }
            return [.reject(reject)]
        }
    }

    // MARK: - Matches

    static func match(_ left: Expression, _ op: MatchOperator, _ right: Expression) -> Statement {
        let equality: MatchOperator = op == .implicit ? .equal : op
        switch left {
        case .bitwiseAnd(let inner, .value(let maskValue)):
            guard let field = inner.field, let mask = try? field.datatype.wireBytes(maskValue),
                  case .value(let value) = right, let data = try? field.datatype.wireBytes(value) else { break }
            let kind = field.datatype
            if kind.isBitmask && equality == .notEqual && data.allSatisfy({ $0 == 0 }) {
                return .match(inner, .implicit, .value(kind.value(wire: mask) ?? maskValue))
            }
            if kind.isAddress, let bits = prefixLength(of: mask), equality == .equal || equality == .notEqual,
               case .address(let address)? = kind.value(wire: data) {
                return .match(inner, equality, .value(.prefix(IPPrefix(address: address, length: bits))))
            }
            let canonicalMask = kind.value(wire: mask) ?? .integer(0)
            let canonicalValue: Value = data.allSatisfy({ $0 == 0 }) ? .integer(0) : (kind.value(wire: data) ?? .integer(0))
            return .match(.bitwiseAnd(inner, .value(canonicalMask)), equality, .value(canonicalValue))
        case .concat:
            return .match(left, equality, right)
        default:
            break
        }
        guard let field = left.field else { return .match(left, op, right) }
        let kind = field.datatype
        switch right {
        case .set(let values) where values.count == 1:
            return match(left, op, .value(values[0]))
        case .set(let values):
            guard let canonical = anonymousSet(values, kind) else { return .match(left, op, right) }
            return .match(left, equality, .set(canonical))
        case .value(let value):
            return .match(left, value.isFlagTest(kind, op) ? .implicit : equality, .value(self.value(value, kind) ?? value))
        default:
            return .match(left, equality, right)
        }
    }

    /// A single constant compared with a field, as the decoder reads it back.
    static func value(_ value: Value, _ kind: Datatype) -> Value? {
        switch value {
        case .prefix(let prefix):
            guard kind.isAddress else { return nil }
            if prefix.length == prefix.family.bitWidth { return .address(prefix.network) }
            return .prefix(IPPrefix(address: prefix.network, length: prefix.length))
        case .range(let low, let high):
            guard let low = try? kind.wireBytes(low), let high = try? kind.wireBytes(high),
                  let first = kind.value(wire: low), let last = kind.value(wire: high) else { return nil }
            return .range(first, last)
        case .string(let name) where kind.representation == .interfaceName && name.hasSuffix("*"):
            return value
        default:
            guard let bytes = try? kind.wireBytes(value) else { return nil }
            return kind.value(wire: bytes)
        }
    }

    /// An anonymous set as the decoder reads it back: nft's auto-merge of ranges, the kernel's order,
    /// a single flag as a symbol.
    static func anonymousSet(_ values: [Value], _ kind: Datatype) -> [Value]? {
        var intervals: [WireInterval] = []
        for value in values {
            guard let interval = try? WireInterval(value, datatype: kind) else { return nil }
            intervals.append(interval)
        }
        var parts: [WireInterval]
        if intervals.contains(where: { !$0.isSingle }) {
            guard kind.isBigEndian else { return nil }
            parts = WireInterval.merged(intervals)
        } else {
            var seen = Set<[UInt8]>()
            parts = intervals.filter { seen.insert($0.low).inserted }
        }
        var decoded: [(element: SetElement, bytes: [UInt8])] = []
        for part in parts {
            guard let value = part.value(datatype: kind) else { return nil }
            decoded.append((SetElement(key: [value]), part.low))
        }
        return SetElement.sortedLikeKernel(decoded).map { element in
            if case .flags(let names) = element.key[0], names.count == 1 { return .symbol(Symbol(unchecked: names[0])) }
            return element.key[0]
        }
    }

    /// The length of a prefix mask (ones then zeros), or nil.
    static func prefixLength(of mask: [UInt8]) -> Int? {
        let bits = mask.reduce(0) { $0 + $1.nonzeroBitCount }
        var expected = [UInt8](repeating: 0, count: mask.count)
        for bit in 0..<bits { expected[bit / 8] |= 0x80 >> UInt8(bit % 8) }
        return expected == mask ? bits : nil
    }

    // MARK: - Merged payload loads

    /// nft's `payload_try_merge` (nft 1.0.6), as the netlink encoder reproduces it: equality matches on
    /// adjacent payload fields of one header become one load, which the decoder splits again in offset
    /// order. Only the order changes here; see the encoder's `StatementMerging` for the rules.
    static func mergedInHeaderOrder(_ statements: [Statement]) -> [Statement] {
        struct Candidate {
            var index: Int
            var base: Field.PayloadBase
            var offset: UInt32
            var length: UInt32
            var isProtocol: Bool
        }
        func candidate(_ statement: Statement, at index: Int) -> Candidate? {
            guard case .match(.payload(let field), let op, let right) = statement, op == .equal || op == .implicit,
                  field.protocolName != "th", case .payload(let base, let offset) = field.source else { return nil }
            let value: Value
            switch right {
            case .value(let single): value = single
            case .set(let elements) where elements.count == 1: value = elements[0]
            default: return nil
            }
            switch value {
            case .prefix(let prefix) where prefix.length != prefix.family.bitWidth: return nil
            case .range: return nil
            case .flags, .symbol: if field.datatype.isBitmask && op == .implicit { return nil }
            default: break
            }
            return Candidate(index: index, base: base, offset: offset, length: UInt32(field.length), isProtocol: field === Field.etherType)
        }
        var runs: [[Candidate]] = []
        var run: [Candidate] = []
        for (index, statement) in statements.enumerated() {
            switch statement {
            case .match:
                if let candidate = candidate(statement, at: index) { run.append(candidate) }
            case .vmap:
                continue
            default:
                if run.count >= 2 { runs.append(run); run = [] }
            }
        }
        if run.count >= 2 { runs.append(run) }
        func canMerge(_ first: Candidate, _ second: Candidate) -> Bool {
            guard first.base == second.base, first.offset + first.length == second.offset else { return false }
            let total = first.length + second.length
            guard total <= 16 else { return false }
            return total <= 4 || first.base == .link || first.length > 4 || second.length > 4
        }
        var slots: [[Statement]] = statements.map { [$0] }
        var changed = false
        for run in runs {
            let sorted = run.sorted { ($0.base.rawValue, $0.offset, $0.index) < ($1.base.rawValue, $1.offset, $1.index) }
            // Each merged group: its statements in offset order, placed where the merge leaves it.
            var group: [Candidate] = [sorted[0]]
            var last = sorted[0]
            var place = sorted[0].index
            func flush() {
                guard group.count > 1 else { return }
                changed = true
                let ordered = group.map { statements[$0.index] }
                for member in group { slots[member.index] = [] }
                slots[place] = ordered
            }
            for this in sorted.dropFirst() {
                if canMerge(last, this) {
                    group.append(this)
                    // The statement carrying the protocol field keeps its place.
                    if this.isProtocol { place = this.index }
                    last = Candidate(index: place, base: last.base, offset: last.offset, length: last.length + this.length, isProtocol: this.isProtocol)
                } else {
                    flush()
                    group = [this]
                    last = this
                    place = this.index
                }
            }
            flush()
        }
        return changed ? slots.flatMap { $0 } : statements
    }
}

extension Value {
    /// Whether comparing a field of `kind` with this constant under `op` is a flag test.
    fileprivate func isFlagTest(_ kind: Datatype, _ op: MatchOperator) -> Bool {
        guard kind.isBitmask, op == .implicit else { return false }
        switch self {
        case .flags, .symbol: return true
        default: return false
        }
    }
}

extension SetElement {
    /// Elements in the order a dump is read back: by wire bytes when that is also `Value` order (most
    /// key types), else by `Value`'s `<` (names, whose order is not their numbers'). Comparing `Value`s
    /// builds strings, so the cheap byte sort goes first and a linear check confirms it.
    public static func sortedLikeKernel(_ elements: [(element: SetElement, bytes: [UInt8])]) -> [SetElement] {
        let byBytes = elements.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }.map(\.element)
        let ordered = zip(byBytes, byBytes.dropFirst()).allSatisfy { !$1.key.lexicographicallyPrecedes($0.key) }
        return ordered ? byBytes : byBytes.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }
}

extension ProtocolHeader {
    /// The header a payload field lies in (nil for meta, ct and `th`).
    public init?(payloadOf field: Field) {
        guard case .payload = field.source else { return nil }
        self.init(rawValue: field.protocolName)
    }
}

extension WireInterval {
    /// Sorted ranges with overlapping and adjacent ones joined (nft's auto-merge of anonymous sets).
    public static func merged(_ intervals: [WireInterval]) -> [WireInterval] {
        var result: [WireInterval] = []
        for next in intervals.sorted(by: { $0.low.lexicographicallyPrecedes($1.low) }) {
            if var last = result.last {
                let touches = last.high.incremented().map { !$0.lexicographicallyPrecedes(next.low) } ?? true
                if touches {
                    if last.high.lexicographicallyPrecedes(next.high) { last.high = next.high }
                    result[result.count - 1] = last
                    continue
                }
            }
            result.append(next)
        }
        return result
    }
}
