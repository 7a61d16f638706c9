public import SDNModel

/// A statement of a rule, as in nft's JSON schema (`match`, `counter`, `log`, `limit`, verdicts, `vmap`,
/// `reject`, NAT).
public enum Statement: Hashable, Sendable {
    /// `left op right`, e.g. `ip saddr 10.0.0.0/8`, `tcp dport { 22, 80 }`, `ct state established,related`.
    case match(Expression, MatchOperator, Expression)
    case counter
    case log(prefix: String?, level: LogLevel?)
    /// Rate limit (`limit rate 1/second burst 5 packets`): the statement matches while under the rate.
    case limit(rate: Int, per: String, burst: Int)
    case verdict(Verdict)
    /// `key vmap @map`: look the key up in a verdict map and apply the verdict found.
    case vmap(Expression, map: String)
    case reject(Reject)
    case masquerade
    case snat(to: Value)
    case dnat(to: Value, port: UInt16?)
}

public enum MatchOperator: String, Hashable, Sendable {
    case equal = "=="
    case notEqual = "!="
    case lessThan = "<"
    case greaterThan = ">"
    case lessOrEqual = "<="
    case greaterOrEqual = ">="
    /// Set membership or bit test (`in` in nft's JSON), printed implicitly in text.
    case implicit = "in"
}

public enum Verdict: Hashable, Sendable {
    case accept, drop, `continue`, `return`
    case jump(String)
    case goto(String)
}

public enum Reject: Hashable, Sendable {
    /// Kernel default: ICMP port unreachable (IPv4) / ICMPv6 port unreachable.
    case `default`
    case tcpReset
    /// `reject with icmpx <code>`: family-independent codes for inet and bridge tables.
    case icmpx(String)
}

/// Something a match compares: packet fields, metadata, conntrack state, constants and sets.
public enum Expression: Hashable, Sendable {
    /// `ip saddr`, `ip6 daddr`, `tcp dport`, `ether saddr`, `arp saddr ip`, `icmp type` … (a ``Field``
    /// of the catalog).
    case payload(Field)
    /// `meta iifname`, `meta l4proto`, `meta nfproto`, `meta protocol`, `meta pkttype` (printed `iifname` …).
    case meta(MetaKey)
    /// `ct state`, `ct status`.
    case ct(CtKey)
    case value(Value)
    /// An anonymous set `{ a, b, c }`.
    case set([Value])
    /// A named set `@name`.
    case setReference(String)
    /// `a . b . c`
    case concat([Expression])
    /// `left & right` (used for flag tests such as `tcp flags & (fin|syn)`).
    indirect case bitwiseAnd(Expression, Expression)
    /// What a kernel listing held that the IR cannot express, as text; it never equals anything compiled.
    case unrecognised(String)

    /// The catalog field a payload, meta or ct expression reads; `nil` for the others.
    public var field: Field? {
        switch self {
        case .payload(let field): field
        case .meta(let key): key.field
        case .ct(let key): key.field
        default: nil
        }
    }

    /// The datatype of what the expression yields: the field's, through `&` too; `nil` for
    /// concatenations and constants.
    public var datatype: Datatype? {
        switch self {
        case .payload(let field): field.datatype
        case .meta(let key): key.datatype
        case .ct(let key): key.datatype
        case .bitwiseAnd(let left, _): left.datatype
        default: nil
        }
    }
}

/// Constants: what nft's JSON writes as strings, numbers, prefixes and ranges.
public enum Value: Hashable, Sendable, Comparable {
    case string(String)
    case integer(Int)
    case address(IPAddress)
    case prefix(IPPrefix)
    indirect case range(Value, Value)
    case ether(MACAddress)
    /// A symbolic constant such as `established`, `tcp`, `ipv4`, `echo-request`, `broadcast`.
    case symbol(Symbol)
    /// Several flags or-ed together (`fin|syn`).
    case flags([String])
    case verdict(Verdict)

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.sortKey < rhs.sortKey }

    private var sortKey: String {
        switch self {
        case .string(let text): "s" + text
        case .integer(let value): "i" + String(repeating: "0", count: max(0, 20 - String(value).count)) + String(value)
        case .address(let address): "a" + (address.family == .ipv4 ? "4" : "6") + String(address.integerValue, radix: 16).leftPadded(32)
        case .prefix(let prefix): "a" + (prefix.family == .ipv4 ? "4" : "6") + String(prefix.network.integerValue, radix: 16).leftPadded(32) + "/" + String(prefix.length).leftPadded(3)
        case .range(let low, _): low.sortKey
        case .ether(let mac): "e" + mac.description
        case .symbol(let symbol): "y" + symbol.name
        case .flags(let names): "f" + names.joined(separator: "|")
        case .verdict: "v"
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
