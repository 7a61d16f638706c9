internal import CNFTNL

/// Owns a libnftnl rule object (and the expressions added to it).
final class NftnlRule {
    let pointer: OpaquePointer

    init() throws(NFTNetlinkError) {
        pointer = try withErrno("nftnl_rule_alloc") { nftnl_rule_alloc() }
    }

    /// A rule to append to `chain`, built from kernel expressions.
    convenience init(family: UInt8, table: String, chain: String, rule: KernelRule, resolve: (SetReference) -> NftnlExpressionCodec.SetBinding) throws(NFTNetlinkError) {
        try self.init()
        nftnl_rule_set_u32(pointer, Nftnl.attribute(NFTNL_RULE_FAMILY), UInt32(family))
        _ = nftnl_rule_set_str(pointer, Nftnl.attribute(NFTNL_RULE_TABLE), table)
        _ = nftnl_rule_set_str(pointer, Nftnl.attribute(NFTNL_RULE_CHAIN), chain)
        if !rule.userdata.isEmpty {
            Nftnl.withBytes(rule.userdata) { _ = nftnl_rule_set_data(pointer, Nftnl.attribute(NFTNL_RULE_USERDATA), $0, $1) }
        }
        for expression in rule.expressions {
            // The rule owns each expression from here on.
            nftnl_rule_add_expr(pointer, try NftnlExpressionCodec.make(expression, resolve: resolve))
        }
    }

    /// An empty rule naming only its chain: a flush (NFT_MSG_DELRULE without a handle).
    convenience init(family: UInt8, table: String, chain: String) throws(NFTNetlinkError) {
        try self.init()
        nftnl_rule_set_u32(pointer, Nftnl.attribute(NFTNL_RULE_FAMILY), UInt32(family))
        _ = nftnl_rule_set_str(pointer, Nftnl.attribute(NFTNL_RULE_TABLE), table)
        _ = nftnl_rule_set_str(pointer, Nftnl.attribute(NFTNL_RULE_CHAIN), chain)
    }

    deinit { nftnl_rule_free(pointer) }

    var table: String { nftnl_rule_get_str(pointer, Nftnl.attribute(NFTNL_RULE_TABLE)).map { String(cString: $0) } ?? "" }
    var chain: String { nftnl_rule_get_str(pointer, Nftnl.attribute(NFTNL_RULE_CHAIN)).map { String(cString: $0) } ?? "" }

    var userdata: [UInt8] {
        var length: UInt32 = 0
        let data = nftnl_rule_get_data(pointer, Nftnl.attribute(NFTNL_RULE_USERDATA), &length)
        return Nftnl.bytes(data, length: length)
    }

    /// The packets and bytes its counter expression holds (nil without one).
    var counter: (packets: UInt64, bytes: UInt64)? {
        guard let iterator = nftnl_expr_iter_create(pointer) else { return nil }
        defer { nftnl_expr_iter_destroy(iterator) }
        while let expression = nftnl_expr_iter_next(iterator) {
            guard let name = nftnl_expr_get_str(expression, Nftnl.attribute(NFTNL_EXPR_NAME)), String(cString: name) == "counter" else { continue }
            return (nftnl_expr_get_u64(expression, Nftnl.attribute(NFTNL_EXPR_CTR_PACKETS)),
                    nftnl_expr_get_u64(expression, Nftnl.attribute(NFTNL_EXPR_CTR_BYTES)))
        }
        return nil
    }

    /// The rule's expressions as values.
    var expressions: [KernelExpression] {
        guard let iterator = nftnl_expr_iter_create(pointer) else { return [] }
        defer { nftnl_expr_iter_destroy(iterator) }
        var result: [KernelExpression] = []
        while let expression = nftnl_expr_iter_next(iterator) {
            result.append(NftnlExpressionCodec.read(expression))
        }
        return result
    }
}
