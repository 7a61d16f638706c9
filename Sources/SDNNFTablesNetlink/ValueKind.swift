import SDNModel
import SDNNFTables

/// The encoder's name for a catalog ``Datatype``: how a ``Value`` becomes bytes on the wire and back.
typealias ValueKind = Datatype

extension Datatype {
    /// nft's `enum datatypes` number.
    var typeID: UInt32 { id }

    /// The byte order nft records in a named set's userdata. Without it `nft list` prints ifname keys as `""`.
    var datatypeByteOrder: UInt32 { byteOrder.rawValue }

    init?(setKeyType: SetKeyType) { self.init(setKeyType) }

    /// The wire bytes of a single value (see ``Datatype/wireBytes(_:)``).
    func encode(_ value: Value) throws(NFTNetlinkError) -> [UInt8] {
        do {
            return try wireBytes(value)
        } catch {
            throw .unsupported(error.message)
        }
    }

    /// The value for wire bytes (see ``Datatype/value(wire:)``).
    func decode(_ bytes: [UInt8]) -> Value? { value(wire: bytes) }
}
