internal import CNFTNL

/// Owns a libnftnl table object.
final class NftnlTable {
    let pointer: OpaquePointer

    init() throws(NFTNetlinkError) {
        pointer = try withErrno("nftnl_table_alloc") { nftnl_table_alloc() }
    }

    convenience init(family: UInt8, name: String) throws(NFTNetlinkError) {
        try self.init()
        nftnl_table_set_u32(pointer, Nftnl.attribute(NFTNL_TABLE_FAMILY), UInt32(family))
        _ = nftnl_table_set_str(pointer, Nftnl.attribute(NFTNL_TABLE_NAME), name)
    }

    deinit { nftnl_table_free(pointer) }

    var name: String { nftnl_table_get_str(pointer, Nftnl.attribute(NFTNL_TABLE_NAME)).map { String(cString: $0) } ?? "" }
}
