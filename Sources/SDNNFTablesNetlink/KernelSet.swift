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

/// One set element on the wire. Interval sets hold each range as a start element and an end element
/// flagged `NFT_SET_ELEM_INTERVAL_END`; interval concatenations hold it as one element with `keyEnd`.
struct KernelElement: Hashable, Sendable {
    var key: [UInt8]
    var keyEnd: [UInt8]? = nil
    /// `NFT_SET_ELEM_INTERVAL_END` or 0.
    var flags: UInt32 = 0
    /// Verdict data of a verdict map (`NF_ACCEPT`, `NFT_JUMP` …) and the chain it names.
    var verdict: KernelVerdict? = nil
    /// Value data of a data map.
    var data: [UInt8]? = nil
    var userdata: [UInt8]? = nil

    static let intervalEnd: UInt32 = 0x1
}

/// A verdict code (`NF_DROP` 0, `NF_ACCEPT` 1, `NFT_CONTINUE` -1, `NFT_JUMP` -3, `NFT_GOTO` -4,
/// `NFT_RETURN` -5) with its target chain.
struct KernelVerdict: Hashable, Sendable {
    var code: Int32
    var chain: String?

    static let drop: Int32 = 0
    static let accept: Int32 = 1
    static let `continue`: Int32 = -1
    static let jump: Int32 = -3
    static let goto: Int32 = -4
    static let `return`: Int32 = -5
}
