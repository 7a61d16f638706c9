import SDNModel
import SDNNFTables

/// The encoder's name for a range of wire keys (``WireInterval``).
typealias KernelInterval = WireInterval

extension WireInterval {
    init(_ value: Value, kind: ValueKind) throws(NFTNetlinkError) {
        do {
            try self.init(value, datatype: kind)
        } catch {
            throw .unsupported(error.message)
        }
    }

    func value(kind: ValueKind) -> Value? { value(datatype: kind) }
}
