internal import CNFTNL

/// The one place that converts libnftnl's and the kernel headers' constants: anonymous C enums import
/// as `Int`, named ones as structs with a `rawValue`, and libnftnl wants `uint16_t` attribute numbers.
enum Nftnl {
    static func attribute(_ value: Int) -> UInt16 { UInt16(value) }
    static func attribute<Constant: RawRepresentable>(_ value: Constant) -> UInt16 where Constant.RawValue: BinaryInteger {
        UInt16(value.rawValue)
    }

    static func number(_ value: Int) -> UInt32 { UInt32(value) }
    static func number<Constant: RawRepresentable>(_ value: Constant) -> UInt32 where Constant.RawValue: BinaryInteger {
        UInt32(value.rawValue)
    }

    /// An nf_tables message type (`NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_*`).
    static func messageType(_ message: nf_tables_msg_types) -> UInt16 {
        UInt16(NFNL_SUBSYS_NFTABLES << 8) | UInt16(message.rawValue)
    }

    /// Bytes of a libnftnl data attribute.
    static func bytes(_ pointer: UnsafeRawPointer?, length: UInt32) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: Int(length)))
    }

    /// Calls `body` with a pointer to `bytes` that libnftnl may copy from.
    static func withBytes<Result>(_ bytes: [UInt8], _ body: (UnsafeRawPointer, UInt32) -> Result) -> Result {
        // libnftnl rejects a null pointer even for zero-length data.
        let storage = bytes.isEmpty ? [0] : bytes
        return storage.withUnsafeBytes { body($0.baseAddress!, UInt32(bytes.count)) }
    }
}
