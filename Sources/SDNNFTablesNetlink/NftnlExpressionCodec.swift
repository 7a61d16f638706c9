internal import CNFTNL

/// Converts ``KernelExpression`` values to libnftnl expressions and back. The only code that knows
/// libnftnl's expression names and attributes.
enum NftnlExpressionCodec {
    /// How a lookup's set is named on the wire: by name, plus the batch-local id when the set is created
    /// in the same batch (anonymous sets `__set%d` can only be found by id).
    struct SetBinding {
        var name: String
        var id: UInt32?
    }

    /// A new libnftnl expression; the caller hands it to `nftnl_rule_add_expr`, which takes ownership.
    static func make(_ expression: KernelExpression, resolve: (SetReference) -> SetBinding) throws(NFTNetlinkError) -> OpaquePointer {
        func allocate(_ name: String) throws(NFTNetlinkError) -> OpaquePointer {
            try withErrno("nftnl_expr_alloc(\(name))") { nftnl_expr_alloc(name) }
        }
        func set(_ e: OpaquePointer, _ attribute: Int, _ value: UInt32) { nftnl_expr_set_u32(e, Nftnl.attribute(attribute), value) }
        func set(_ e: OpaquePointer, _ attribute: Int, bytes: [UInt8]) {
            Nftnl.withBytes(bytes) { _ = nftnl_expr_set(e, Nftnl.attribute(attribute), $0, $1) }
        }
        func set(_ e: OpaquePointer, _ attribute: Int, string: String) { _ = nftnl_expr_set_str(e, Nftnl.attribute(attribute), string) }

        switch expression {
        case .meta(let key, let register):
            let e = try allocate("meta")
            set(e, NFTNL_EXPR_META_KEY, key)
            set(e, NFTNL_EXPR_META_DREG, register)
            return e
        case .payload(let base, let offset, let length, let register):
            let e = try allocate("payload")
            set(e, NFTNL_EXPR_PAYLOAD_DREG, register)
            set(e, NFTNL_EXPR_PAYLOAD_BASE, base)
            set(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset)
            set(e, NFTNL_EXPR_PAYLOAD_LEN, length)
            return e
        case .ct(let key, let register):
            let e = try allocate("ct")
            set(e, NFTNL_EXPR_CT_KEY, key)
            set(e, NFTNL_EXPR_CT_DREG, register)
            return e
        case .cmp(let register, let op, let data):
            let e = try allocate("cmp")
            set(e, NFTNL_EXPR_CMP_SREG, register)
            set(e, NFTNL_EXPR_CMP_OP, op.rawValue)
            set(e, NFTNL_EXPR_CMP_DATA, bytes: data)
            return e
        case .range(let register, let negated, let from, let to):
            let e = try allocate("range")
            set(e, NFTNL_EXPR_RANGE_SREG, register)
            set(e, NFTNL_EXPR_RANGE_OP, negated ? Nftnl.number(NFT_RANGE_NEQ) : Nftnl.number(NFT_RANGE_EQ))
            set(e, NFTNL_EXPR_RANGE_FROM_DATA, bytes: from)
            set(e, NFTNL_EXPR_RANGE_TO_DATA, bytes: to)
            return e
        case .bitwise(let source, let destination, let length, let mask, let xor, let explicitOperator):
            let e = try allocate("bitwise")
            set(e, NFTNL_EXPR_BITWISE_SREG, source)
            set(e, NFTNL_EXPR_BITWISE_DREG, destination)
            // nft names the operation only for a written `&`; the kernel defaults to the same boolean op.
            if explicitOperator { set(e, NFTNL_EXPR_BITWISE_OP, Nftnl.number(NFT_BITWISE_MASK_XOR)) }
            set(e, NFTNL_EXPR_BITWISE_LEN, length)
            set(e, NFTNL_EXPR_BITWISE_MASK, bytes: mask)
            set(e, NFTNL_EXPR_BITWISE_XOR, bytes: xor)
            return e
        case .lookup(let source, let destination, let reference, let inverted):
            let e = try allocate("lookup")
            let binding = resolve(reference)
            set(e, NFTNL_EXPR_LOOKUP_SREG, source)
            if let destination { set(e, NFTNL_EXPR_LOOKUP_DREG, destination) }
            set(e, NFTNL_EXPR_LOOKUP_SET, string: binding.name)
            if let id = binding.id { set(e, NFTNL_EXPR_LOOKUP_SET_ID, id) }
            if inverted { set(e, NFTNL_EXPR_LOOKUP_FLAGS, Nftnl.number(NFT_LOOKUP_F_INV)) }
            return e
        case .verdict(let verdict):
            let e = try allocate("immediate")
            set(e, NFTNL_EXPR_IMM_DREG, Register.verdict)
            set(e, NFTNL_EXPR_IMM_VERDICT, UInt32(bitPattern: verdict.code))
            if let chain = verdict.chain { set(e, NFTNL_EXPR_IMM_CHAIN, string: chain) }
            return e
        case .immediate(let register, let data):
            let e = try allocate("immediate")
            set(e, NFTNL_EXPR_IMM_DREG, register)
            set(e, NFTNL_EXPR_IMM_DATA, bytes: data)
            return e
        case .counter:
            return try allocate("counter")
        case .log(let prefix, let level):
            let e = try allocate("log")
            if let prefix { set(e, NFTNL_EXPR_LOG_PREFIX, string: prefix) }
            if let level { set(e, NFTNL_EXPR_LOG_LEVEL, level) }
            return e
        case .limit(let rate, let unit, let burst):
            let e = try allocate("limit")
            nftnl_expr_set_u64(e, Nftnl.attribute(NFTNL_EXPR_LIMIT_RATE), rate)
            nftnl_expr_set_u64(e, Nftnl.attribute(NFTNL_EXPR_LIMIT_UNIT), unit)
            set(e, NFTNL_EXPR_LIMIT_BURST, burst)
            set(e, NFTNL_EXPR_LIMIT_TYPE, Nftnl.number(NFT_LIMIT_PKTS))
            set(e, NFTNL_EXPR_LIMIT_FLAGS, 0)
            return e
        case .reject(let type, let code):
            let e = try allocate("reject")
            set(e, NFTNL_EXPR_REJECT_TYPE, type)
            nftnl_expr_set_u8(e, Nftnl.attribute(NFTNL_EXPR_REJECT_CODE), code)
            return e
        case .masquerade:
            return try allocate("masq")
        case .nat(let nat):
            let e = try allocate("nat")
            set(e, NFTNL_EXPR_NAT_TYPE, nat.type)
            set(e, NFTNL_EXPR_NAT_FAMILY, nat.family)
            if let register = nat.addressMinimum { set(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, register) }
            if let register = nat.addressMaximum { set(e, NFTNL_EXPR_NAT_REG_ADDR_MAX, register) }
            if let register = nat.portMinimum { set(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, register) }
            if let register = nat.portMaximum { set(e, NFTNL_EXPR_NAT_REG_PROTO_MAX, register) }
            if let flags = nat.flags { set(e, NFTNL_EXPR_NAT_FLAGS, flags) }
            return e
        case .unknown(let text):
            throw .unsupported("cannot encode an unrecognised expression (\(text))")
        }
    }

    /// The value of a libnftnl expression read from a dump; anything this module does not produce becomes
    /// `.unknown` with libnftnl's own text for it.
    static func read(_ e: OpaquePointer) -> KernelExpression {
        let name = nftnl_expr_get_str(e, Nftnl.attribute(NFTNL_EXPR_NAME)).map { String(cString: $0) } ?? "?"
        func has(_ attribute: Int) -> Bool { nftnl_expr_is_set(e, Nftnl.attribute(attribute)) }
        func u32(_ attribute: Int) -> UInt32 { nftnl_expr_get_u32(e, Nftnl.attribute(attribute)) }
        func bytes(_ attribute: Int) -> [UInt8] {
            var length: UInt32 = 0
            let pointer = nftnl_expr_get(e, Nftnl.attribute(attribute), &length)
            return Nftnl.bytes(pointer, length: length)
        }
        func string(_ attribute: Int) -> String? {
            has(attribute) ? nftnl_expr_get_str(e, Nftnl.attribute(attribute)).map { String(cString: $0) } : nil
        }
        var unknown: KernelExpression { .unknown(text(e, name: name)) }

        switch name {
        case "meta":
            guard has(NFTNL_EXPR_META_DREG), !has(NFTNL_EXPR_META_SREG) else { return unknown }
            return .meta(key: u32(NFTNL_EXPR_META_KEY), register: u32(NFTNL_EXPR_META_DREG))
        case "payload":
            guard has(NFTNL_EXPR_PAYLOAD_DREG), !has(NFTNL_EXPR_PAYLOAD_SREG) else { return unknown }
            return .payload(base: u32(NFTNL_EXPR_PAYLOAD_BASE), offset: u32(NFTNL_EXPR_PAYLOAD_OFFSET),
                            length: u32(NFTNL_EXPR_PAYLOAD_LEN), register: u32(NFTNL_EXPR_PAYLOAD_DREG))
        case "ct":
            guard has(NFTNL_EXPR_CT_DREG), !has(NFTNL_EXPR_CT_SREG), !has(NFTNL_EXPR_CT_DIR) else { return unknown }
            return .ct(key: u32(NFTNL_EXPR_CT_KEY), register: u32(NFTNL_EXPR_CT_DREG))
        case "cmp":
            guard let op = KernelExpression.CompareOperator(rawValue: u32(NFTNL_EXPR_CMP_OP)) else { return unknown }
            return .cmp(register: u32(NFTNL_EXPR_CMP_SREG), op: op, data: bytes(NFTNL_EXPR_CMP_DATA))
        case "range":
            let op = u32(NFTNL_EXPR_RANGE_OP)
            guard op == Nftnl.number(NFT_RANGE_EQ) || op == Nftnl.number(NFT_RANGE_NEQ) else { return unknown }
            return .range(register: u32(NFTNL_EXPR_RANGE_SREG), negated: op == Nftnl.number(NFT_RANGE_NEQ),
                          from: bytes(NFTNL_EXPR_RANGE_FROM_DATA), to: bytes(NFTNL_EXPR_RANGE_TO_DATA))
        case "bitwise":
            if has(NFTNL_EXPR_BITWISE_OP) && u32(NFTNL_EXPR_BITWISE_OP) != Nftnl.number(NFT_BITWISE_MASK_XOR) { return unknown }
            // The kernel always reports the operation, so whether nft named it cannot be read back.
            return .bitwise(source: u32(NFTNL_EXPR_BITWISE_SREG), destination: u32(NFTNL_EXPR_BITWISE_DREG), length: u32(NFTNL_EXPR_BITWISE_LEN),
                            mask: bytes(NFTNL_EXPR_BITWISE_MASK), xor: bytes(NFTNL_EXPR_BITWISE_XOR), explicitOperator: false)
        case "lookup":
            guard let set = string(NFTNL_EXPR_LOOKUP_SET) else { return unknown }
            let flags = has(NFTNL_EXPR_LOOKUP_FLAGS) ? u32(NFTNL_EXPR_LOOKUP_FLAGS) : 0
            guard flags & ~Nftnl.number(NFT_LOOKUP_F_INV) == 0 else { return unknown }
            return .lookup(source: u32(NFTNL_EXPR_LOOKUP_SREG), destination: has(NFTNL_EXPR_LOOKUP_DREG) ? u32(NFTNL_EXPR_LOOKUP_DREG) : nil,
                           set: .named(set), inverted: flags != 0)
        case "immediate":
            let register = u32(NFTNL_EXPR_IMM_DREG)
            if register == Register.verdict {
                return .verdict(KernelVerdict(code: Int32(bitPattern: u32(NFTNL_EXPR_IMM_VERDICT)), chain: string(NFTNL_EXPR_IMM_CHAIN)))
            }
            return .immediate(register: register, data: bytes(NFTNL_EXPR_IMM_DATA))
        case "counter":
            return .counter
        case "log":
            guard !has(NFTNL_EXPR_LOG_GROUP), !has(NFTNL_EXPR_LOG_SNAPLEN), !has(NFTNL_EXPR_LOG_QTHRESHOLD),
                  !has(NFTNL_EXPR_LOG_FLAGS) || u32(NFTNL_EXPR_LOG_FLAGS) == 0 else { return unknown }
            return .log(prefix: string(NFTNL_EXPR_LOG_PREFIX), level: has(NFTNL_EXPR_LOG_LEVEL) ? u32(NFTNL_EXPR_LOG_LEVEL) : nil)
        case "limit":
            guard u32(NFTNL_EXPR_LIMIT_TYPE) == Nftnl.number(NFT_LIMIT_PKTS), u32(NFTNL_EXPR_LIMIT_FLAGS) == 0 else { return unknown }
            return .limit(rate: nftnl_expr_get_u64(e, Nftnl.attribute(NFTNL_EXPR_LIMIT_RATE)),
                          unit: nftnl_expr_get_u64(e, Nftnl.attribute(NFTNL_EXPR_LIMIT_UNIT)), burst: u32(NFTNL_EXPR_LIMIT_BURST))
        case "reject":
            return .reject(type: u32(NFTNL_EXPR_REJECT_TYPE), code: nftnl_expr_get_u8(e, Nftnl.attribute(NFTNL_EXPR_REJECT_CODE)))
        case "masq":
            guard !has(NFTNL_EXPR_MASQ_REG_PROTO_MIN), !has(NFTNL_EXPR_MASQ_FLAGS) || u32(NFTNL_EXPR_MASQ_FLAGS) == 0 else { return unknown }
            return .masquerade
        case "nat":
            func register(_ attribute: Int) -> UInt32? { has(attribute) ? u32(attribute) : nil }
            return .nat(NATExpression(
                type: u32(NFTNL_EXPR_NAT_TYPE), family: u32(NFTNL_EXPR_NAT_FAMILY),
                addressMinimum: register(NFTNL_EXPR_NAT_REG_ADDR_MIN), addressMaximum: register(NFTNL_EXPR_NAT_REG_ADDR_MAX),
                portMinimum: register(NFTNL_EXPR_NAT_REG_PROTO_MIN), portMaximum: register(NFTNL_EXPR_NAT_REG_PROTO_MAX),
                flags: register(NFTNL_EXPR_NAT_FLAGS).flatMap { $0 == 0 ? nil : $0 }
            ))
        default:
            return unknown
        }
    }

    /// libnftnl's text for an expression, e.g. `[ meta load mark => reg 1 ]`.
    static func text(_ e: OpaquePointer, name: String) -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        let count = nftnl_expr_snprintf(&buffer, buffer.count, e, Nftnl.number(NFTNL_OUTPUT_DEFAULT), 0)
        let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let body = count > 0 ? text.trimmingCharacters(in: " ") : ""
        return "[ \(name) \(body) ]"
    }
}

private extension String {
    func trimmingCharacters(in character: Character) -> String {
        var text = Substring(self)
        while text.first == character { text = text.dropFirst() }
        while text.last == character { text = text.dropLast() }
        return String(text)
    }
}
