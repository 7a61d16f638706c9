import SDNModel
import SDNNFTables

/// Lowers IR rules of one table family to kernel expressions exactly as `nft -f` does for the same text:
/// implicit protocol dependencies inserted where nft inserts them, adjacent payload matches merged,
/// prefixes, ranges, sets and flag tests in nft's instruction patterns, reject and NAT resolved for the
/// protocol context.
struct RuleEncoder {
    let family: TableFamily

    /// nft's limit for a comment (`NFTNL_UDATA_COMMENT_MAXLEN`).
    static let maximumCommentLength = 128
    /// nft's limit for a log prefix (`NF_LOG_PREFIXLEN` - 1).
    static let maximumLogPrefixLength = 127

    func encode(_ rule: Rule) throws(NFTNetlinkError) -> KernelRule {
        let userdata = try Self.userdata(of: rule)
        let statements = StatementMerging.merge(try lower(rule.statements))
        var kernelRule = try Self.linearize(statements)
        kernelRule.userdata = userdata
        return kernelRule
    }

    /// The rule's userdata: its id as the comment.
    static func userdata(of rule: Rule) throws(NFTNetlinkError) -> [UInt8] {
        guard rule.id.utf8.count <= maximumCommentLength, !rule.id.utf8.contains(0) else {
            throw .unsupported("rule id \"\(rule.id)\" is longer than \(maximumCommentLength) bytes (it is stored as the rule's comment)")
        }
        return UserData.ruleComment(rule.id)
    }

    // MARK: - Evaluation: IR statements → nft statements

    func lower(_ statements: [Statement]) throws(NFTNetlinkError) -> [NFTStatement] {
        var context = ProtocolContext(family: family)
        var result: [NFTStatement] = []
        for statement in statements {
            switch statement {
            case .match(let left, let op, let right):
                let matchLeft = try lowerLeft(left)
                for field in matchLeft.fields {
                    if let header = field.header { result += try context.dependencies(for: header).map(NFTStatement.match) }
                }
                let match = try lowerMatch(matchLeft, op, right, statement: statement)
                result.append(.match(match))
                context.update(after: match)
            case .vmap(let key, let map):
                let left = try lowerLeft(key)
                if case .masked = left { throw .unsupported("vmap on a masked key: \(NFTTextRenderer.render(statement: statement))") }
                for field in left.fields {
                    if let header = field.header { result += try context.dependencies(for: header).map(NFTStatement.match) }
                }
                result.append(.vmap(left, map: map))
            case .verdict(let verdict):
                result.append(.verdict(KernelVerdict(verdict)))
            case .counter:
                result.append(.counter)
            case .log(let prefix, let level):
                if let prefix, prefix.utf8.count > Self.maximumLogPrefixLength || prefix.utf8.contains(0) {
                    throw .unsupported("log prefix \"\(prefix)\" is longer than \(Self.maximumLogPrefixLength) bytes")
                }
                result.append(.log(prefix: prefix, level: level.flatMap(NFTSymbols.logLevel)))
            case .limit(let rate, let per, let burst):
                guard let unit = NFTSymbols.limitUnits.value(named: per), rate > 0, burst >= 0, burst <= Int(UInt32.max) else {
                    throw .unsupported("limit rate \(rate)/\(per) burst \(burst)")
                }
                result.append(.limit(rate: UInt64(rate), unit: unit, burst: UInt32(burst)))
            case .reject(let reject):
                result += try lowerReject(reject, context: &context)
            case .masquerade:
                result.append(.masquerade)
            case .snat(let to):
                result.append(.nat(try lowerNAT(to: to, port: nil, destination: false, context: context)))
            case .dnat(let to, let port):
                result.append(.nat(try lowerNAT(to: to, port: port, destination: true, context: context)))
            }
        }
        return result
    }

    private func lowerLeft(_ expression: Expression) throws(NFTNetlinkError) -> Match.Left {
        switch expression {
        case .meta, .payload, .ct:
            guard let field = Field.named(expression) else { throw .unsupported("match on \(Self.describe(expression))") }
            return .field(field)
        case .concat(let parts):
            var fields: [Field] = []
            for part in parts {
                guard let field = Field.named(part) else { throw .unsupported("\(Self.describe(part)) in a concatenation") }
                fields.append(field)
            }
            guard fields.count > 1 else { throw .unsupported("concatenation of one expression") }
            return .concat(fields)
        case .bitwiseAnd(let inner, .value(let mask)):
            guard let field = Field.named(inner) else { throw .unsupported("\(Self.describe(expression))") }
            return .masked(field, mask: try field.kind.encode(mask))
        default:
            throw .unsupported("match on \(Self.describe(expression))")
        }
    }

    /// An expression as an error message names it: always with its `meta` / `ct` keyword.
    static func describe(_ expression: Expression) -> String {
        switch expression {
        case .meta(let key): "meta \(key.name)"
        case .bitwiseAnd(let left, let right): "\(describe(left)) & \(NFTTextRenderer.render(expression: right))"
        case .concat(let parts): parts.map(describe).joined(separator: " . ")
        default: NFTTextRenderer.render(expression: expression)
        }
    }

    private func lowerMatch(_ left: Match.Left, _ op: MatchOperator, _ right: Expression, statement: Statement) throws(NFTNetlinkError) -> Match {
        let matchOperator: Match.Operator = switch op {
        case .equal, .implicit: .equal
        case .notEqual: .notEqual
        case .lessThan: .less
        case .lessOrEqual: .lessOrEqual
        case .greaterThan: .greater
        case .greaterOrEqual: .greaterOrEqual
        }
        let isEquality = matchOperator == .equal || matchOperator == .notEqual
        func unsupported() -> NFTNetlinkError { .unsupported(NFTTextRenderer.render(statement: statement)) }

        switch left {
        case .concat:
            guard case .setReference(let name) = right, isEquality else { throw unsupported() }
            return Match(left: left, op: matchOperator, right: .namedSet(name))
        case .masked(let field, _):
            guard case .value(let value) = right else { throw unsupported() }
            return Match(left: left, op: matchOperator, right: .value(try field.kind.encode(value)))
        case .merged:
            throw unsupported()
        case .field(let field):
            switch right {
            case .setReference(let name):
                guard isEquality else { throw unsupported() }
                return Match(left: left, op: matchOperator, right: .namedSet(name))
            case .set(let values) where values.count == 1:
                // nft turns a one-element anonymous set into a plain match.
                return try lowerMatch(left, op, .value(values[0]), statement: statement)
            case .set(let values):
                guard isEquality, !values.isEmpty else { throw unsupported() }
                return Match(left: left, op: matchOperator, right: .anonymousSet(try SetEncoding.anonymousSet(for: field, values: values)))
            case .value(let value):
                return Match(left: left, op: matchOperator, right: try lowerValue(value, field: field, op: op, isEquality: isEquality, unsupported: unsupported))
            default:
                throw unsupported()
            }
        }
    }

    private func lowerValue(_ value: Value, field: Field, op: MatchOperator, isEquality: Bool, unsupported: () -> NFTNetlinkError) throws(NFTNetlinkError) -> Match.Right {
        switch value {
        case .prefix(let prefix):
            guard isEquality, field.kind == .ipv4Address || field.kind == .ipv6Address else { throw unsupported() }
            if prefix.length == prefix.family.bitWidth { return .value(try field.kind.encode(.address(prefix.network))) }
            return .prefix(try field.kind.encode(.address(prefix.network)), bits: prefix.length)
        case .range:
            guard isEquality else { throw unsupported() }
            let interval = try KernelInterval(value, kind: field.kind)
            return .range(interval.low, interval.high)
        case .string(let name) where field.kind == .interfaceName && name.hasSuffix("*"):
            let stem = Array(name.utf8.dropLast())
            guard isEquality, !stem.isEmpty, stem.count < 16, !stem.contains(0) else { throw unsupported() }
            return .wildcard(stem)
        case .flags where field.kind.isBitmask && op == .implicit, .symbol where field.kind.isBitmask && op == .implicit:
            return .flagTest(try field.kind.encode(value))
        default:
            return .value(try field.kind.encode(value))
        }
    }

    /// `reject`: the ICMP flavour depends on what the rule already knows about the network protocol;
    /// `with tcp reset` needs a TCP dependency when the rule has not established it (as nft adds).
    private func lowerReject(_ reject: Reject, context: inout ProtocolContext) throws(NFTNetlinkError) -> [NFTStatement] {
        switch reject {
        case .tcpReset:
            var result: [NFTStatement] = []
            if context[.transport] != .tcp {
                let dependency = Match(left: .field(Field.l4proto), op: .equal, right: .value([6]))
                context.update(after: dependency)
                result.append(.match(dependency))
            }
            result.append(.reject(type: 1, code: 0))
            return result
        case .default:
            let network: ProtocolHeader? = switch family {
            case .ip: .ip
            case .ip6: .ip6
            case .inet, .bridge, .netdev: context[.network]
            case .arp: throw .unsupported("reject in arp tables")
            }
            switch network {
            case .ip: return [.reject(type: 0, code: 3)]
            case .ip6: return [.reject(type: 0, code: 4)]
            default: return [.reject(type: 2, code: 1)]
            }
        case .icmpx(let name):
            guard family == .inet || family == .bridge || family == .netdev else {
                throw .unsupported("reject with icmpx in \(family.rawValue) tables (abstracted ICMP codes exist only in inet, bridge and netdev)")
            }
            guard let code = NFTSymbols.icmpxCodes.value(named: name) else { throw .unsupported("reject with icmpx \(name)") }
            return [.reject(type: 2, code: UInt8(code))]
        }
    }

    private func lowerNAT(to value: Value, port: UInt16?, destination: Bool, context: ProtocolContext) throws(NFTNetlinkError) -> NATStatement {
        let verb = destination ? "dnat" : "snat"
        let low: IPAddress, high: IPAddress?
        switch value {
        case .address(let address): (low, high) = (address, nil)
        case .range(.address(let first), .address(let last)) where first.family == last.family: (low, high) = (first, last)
        default: throw .unsupported("\(verb) to \(NFTTextRenderer.render(value: value)) (only an address or an address range)")
        }
        if (family == .ip && low.family != .ipv4) || (family == .ip6 && low.family != .ipv6) || !(family == .ip || family == .ip6 || family == .inet) {
            throw .unsupported("\(verb) to \(NFTTextRenderer.render(value: value)) in a \(family.rawValue) table")
        }
        if port != nil && context[.transport] == nil {
            throw .unsupported("\(verb) to \(NFTTextRenderer.render(value: value)):\(port!) needs a transport protocol match before it (as nft requires)")
        }
        let kind: ValueKind = low.family == .ipv4 ? .ipv4Address : .ipv6Address
        return NATStatement(
            isDestination: destination, family: low.family == .ipv4 ? 2 : 10,
            addressMinimum: try kind.encode(.address(low)), addressMaximum: try high.map { address throws(NFTNetlinkError) in try kind.encode(.address(address)) },
            port: port.map { ValueKind.bigEndian(UInt64($0), length: 2) }
        )
    }

    // MARK: - Linearization: nft statements → expressions with registers

    static func linearize(_ statements: [NFTStatement]) throws(NFTNetlinkError) -> KernelRule {
        var expressions: [KernelExpression] = []
        expressions.reserveCapacity(statements.count * 2)
        var sets: [KernelSet] = []
        for statement in statements {
            switch statement {
            case .match(let match):
                expressions += linearize(match, sets: &sets)
            case .vmap(let left, let map):
                expressions += loads(left)
                expressions.append(.lookup(source: Register.first, destination: Register.verdict, set: .named(map), inverted: false))
            case .verdict(let verdict):
                expressions.append(.verdict(verdict))
            case .counter:
                expressions.append(.counter)
            case .log(let prefix, let level):
                expressions.append(.log(prefix: prefix, level: level))
            case .limit(let rate, let unit, let burst):
                expressions.append(.limit(rate: rate, unit: unit, burst: burst))
            case .reject(let type, let code):
                expressions.append(.reject(type: type, code: code))
            case .masquerade:
                expressions.append(.masquerade)
            case .nat(let nat):
                // nft gives each NAT operand a whole 128-bit register: address(es) first, then the port.
                var register = Register.first
                var expression = NATExpression(type: nat.isDestination ? 1 : 0, family: nat.family)
                expressions.append(.immediate(register: register, data: nat.addressMinimum))
                expression.addressMinimum = register
                if let maximum = nat.addressMaximum {
                    register += 1
                    expressions.append(.immediate(register: register, data: maximum))
                    expression.addressMaximum = register
                }
                if let port = nat.port {
                    register += 1
                    expressions.append(.immediate(register: register, data: port))
                    expression.portMinimum = register
                    expression.flags = 2
                }
                expressions.append(.nat(expression))
            case .unrecognised(let text):
                throw .unsupported("unrecognised expressions \(text)")
            }
        }
        return KernelRule(expressions: expressions, anonymousSets: sets, userdata: [])
    }

    private static func compareOperator(_ op: Match.Operator) -> KernelExpression.CompareOperator {
        switch op {
        case .equal: .equal
        case .notEqual: .notEqual
        case .less: .less
        case .lessOrEqual: .lessOrEqual
        case .greater: .greater
        case .greaterOrEqual: .greaterOrEqual
        }
    }

    private static func linearize(_ match: Match, sets: inout [KernelSet]) -> [KernelExpression] {
        let register = Register.first
        let op = compareOperator(match.op)
        switch match.right {
        case .prefix(let network, let bits):
            guard case .field(let field) = match.left else { return [] }
            if case .payload(let layer, let offset) = field.source, bits % 8 == 0, bits > 0 {
                // Whole-byte prefixes load just the prefix bytes.
                return [.payload(base: layer.payloadBase, offset: offset, length: UInt32(bits / 8), register: register),
                        .cmp(register: register, op: op, data: Array(network.prefix(bits / 8)))]
            }
            let mask = prefixMask(bits: bits, length: network.count)
            return loads(match.left) + [
                .bitwise(source: register, destination: register, length: UInt32(network.count), mask: mask, xor: [UInt8](repeating: 0, count: network.count), explicitOperator: false),
                .cmp(register: register, op: op, data: zip(network, mask).map { $0 & $1 }),
            ]
        case .value(let bytes):
            return loads(match.left) + [.cmp(register: register, op: op, data: bytes)]
        case .wildcard(let stem):
            return loads(match.left) + [.cmp(register: register, op: op, data: stem)]
        case .range(let low, let high):
            if match.op == .notEqual {
                return loads(match.left) + [.range(register: register, negated: true, from: low, to: high)]
            }
            return loads(match.left) + [.cmp(register: register, op: .greaterOrEqual, data: low), .cmp(register: register, op: .lessOrEqual, data: high)]
        case .flagTest(let mask):
            let zero = [UInt8](repeating: 0, count: mask.count)
            return loads(match.left) + [
                .bitwise(source: register, destination: register, length: UInt32(mask.count), mask: mask, xor: zero, explicitOperator: false),
                .cmp(register: register, op: .notEqual, data: zero),
            ]
        case .anonymousSet(let set):
            sets.append(set)
            return loads(match.left) + [.lookup(source: register, destination: nil, set: .anonymous(sets.count - 1), inverted: match.op == .notEqual)]
        case .namedSet(let name):
            return loads(match.left) + [.lookup(source: register, destination: nil, set: .named(name), inverted: match.op == .notEqual)]
        }
    }

    static func prefixMask(bits: Int, length: Int) -> [UInt8] {
        (0..<length).map { index in
            let remaining = bits - index * 8
            if remaining >= 8 { return 0xff }
            if remaining <= 0 { return 0 }
            return UInt8(truncatingIfNeeded: 0xff << (8 - remaining))
        }
    }

    /// Loads of the left side into registers: one field into register 1; a concatenation into
    /// consecutive 32-bit slots, each component padded to whole slots.
    static func loads(_ left: Match.Left) -> [KernelExpression] {
        switch left {
        case .field(let field):
            return [load(field, register: Register.first)]
        case .masked(let field, let mask):
            return [load(field, register: Register.first),
                    .bitwise(source: Register.first, destination: Register.first, length: UInt32(mask.count), mask: mask, xor: [UInt8](repeating: 0, count: mask.count), explicitOperator: true)]
        case .merged(let fields, _):
            guard case .payload(let layer, let offset) = fields[0].source else { return [] }
            return [.payload(base: layer.payloadBase, offset: offset, length: UInt32(fields.reduce(0) { $0 + $1.length }), register: Register.first)]
        case .concat(let fields):
            var slot = 0
            var result: [KernelExpression] = []
            for field in fields {
                result.append(load(field, register: Register.forSlot(slot)))
                slot += SetEncoding.paddedLength(field.length) / 4
            }
            return result
        }
    }

    static func load(_ field: Field, register: UInt32) -> KernelExpression {
        switch field.source {
        case .meta(let key): .meta(key: key, register: register)
        case .ct(let key): .ct(key: key, register: register)
        case .payload(let layer, let offset): .payload(base: layer.payloadBase, offset: offset, length: UInt32(field.length), register: register)
        }
    }
}
