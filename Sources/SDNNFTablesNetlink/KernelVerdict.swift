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
