internal import CNFTNL

/// Owns a libnftnl chain object.
final class NftnlChain {
    let pointer: OpaquePointer

    init() throws(NFTNetlinkError) {
        pointer = try withErrno("nftnl_chain_alloc") { nftnl_chain_alloc() }
    }

    /// A chain of `table`; with `base`, a base chain on that hook (hook number, priority, type, policy).
    convenience init(family: UInt8, table: String, name: String, base: (hook: UInt32, priority: Int32, type: String, policy: UInt32)? = nil) throws(NFTNetlinkError) {
        try self.init()
        nftnl_chain_set_u32(pointer, Nftnl.attribute(NFTNL_CHAIN_FAMILY), UInt32(family))
        _ = nftnl_chain_set_str(pointer, Nftnl.attribute(NFTNL_CHAIN_TABLE), table)
        _ = nftnl_chain_set_str(pointer, Nftnl.attribute(NFTNL_CHAIN_NAME), name)
        if let base {
            nftnl_chain_set_u32(pointer, Nftnl.attribute(NFTNL_CHAIN_HOOKNUM), base.hook)
            nftnl_chain_set_s32(pointer, Nftnl.attribute(NFTNL_CHAIN_PRIO), base.priority)
            _ = nftnl_chain_set_str(pointer, Nftnl.attribute(NFTNL_CHAIN_TYPE), base.type)
            nftnl_chain_set_u32(pointer, Nftnl.attribute(NFTNL_CHAIN_POLICY), base.policy)
        }
    }

    deinit { nftnl_chain_free(pointer) }

    private func string(_ attribute: nftnl_chain_attr) -> String? {
        guard nftnl_chain_is_set(pointer, Nftnl.attribute(attribute)) else { return nil }
        return nftnl_chain_get_str(pointer, Nftnl.attribute(attribute)).map { String(cString: $0) }
    }

    var table: String { string(NFTNL_CHAIN_TABLE) ?? "" }
    var name: String { string(NFTNL_CHAIN_NAME) ?? "" }

    /// Hook, priority, type and policy of a base chain; nil for a regular chain.
    var base: (hook: UInt32, priority: Int32, type: String, policy: UInt32, device: String?)? {
        guard nftnl_chain_is_set(pointer, Nftnl.attribute(NFTNL_CHAIN_HOOKNUM)) else { return nil }
        return (
            nftnl_chain_get_u32(pointer, Nftnl.attribute(NFTNL_CHAIN_HOOKNUM)),
            nftnl_chain_get_s32(pointer, Nftnl.attribute(NFTNL_CHAIN_PRIO)),
            string(NFTNL_CHAIN_TYPE) ?? "filter",
            nftnl_chain_get_u32(pointer, Nftnl.attribute(NFTNL_CHAIN_POLICY)),
            string(NFTNL_CHAIN_DEV)
        )
    }
}
