/// A set as the kernel holds it, in plain values: what the encoder sends for a named or anonymous set
/// and what a dump returns.
struct KernelSet: Hashable, Sendable {
    /// The set's name; anonymous sets are created as `__set%d` and the kernel picks the number.
    var name: String
    /// `NFT_SET_*` flags.
    var flags: UInt32
    var keyType: UInt32
    var keyLength: UInt32
    var dataType: UInt32?
    var dataLength: UInt32?
    var userdata: [UInt8]
    /// `NFTA_SET_DESC_SIZE`: nft states it for anonymous sets.
    var descriptionSize: UInt32?
    /// `NFTA_SET_DESC_CONCAT`: the unpadded length of each component of an interval concatenation.
    var concatFieldLengths: [UInt32]?
    var elements: [KernelElement]

    static let anonymous: UInt32 = 0x1
    static let constant: UInt32 = 0x2
    static let interval: UInt32 = 0x4
    static let map: UInt32 = 0x8
    static let timeout: UInt32 = 0x10
    static let concat: UInt32 = 0x80

    var isAnonymous: Bool { flags & Self.anonymous != 0 }
}
