/// One nf_tables expression of a rule, in plain values (registers included). The encoder produces a
/// list of these per rule; `NftnlRule` turns them into libnftnl objects; the decoder reads them back.
enum KernelExpression: Hashable, Sendable {
    case meta(key: UInt32, register: UInt32)
    case payload(base: UInt32, offset: UInt32, length: UInt32, register: UInt32)
    case ct(key: UInt32, register: UInt32)
    case cmp(register: UInt32, op: CompareOperator, data: [UInt8])
    /// `range` compares a register against [from, to]; nft uses it only for `!=`.
    case range(register: UInt32, negated: Bool, from: [UInt8], to: [UInt8])
    /// `register & mask ^ xor`; `explicitOperator` says whether NFTA_BITWISE_OP is sent (nft sends it
    /// for a written `&`, not for prefix masks or flag tests; the kernel treats both the same).
    case bitwise(source: UInt32, destination: UInt32, length: UInt32, mask: [UInt8], xor: [UInt8], explicitOperator: Bool)
    /// A set lookup; `destination` is set for maps (register 0 = verdict for vmaps).
    case lookup(source: UInt32, destination: UInt32?, set: SetReference, inverted: Bool)
    case verdict(KernelVerdict)
    case immediate(register: UInt32, data: [UInt8])
    case counter
    case log(prefix: String?, level: UInt32?)
    case limit(rate: UInt64, unit: UInt64, burst: UInt32)
    case reject(type: UInt32, code: UInt8)
    case masquerade
    case nat(NATExpression)
    /// Decoder only: an expression this module does not produce, with libnftnl's text for it.
    case unknown(String)

    enum CompareOperator: UInt32, Hashable, Sendable {
        case equal = 0, notEqual, less, lessOrEqual, greater, greaterOrEqual
    }
}
