public import SDNModel

/// Evaluates a ``Ruleset`` for one packet the way nf_tables does, without a kernel: for `sdn trace`,
/// and to test compiled policies by the packets they accept and drop.
///
/// On a hook, every base chain registered there runs in priority order (equal priorities: in table
/// order, then chain order). `accept` ends only the current base chain — the packet goes on to the
/// next base chain on the hook — while `drop` and `reject` end everything. `jump` returns to the rule
/// after it when the called chain ends or says `return`; `goto` does not. A base chain that runs out
/// of rules applies its policy. Counters and log statements do not change anything; `limit` is taken
/// as under its rate. NAT base chains see only the first packet of a connection (`ct state new`).
public struct PacketInterpreter: Sendable {
    /// Where a packet meets the ruleset: the hook, and which stack it passes (`inet` for the IP stack,
    /// which also sees `ip` or `ip6` tables as the packet's version says; `bridge` for bridged frames).
    public struct HookPoint: Hashable, Sendable, CustomStringConvertible {
        public var family: TableFamily
        public var hook: BaseChain.Hook
        /// Only the base chains whose priority lies here; `nil` for all of them. A hook is split where
        /// the kernel runs something else between its chains: br_netfilter hands a bridged frame to the
        /// IP hooks from inside the bridge prerouting and forward hooks, at its own priority.
        public var priorities: ClosedRange<Int>?

        public init(_ family: TableFamily, _ hook: BaseChain.Hook, priorities: ClosedRange<Int>? = nil) {
            self.family = family
            self.hook = hook
            self.priorities = priorities
        }

        public var description: String { "\(family.rawValue) \(hook.rawValue)" }

        /// The priority range in nft's words (`priority <= 0`, `priority >= 1`), when the hook is split.
        public var priorityDescription: String? {
            guard let priorities else { return nil }
            switch (priorities.lowerBound, priorities.upperBound) {
            case (Int.min, Int.max): return nil
            case (Int.min, let high): return "priority <= \(high)"
            case (let low, Int.max): return "priority >= \(low)"
            case (let low, let high): return "priority \(low)...\(high)"
            }
        }
    }

    /// The kernel's jump stack depth (NFT_JUMP_STACK_SIZE); nft refuses deeper rulesets.
    public static let maximumJumpDepth = 16

    public var ruleset: Ruleset

    public init(ruleset: Ruleset) {
        self.ruleset = ruleset
    }

    /// The base chains a packet passes at `point`, in the order it passes them.
    public func baseChains(for packet: Packet, at point: HookPoint) -> [(table: Table, chain: Chain)] {
        let families = Self.families(for: packet, at: point.family)
        var found: [(table: Table, chain: Chain, order: Int)] = []
        for table in ruleset.tables where families.contains(table.family) {
            for chain in table.chains where chain.base?.hook == point.hook && point.priorities.map({ $0.contains(chain.base!.priority) }) ?? true {
                found.append((table, chain, found.count))
            }
        }
        return found.sorted { ($0.chain.base!.priority, $0.order) < ($1.chain.base!.priority, $1.order) }.map { ($0.table, $0.chain) }
    }

    static func families(for packet: Packet, at family: TableFamily) -> Set<TableFamily> {
        switch family {
        case .inet, .ip, .ip6:
            switch packet.network {
            case .ipv4: [.inet, .ip]
            case .ipv6: [.inet, .ip6]
            case .arp: [.arp]
            case nil: [.inet]
            }
        case .bridge, .arp, .netdev: [family]
        }
    }

    /// Runs `packet` through every base chain on `point`.
    ///
    /// - Throws: ``InterpreterError`` for what it cannot evaluate faithfully — a field or key it does
    ///   not model, a constant of the wrong type, a jump to a missing chain or set — naming the rule.
    public func trace(_ packet: Packet, at point: HookPoint) throws(InterpreterError) -> Trace {
        var steps: [Trace.Step] = []
        for (table, chain) in baseChains(for: packet, at: point) {
            if chain.base?.type == .nat && packet.ctState != .new {
                steps.append(Trace.Step(
                    kind: .skipped, family: table.family, table: table.name, chain: chain.name,
                    text: "nat chain: only the first packet of a connection passes it", matched: false
                ))
                continue
            }
            let evaluator = Evaluator(table: table, packet: packet, context: point.family)
            let verdict = try evaluator.run(baseChain: chain, steps: &steps)
            if verdict != .accept {
                return Trace(packet: packet, hook: point, verdict: verdict, steps: steps)
            }
        }
        return Trace(packet: packet, hook: point, verdict: .accept, steps: steps)
    }
}

/// Something the interpreter cannot evaluate faithfully, with the rule it is in.
public struct InterpreterError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// An expression, field or statement the interpreter does not model.
        case unsupported
        /// A constant that does not fit the field it is compared with (an IPv6 prefix for `ip saddr` …).
        case typeMismatch
        /// A `jump`, `goto`, set or map reference to something the table does not have.
        case unknownReference
        /// Deeper than the kernel's jump stack.
        case jumpTooDeep
    }

    public var code: Code
    public var message: String
    public var family: TableFamily?
    public var table: String?
    public var chain: String?
    public var ruleID: String?
    public var origin: SourceLocation?

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String {
        var text = message
        if let table, let family {
            text += " (rule \(ruleID.map { "\"\($0)\"" } ?? "?") in \(family.rawValue) \(table) \(chain ?? "?"))"
        }
        if let origin { text += " from \(origin)" }
        return text
    }
}

// MARK: - Evaluation

/// A loaded field: a number (addresses, MACs, ports, flags, protocol numbers) or an interface name.
private enum Datum: Hashable {
    case number(UInt128)
    case text(String)
}

/// A constant made ready to compare with a loaded field.
private enum Pattern {
    case exact(Datum)
    case range(UInt128, UInt128)
    /// `"tap*"`: interface names starting with this.
    case namePrefix(String)

    func matches(_ datum: Datum) -> Bool {
        switch (self, datum) {
        case (.exact(let expected), _): expected == datum
        case (.range(let low, let high), .number(let number)): low <= number && number <= high
        case (.namePrefix(let prefix), .text(let name)): name.hasPrefix(prefix)
        default: false
        }
    }
}

private struct Evaluator {
    let table: Table
    let packet: Packet
    let context: TableFamily

    private struct Frame {
        var chain: Chain
        var next: Int
    }

    func step(_ kind: Trace.Step.Kind, chain: Chain, text: String, matched: Bool, action: Trace.Action?, depth: Int, rule: Rule? = nil) -> Trace.Step {
        Trace.Step(
            kind: kind, family: table.family, table: table.name, chain: chain.name, ruleID: rule?.id, text: text,
            origin: rule?.origin, matched: matched, action: action, depth: depth
        )
    }

    /// One base chain: its rules, the chains it jumps to, then its policy.
    func run(baseChain: Chain, steps: inout [Trace.Step]) throws(InterpreterError) -> PacketVerdict {
        let policy = baseChain.base?.policy ?? .accept
        var current = baseChain
        var index = 0
        var stack: [Frame] = []

        func applyPolicy() -> PacketVerdict {
            steps.append(step(.policy, chain: baseChain, text: "policy \(policy.rawValue)", matched: true,
                              action: .verdict(policy == .accept ? .accept : .drop), depth: 0))
            return policy == .accept ? .accept : .drop
        }

        while true {
            guard index < current.rules.count else {
                if current.name != baseChain.name || !stack.isEmpty {
                    steps.append(step(.chainEnd, chain: current, text: "end of chain, return", matched: false, action: .verdict(.return), depth: stack.count))
                }
                guard let frame = stack.popLast() else { return applyPolicy() }
                current = frame.chain
                index = frame.next
                continue
            }
            let rule = current.rules[index]
            index += 1
            let outcome: (matched: Bool, action: Trace.Action?)
            do {
                outcome = try evaluate(rule)
            } catch var error {
                error.family = table.family
                error.table = table.name
                error.chain = current.name
                error.ruleID = rule.id
                error.origin = rule.origin
                throw error
            }
            steps.append(step(.rule, chain: current, text: NFTTextRenderer.render(rule), matched: outcome.matched,
                              action: outcome.action, depth: stack.count, rule: rule))
            guard let action = outcome.action else { continue }
            switch action {
            case .verdict(.accept), .nat: return .accept
            case .verdict(.drop): return .drop
            case .reject(let reject): return .reject(reject)
            case .verdict(.continue): continue
            case .verdict(.return):
                guard let frame = stack.popLast() else { return applyPolicy() }
                current = frame.chain
                index = frame.next
            case .verdict(.jump(let name)), .verdict(.goto(let name)):
                var target: Chain
                do {
                    target = try chain(named: name)
                } catch var error {
                    error.family = table.family
                    error.table = table.name
                    error.chain = current.name
                    error.ruleID = rule.id
                    error.origin = rule.origin
                    throw error
                }
                if case .verdict(.jump) = action {
                    guard stack.count < PacketInterpreter.maximumJumpDepth else {
                        var error = InterpreterError(code: .jumpTooDeep, message: "more than \(PacketInterpreter.maximumJumpDepth) nested jumps (the kernel's limit); is there a loop?")
                        error.family = table.family
                        error.table = table.name
                        error.chain = current.name
                        error.ruleID = rule.id
                        throw error
                    }
                    stack.append(Frame(chain: current, next: index))
                }
                // A goto still counts against the kernel's loop detection; stop runaway goto cycles too.
                if steps.count > 100_000 {
                    throw InterpreterError(code: .jumpTooDeep, message: "evaluation did not end after 100000 steps; is there a goto loop?")
                }
                current = target
                index = 0
            }
        }
    }

    func chain(named name: String) throws(InterpreterError) -> Chain {
        guard let target = table.chain(name) else {
            throw InterpreterError(code: .unknownReference, message: "chain \(name) does not exist in table \(table.family.rawValue) \(table.name)")
        }
        guard target.base == nil else {
            throw InterpreterError(code: .unknownReference, message: "cannot jump to base chain \(name)")
        }
        return target
    }

    /// A rule's statements left to right: the first failing match ends it; the first verdict decides.
    func evaluate(_ rule: Rule) throws(InterpreterError) -> (matched: Bool, action: Trace.Action?) {
        for statement in rule.statements {
            switch statement {
            case .match(let left, let op, let right):
                guard try match(left, op, right) else { return (false, nil) }
            case .counter, .log, .limit:
                continue
            case .verdict(let verdict):
                return (true, .verdict(verdict))
            case .vmap(let key, let name):
                guard let verdict = try lookUpVerdict(key, in: name) else { return (false, nil) }
                return (true, .verdict(verdict))
            case .reject(let reject):
                return (true, .reject(reject))
            case .masquerade, .snat, .dnat:
                return (true, .nat(statement))
            }
        }
        return (true, nil)
    }

    // MARK: Matches

    func match(_ left: Expression, _ op: MatchOperator, _ right: Expression) throws(InterpreterError) -> Bool {
        if case .concat(let parts) = left {
            guard case .setReference(let name) = right else {
                throw InterpreterError(code: .unsupported, message: "a concatenation can only be looked up in a named set")
            }
            var datums: [Datum] = []
            for part in parts {
                guard let kind = part.datatype else { throw unsupported(part) }
                guard let datum = try load(part, kind: kind) else { return false }
                datums.append(datum)
            }
            return try membership(op, try set(named: name).contains(datums, evaluator: self))
        }
        guard let kind = left.datatype else { throw unsupported(left) }
        guard let datum = try load(left, kind: kind) else { return false }
        switch right {
        case .setReference(let name):
            return try membership(op, try set(named: name).contains([datum], evaluator: self))
        case .set(let values):
            var found = false
            for value in values where try pattern(value, kind: kind).matches(datum) {
                found = true
                break
            }
            return try membership(op, found)
        case .value(let value):
            let isFlagTest: Bool = if case .bitwiseAnd = left { false } else { kind.isBitmask && op == .implicit }
            if isFlagTest {
                guard case .number(let bits) = datum, case .exact(.number(let mask)) = try pattern(value, kind: kind) else {
                    throw InterpreterError(code: .typeMismatch, message: "\(NFTTextRenderer.render(value: value)) is not a flag list")
                }
                return bits & mask != 0
            }
            let expected = try pattern(value, kind: kind)
            switch op {
            case .equal, .implicit: return expected.matches(datum)
            case .notEqual: return !expected.matches(datum)
            case .lessThan, .greaterThan, .lessOrEqual, .greaterOrEqual:
                guard case .number(let number) = datum, case .exact(.number(let bound)) = expected else {
                    throw InterpreterError(code: .typeMismatch, message: "'\(op.rawValue)' needs a number, not \(NFTTextRenderer.render(value: value))")
                }
                switch op {
                case .lessThan: return number < bound
                case .greaterThan: return number > bound
                case .lessOrEqual: return number <= bound
                default: return number >= bound
                }
            }
        default:
            throw InterpreterError(code: .unsupported, message: "cannot compare with \(NFTTextRenderer.render(expression: right))")
        }
    }

    func membership(_ op: MatchOperator, _ found: Bool) throws(InterpreterError) -> Bool {
        switch op {
        case .equal, .implicit: return found
        case .notEqual: return !found
        default: throw InterpreterError(code: .unsupported, message: "'\(op.rawValue)' with a set")
        }
    }

    func set(named name: String) throws(InterpreterError) -> NamedSet {
        guard let set = table.set(name) else {
            throw InterpreterError(code: .unknownReference, message: "set @\(name) does not exist in table \(table.family.rawValue) \(table.name)")
        }
        return set
    }

    func lookUpVerdict(_ key: Expression, in name: String) throws(InterpreterError) -> Verdict? {
        let map = try set(named: name)
        guard map.data == .verdict else {
            throw InterpreterError(code: .typeMismatch, message: "@\(name) is not a verdict map")
        }
        let parts: [Expression] = if case .concat(let parts) = key { parts } else { [key] }
        var datums: [Datum] = []
        for part in parts {
            guard let kind = part.datatype else { throw unsupported(part) }
            guard let datum = try load(part, kind: kind) else { return nil }
            datums.append(datum)
        }
        guard let element = try map.element(matching: datums, evaluator: self) else { return nil }
        guard case .verdict(let verdict) = element.data else {
            throw InterpreterError(code: .typeMismatch, message: "element of verdict map @\(name) without a verdict")
        }
        return verdict
    }

    func unsupported(_ expression: Expression) -> InterpreterError {
        InterpreterError(code: .unsupported, message: "cannot evaluate \(NFTTextRenderer.render(expression: expression))")
    }

    // MARK: Loading fields

    /// The field's value in this packet; `nil` when the packet has no such header (no match).
    func load(_ expression: Expression, kind: Datatype) throws(InterpreterError) -> Datum? {
        switch expression {
        case .payload(let field):
            return try loadPayload(field)
        case .meta(let key):
            return try loadMeta(key)
        case .ct(let key):
            guard key == .state else { throw unsupported(expression) }
            return .number(UInt128(packet.ctState.bit))
        case .bitwiseAnd(let left, .value(let maskValue)):
            guard case .exact(.number(let mask)) = try pattern(maskValue, kind: kind) else {
                throw InterpreterError(code: .typeMismatch, message: "'&' needs a number or flags, not \(NFTTextRenderer.render(value: maskValue))")
            }
            guard let loaded = try load(left, kind: kind) else { return nil }
            guard case .number(let number) = loaded else { throw unsupported(expression) }
            return .number(number & mask)
        default:
            throw unsupported(expression)
        }
    }

    private func number<T: BinaryInteger>(_ value: T?) -> Datum? { value.map { .number(UInt128($0)) } }

    private func address(_ address: IPAddress?) -> Datum? { address.map { .number($0.integerValue) } }

    private func mac(_ mac: MACAddress?) -> Datum? {
        mac.map { .number($0.octets.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }) }
    }

    func loadPayload(_ field: Field) throws(InterpreterError) -> Datum? {
        let isIPv4 = packet.network == .ipv4
        let isIPv6 = packet.network == .ipv6
        let isARP = packet.network == .arp
        let transport = packet.l4proto
        switch field {
        case .etherSaddr: return mac(packet.etherSource)
        case .etherDaddr: return mac(packet.etherDestination)
        case .etherType: return number(packet.network?.etherType)
        case .ipSaddr: return isIPv4 ? address(packet.saddr) : nil
        case .ipDaddr: return isIPv4 ? address(packet.daddr) : nil
        case .ipProtocol: return isIPv4 ? number(transport?.number) : nil
        case .ip6Saddr: return isIPv6 ? address(packet.saddr) : nil
        case .ip6Daddr: return isIPv6 ? address(packet.daddr) : nil
        case .ip6Nexthdr: return isIPv6 ? number(transport?.number) : nil
        case .arpSaddrIP: return isARP ? address(packet.saddr) : nil
        case .arpDaddrIP: return isARP ? address(packet.daddr) : nil
        case .arpSaddrEther: return isARP ? mac(packet.etherSource) : nil
        case .tcpFlags: return transport == .tcp && packet.ipVersion != nil ? .number(UInt128(packet.tcpFlags.rawValue)) : nil
        case .icmpType: return transport == .icmp && isIPv4 ? number(packet.icmpType) : nil
        case .icmpCode: return transport == .icmp && isIPv4 ? number(packet.icmpCode) : nil
        case .icmpv6Type: return transport == .icmpv6 && isIPv6 ? number(packet.icmpType) : nil
        case .icmpv6Code: return transport == .icmpv6 && isIPv6 ? number(packet.icmpCode) : nil
        default:
            guard field.datatype == .inetService, packet.ipVersion != nil, let transport else { break }
            if field.protocolName == "th" {
                // The kernel reads `th` bytes whatever the protocol (no dependency): on ICMP, GRE, ESP …
                // they are a checksum or an SPI, which a packet here does not carry. nft lists `th`
                // only behind a `meta l4proto` match of protocols with ports, which keeps it off this path.
                guard transport.hasPorts else {
                    throw InterpreterError(code: .unsupported, message: "cannot evaluate \(field) on a \(transport) packet: the kernel reads its header bytes there")
                }
            } else if !(transport.hasPorts && transport.description == field.protocolName) {
                return nil
            }
            return number(field.name == "sport" ? packet.sport : packet.dport)
        }
        if field.datatype == .inetService { return nil }
        throw unsupported(.payload(field))
    }

    func loadMeta(_ key: MetaKey) throws(InterpreterError) -> Datum? {
        switch key {
        case .iifname: return packet.iifname.map { .text($0) }
        case .oifname: return packet.oifname.map { .text($0) }
        case .ibrname: return packet.ibrname.map { .text($0) }
        case .obrname: return packet.obrname.map { .text($0) }
        case .l4proto: return packet.ipVersion != nil ? number(packet.l4proto?.number) : nil
        case .protocol: return number(packet.network?.etherType)
        case .nfproto:
            switch context {
            case .bridge: return .number(7)
            case .arp: return .number(3)
            case .netdev: return .number(5)
            case .inet, .ip, .ip6: return packet.ipVersion.map { .number($0 == 4 ? 2 : 10) }
            }
        case .pkttype: return .number(UInt128(packet.packetType))
        case .mark: return .number(UInt128(packet.mark))
        default: throw unsupported(.meta(key))
        }
    }

    // MARK: Constants

    /// A constant as a pattern for fields of `kind`.
    func pattern(_ value: Value, kind: Datatype) throws(InterpreterError) -> Pattern {
        func mismatch() -> InterpreterError {
            InterpreterError(code: .typeMismatch, message: "\(NFTTextRenderer.render(value: value)) does not fit a field of type \(kind)")
        }
        switch value {
        case .integer(let number):
            guard number >= 0, kind.representation == .number else { throw mismatch() }
            return .exact(.number(UInt128(number)))
        case .symbol(let symbol):
            return try pattern(.string(symbol.name), kind: kind)
        case .string(let text):
            switch kind.representation {
            case .interfaceName:
                return text.hasSuffix("*") ? .namePrefix(String(text.dropLast())) : .exact(.text(text))
            case .ipv4Address, .ipv6Address:
                guard let address = try? IPAddress(text) else { throw mismatch() }
                return try pattern(.address(address), kind: kind)
            case .etherAddress:
                guard let parsed = try? MACAddress(text) else { throw mismatch() }
                return try pattern(.ether(parsed), kind: kind)
            default:
                if let number = kind.number(named: text) { return .exact(.number(UInt128(number))) }
                if let number = UInt128(text) { return .exact(.number(number)) }
                throw InterpreterError(code: .unsupported, message: "unknown name '\(text)' for a field of type \(kind)")
            }
        case .flags(let names):
            var bits: UInt128 = 0
            for name in names {
                guard let bit = kind.number(named: name).map({ UInt128($0) }) else {
                    throw InterpreterError(code: .unsupported, message: "unknown flag '\(name)' for a field of type \(kind)")
                }
                bits |= bit
            }
            return .exact(.number(bits))
        case .address(let address):
            guard kind.isAddress, (address.family == .ipv4) == (kind == .ipv4Address) else { throw mismatch() }
            return .exact(.number(address.integerValue))
        case .prefix(let prefix):
            guard kind.isAddress, (prefix.family == .ipv4) == (kind == .ipv4Address) else { throw mismatch() }
            return .range(prefix.network.integerValue, prefix.lastAddress.integerValue)
        case .range(let low, let high):
            guard case .exact(.number(let first)) = try pattern(low, kind: kind),
                  case .exact(.number(let last)) = try pattern(high, kind: kind)
            else { throw mismatch() }
            return .range(first, last)
        case .ether(let mac):
            guard kind.representation == .etherAddress else { throw mismatch() }
            return .exact(.number(mac.octets.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }))
        case .verdict:
            throw mismatch()
        }
    }
}

extension NamedSet {
    /// Whether an element's key matches `datums` component by component (prefixes and ranges too).
    fileprivate func contains(_ datums: [Datum], evaluator: Evaluator) throws(InterpreterError) -> Bool {
        try element(matching: datums, evaluator: evaluator) != nil
    }

    fileprivate func element(matching datums: [Datum], evaluator: Evaluator) throws(InterpreterError) -> SetElement? {
        guard keyType.count == datums.count else {
            throw InterpreterError(code: .typeMismatch, message: "@\(name) has \(keyType.count) key component(s), the lookup \(datums.count)")
        }
        let kinds = keyType.map(Datatype.init)
        elements: for element in elements {
            guard element.key.count == datums.count else { continue }
            for (index, value) in element.key.enumerated() where !(try evaluator.pattern(value, kind: kinds[index]).matches(datums[index])) {
                continue elements
            }
            return element
        }
        return nil
    }
}
