import SDNModel
import SDNNFTables

/// Reads a dumped rule's expressions back into IR statements: the reverse of ``RuleEncoder``.
///
/// It walks the expressions with nft's protocol context, so payload offsets are named by the protocol
/// in force (`transport header + 2` is `tcp dport` after `meta l4proto tcp`), merged loads are split into
/// their fields, and a match is dropped exactly when it is the dependency the encoder would have inserted
/// at that point. Anything else becomes a visible `unrecognised` match that never equals a compiled rule.
struct RuleDecoder {
    let family: TableFamily
    /// The table's anonymous sets by kernel name (`__set0` …).
    let anonymousSets: [String: KernelSet]

    /// The protocol name of the match that stands for expressions this module cannot read.
    static let unrecognisedProtocol = "unrecognised"

    func decode(_ expressions: [KernelExpression]) -> [Statement] {
        var context = ProtocolContext(family: family)
        var decoded: [(statement: NFTStatement, context: ProtocolContext)] = []
        var index = 0
        while index < expressions.count {
            guard let (statements, consumed) = parse(expressions, at: index, context: context) else {
                decoded.append((.unrecognised(expressions[index...].map(Self.text).joined(separator: " ")), context))
                break
            }
            index += consumed
            for statement in statements {
                switch statement {
                case .match(let match):
                    stripDependencies(of: match.left, from: &decoded)
                    decoded.append((statement, context))
                    context.update(after: match)
                case .vmap(let left, _):
                    stripDependencies(of: left, from: &decoded)
                    decoded.append((statement, context))
                default:
                    decoded.append((statement, context))
                }
            }
        }
        return decoded.map { lift($0.statement, context: $0.context) }
    }

    // MARK: - Dependencies

    /// Removes the matches just before a payload match that are exactly the dependencies the encoder
    /// inserts for it, computed from the context before them.
    private func stripDependencies(of left: Match.Left, from decoded: inout [(statement: NFTStatement, context: ProtocolContext)]) {
        let headers = left.fields.compactMap(\.header)
        guard !headers.isEmpty else { return }
        for count in stride(from: min(decoded.count, 4), through: 1, by: -1) {
            let candidates = decoded[(decoded.count - count)...]
            let matches = candidates.compactMap { entry -> Match? in
                if case .match(let match) = entry.statement { return match }
                return nil
            }
            guard matches.count == count else { continue }
            var context = candidates.first!.context
            var expected: [Match] = []
            do {
                for header in headers { expected += try context.dependencies(for: header) }
            } catch {
                continue
            }
            if expected == matches {
                decoded.removeLast(count)
                return
            }
        }
    }

    // MARK: - Parsing expressions into nft statements

    private enum LoadedField {
        case field(Field)
        /// A payload load shorter than the field at its offset: a whole-byte prefix of that field.
        case prefix(Field, bytes: Int)
        /// A payload load spanning adjacent fields (nft merged their matches).
        case merged([Field])
    }

    private func field(of load: KernelExpression, context: ProtocolContext) -> LoadedField? {
        switch load {
        case .meta(let key, _):
            return Field.reading(.meta(key: key)).map(LoadedField.field)
        case .ct(let key, _):
            return Field.reading(.ct(key: key)).map(LoadedField.field)
        case .payload(let base, let offset, let length, _):
            guard let layer = ProtocolHeader.Layer(rawValue: Int(base)), let header = context[layer], !header.isPseudo else { return nil }
            let fields = header.fields
            if let exact = fields.first(where: { $0.offset == offset && $0.length == Int(length) }) { return .field(exact) }
            if let prefixed = fields.first(where: { $0.offset == offset && $0.length > Int(length) }),
               prefixed.kind == .ipv4Address || prefixed.kind == .ipv6Address {
                return .prefix(prefixed, bytes: Int(length))
            }
            var parts: [Field] = []
            var position = offset
            while position < offset + length {
                guard let next = fields.first(where: { $0.offset == position }) else { return nil }
                parts.append(next)
                position += UInt32(next.length)
            }
            return position == offset + length && parts.count > 1 ? .merged(parts) : nil
        default:
            return nil
        }
    }

    private static func register(of load: KernelExpression) -> UInt32? {
        switch load {
        case .meta(_, let register), .ct(_, let register), .payload(_, _, _, let register): register
        default: nil
        }
    }

    private func parse(_ expressions: [KernelExpression], at start: Int, context: ProtocolContext) -> ([NFTStatement], Int)? {
        let first = expressions[start]
        switch first {
        case .meta, .ct, .payload:
            return parseMatch(expressions, at: start, context: context)
        case .verdict(let verdict):
            return ([.verdict(verdict)], 1)
        case .counter:
            return ([.counter], 1)
        case .log(let prefix, let level):
            return ([.log(prefix: prefix, level: level)], 1)
        case .limit(let rate, let unit, let burst):
            return ([.limit(rate: rate, unit: unit, burst: burst)], 1)
        case .reject(let type, let code):
            return ([.reject(type: type, code: code)], 1)
        case .masquerade:
            return ([.masquerade], 1)
        case .immediate:
            var registers: [UInt32: [UInt8]] = [:]
            var index = start
            while index < expressions.count, case .immediate(let register, let data) = expressions[index] {
                registers[register] = data
                index += 1
            }
            // The kernel reports a maximum register equal to the minimum when only one was given.
            guard index < expressions.count, case .nat(var nat) = expressions[index],
                  let minimumRegister = nat.addressMinimum, let minimum = registers[minimumRegister],
                  nat.portMaximum == nil || nat.portMaximum == nat.portMinimum, nat.type <= 1 else { return nil }
            if nat.addressMaximum == nat.addressMinimum { nat.addressMaximum = nil }
            let maximum = nat.addressMaximum.flatMap { registers[$0] }
            let port = nat.portMinimum.flatMap { registers[$0] }
            if nat.addressMaximum != nil && maximum == nil { return nil }
            if nat.portMinimum != nil && port == nil { return nil }
            guard registers.count == 1 + (maximum == nil ? 0 : 1) + (port == nil ? 0 : 1) else { return nil }
            return ([.nat(NATStatement(isDestination: nat.type == 1, family: nat.family, addressMinimum: minimum, addressMaximum: maximum, port: port))], index + 1 - start)
        default:
            return nil
        }
    }

    private func parseMatch(_ expressions: [KernelExpression], at start: Int, context: ProtocolContext) -> ([NFTStatement], Int)? {
        // Loads into more than one register followed by a lookup: a concatenation.
        var loads: [KernelExpression] = []
        var index = start
        while index < expressions.count, let register = Self.register(of: expressions[index]) {
            if !loads.isEmpty && register == Self.register(of: loads[0]) { break }
            loads.append(expressions[index])
            index += 1
        }
        if loads.count > 1 {
            var fields: [Field] = []
            var slot = 0
            for load in loads {
                guard case .field(let field)? = self.field(of: load, context: context), Self.register(of: load) == Register.forSlot(slot) else { return nil }
                fields.append(field)
                slot += SetEncoding.paddedLength(field.length) / 4
            }
            guard index < expressions.count, case .lookup(Register.first, let destination, .named(let set), let inverted) = expressions[index] else { return nil }
            if destination == Register.verdict && !inverted { return ([.vmap(.concat(fields), map: set)], index + 1 - start) }
            guard destination == nil, anonymousSets[set] == nil else { return nil }
            return ([.match(Match(left: .concat(fields), op: inverted ? .notEqual : .equal, right: .namedSet(set)))], index + 1 - start)
        }

        guard Self.register(of: expressions[start]) == Register.first, let loaded = field(of: expressions[start], context: context),
              start + 1 < expressions.count else { return nil }
        let next = expressions[start + 1]
        let following = start + 2 < expressions.count ? expressions[start + 2] : nil

        switch loaded {
        case .prefix(let field, let bytes):
            guard case .cmp(Register.first, let op, let data) = next, data.count == bytes, op == .equal || op == .notEqual else { return nil }
            let network = data + [UInt8](repeating: 0, count: field.length - bytes)
            return ([.match(Match(left: .field(field), op: op == .equal ? .equal : .notEqual, right: .prefix(network, bits: bytes * 8)))], 2)
        case .merged(let fields):
            guard case .cmp(Register.first, .equal, let data) = next, data.count == fields.reduce(0, { $0 + $1.length }) else { return nil }
            var offset = 0
            var statements: [NFTStatement] = []
            for field in fields {
                statements.append(.match(Match(left: .field(field), op: .equal, right: .value(Array(data[offset..<(offset + field.length)])))))
                offset += field.length
            }
            return (statements, 2)
        case .field(let field):
            switch next {
            case .cmp(Register.first, .greaterOrEqual, let low)
                where { if case .cmp(Register.first, .lessOrEqual, let high)? = following { high.count == low.count } else { false } }():
                guard case .cmp(_, _, let high)? = following, low.count == field.length else { return nil }
                return ([.match(Match(left: .field(field), op: .equal, right: .range(low, high)))], 3)
            case .cmp(Register.first, let op, let data):
                if field.kind == .interfaceName && data.count < field.length && !data.contains(0) && (op == .equal || op == .notEqual) {
                    return ([.match(Match(left: .field(field), op: op == .equal ? .equal : .notEqual, right: .wildcard(data)))], 2)
                }
                guard data.count == field.length else { return nil }
                return ([.match(Match(left: .field(field), op: Self.matchOperator(op), right: .value(data)))], 2)
            case .range(Register.first, let negated, let low, let high):
                guard low.count == field.length, high.count == field.length else { return nil }
                return ([.match(Match(left: .field(field), op: negated ? .notEqual : .equal, right: .range(low, high)))], 2)
            case .bitwise(Register.first, Register.first, let length, let mask, let xor, _):
                guard Int(length) == field.length, mask.count == field.length, xor.allSatisfy({ $0 == 0 }),
                      case .cmp(Register.first, let op, let data)? = following, data.count == field.length else { return nil }
                if field.kind.isBitmask && op == .notEqual && data.allSatisfy({ $0 == 0 }) {
                    return ([.match(Match(left: .field(field), op: .equal, right: .flagTest(mask)))], 3)
                }
                if (field.kind == .ipv4Address || field.kind == .ipv6Address), let bits = Self.prefixLength(of: mask), op == .equal || op == .notEqual {
                    return ([.match(Match(left: .field(field), op: op == .equal ? .equal : .notEqual, right: .prefix(data, bits: bits)))], 3)
                }
                return ([.match(Match(left: .masked(field, mask: mask), op: Self.matchOperator(op), right: .value(data)))], 3)
            case .lookup(Register.first, let destination, .named(let set), let inverted):
                if destination == Register.verdict && !inverted { return ([.vmap(.field(field), map: set)], 2) }
                guard destination == nil else { return nil }
                let right: Match.Right = anonymousSets[set].map(Match.Right.anonymousSet) ?? .namedSet(set)
                return ([.match(Match(left: .field(field), op: inverted ? .notEqual : .equal, right: right))], 2)
            default:
                return nil
            }
        }
    }

    private static func matchOperator(_ op: KernelExpression.CompareOperator) -> Match.Operator {
        switch op {
        case .equal: .equal
        case .notEqual: .notEqual
        case .less: .less
        case .lessOrEqual: .lessOrEqual
        case .greater: .greater
        case .greaterOrEqual: .greaterOrEqual
        }
    }

    /// The length of a prefix mask (ones then zeros), or nil.
    static func prefixLength(of mask: [UInt8]) -> Int? {
        let bits = mask.reduce(0) { $0 + $1.nonzeroBitCount }
        return RuleEncoder.prefixMask(bits: bits, length: mask.count) == mask ? bits : nil
    }

    static func text(_ expression: KernelExpression) -> String {
        if case .unknown(let text) = expression { return text }
        return "[ \(expression) ]"
    }

    // MARK: - Lifting nft statements to IR

    private func lift(_ statement: NFTStatement, context: ProtocolContext) -> Statement {
        let unrecognised = { (text: String) in
            Statement.match(.unrecognised(text), .implicit, .value(.symbol(.unrecognised)))
        }
        switch statement {
        case .match(let match):
            guard let lifted = lift(match) else { return unrecognised("\(match)") }
            return lifted
        case .vmap(let left, let map):
            return .vmap(expression(left), map: map)
        case .verdict(let verdict):
            guard let ir = verdict.irVerdict else { return unrecognised("verdict \(verdict.code)") }
            return .verdict(ir)
        case .counter:
            return .counter
        case .log(let prefix, let level):
            // The kernel always reports a level; level 4 (warn) comes back as `.warning`.
            return .log(prefix: prefix, level: level.flatMap(NFTSymbols.logLevel))
        case .limit(let rate, let unit, let burst):
            guard let per = NFTSymbols.limitUnits.name(of: unit), let rate = Int(exactly: rate) else { return unrecognised("limit \(rate)/\(unit)s") }
            return .limit(rate: rate, per: per, burst: Int(burst))
        case .reject(let type, let code):
            let network: ProtocolHeader? = family == .ip ? .ip : family == .ip6 ? .ip6 : context[.network]
            switch type {
            case 1 where code == 0:
                return .reject(.tcpReset)
            case 0 where (network == .ip && code == 3) || (network == .ip6 && code == 4):
                return .reject(.default)
            case 2 where code == 1 && network == nil && family != .ip && family != .ip6:
                return .reject(.default)
            case 2:
                guard let name = NFTSymbols.icmpxCodes.name(of: UInt64(code)) else { return unrecognised("reject type 2 code \(code)") }
                return .reject(.icmpx(name))
            default:
                return unrecognised("reject type \(type) code \(code)")
            }
        case .masquerade:
            return .masquerade
        case .nat(let nat):
            let kind: ValueKind = nat.family == 10 ? .ipv6Address : .ipv4Address
            guard let low = kind.decode(nat.addressMinimum) else { return unrecognised("\(nat)") }
            var to = low
            if let maximum = nat.addressMaximum {
                guard let high = kind.decode(maximum) else { return unrecognised("\(nat)") }
                to = .range(low, high)
            }
            if nat.isDestination {
                let port = nat.port.map { UInt16(ValueKind.number(bigEndian: $0)) }
                return .dnat(to: to, port: port)
            }
            guard nat.port == nil else { return unrecognised("\(nat)") }
            return .snat(to: to)
        case .unrecognised(let text):
            return unrecognised(text)
        }
    }

    private func expression(_ left: Match.Left) -> Expression {
        switch left {
        case .field(let field): field.expression
        case .concat(let fields), .merged(let fields, _): .concat(fields.map(\.expression))
        case .masked(let field, let mask): .bitwiseAnd(field.expression, .value(field.kind.decode(mask) ?? .integer(0)))
        }
    }

    private func lift(_ match: Match) -> Statement? {
        let op: MatchOperator = switch match.op {
        case .equal: .equal
        case .notEqual: .notEqual
        case .less: .lessThan
        case .lessOrEqual: .lessOrEqual
        case .greater: .greaterThan
        case .greaterOrEqual: .greaterOrEqual
        }
        let left = expression(match.left)
        guard case .field(let field) = match.left else {
            switch (match.left, match.right) {
            case (.concat, .namedSet(let name)):
                return .match(left, op, .setReference(name))
            case (.masked(let field, _), .value(let bytes)):
                let value: Value = bytes.allSatisfy({ $0 == 0 }) ? .integer(0) : (field.kind.decode(bytes) ?? .integer(0))
                return .match(left, op, .value(value))
            default:
                return nil
            }
        }
        let kind = field.kind
        switch match.right {
        case .value(let bytes):
            guard let value = kind.decode(bytes) else { return nil }
            return .match(left, op, .value(value))
        case .prefix(let bytes, let bits):
            guard case .address(let address)? = kind.decode(bytes) else { return nil }
            return .match(left, op, .value(.prefix(IPPrefix(address: address, length: bits))))
        case .range(let low, let high):
            guard let first = kind.decode(low), let last = kind.decode(high) else { return nil }
            return .match(left, op, .value(.range(first, last)))
        case .wildcard(let stem):
            return .match(left, op, .value(.string(String(decoding: stem, as: UTF8.self) + "*")))
        case .flagTest(let mask):
            guard let value = kind.decode(mask) else { return nil }
            return .match(left, .implicit, .value(value))
        case .anonymousSet(let set):
            guard let elements = SetEncoding.decodeElements(set, kinds: [kind], dataKind: nil) else { return nil }
            let values = elements.map { element -> Value in
                // A single flag in a set of flags is one symbol (`ct state { established, related }`).
                if case .flags(let names) = element.key[0], names.count == 1 { return .symbol(Symbol(unchecked: names[0])) }
                return element.key[0]
            }
            return .match(left, op, .set(values))
        case .namedSet(let name):
            return .match(left, op, .setReference(name))
        }
    }
}
