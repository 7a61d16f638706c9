import SDNNFTables

/// A rule statement as nft evaluates it: dependencies made explicit, values already bytes, reject and NAT
/// resolved for the protocol context — but no registers yet. Both directions meet here: the encoder
/// lowers IR statements to these and linearizes them; the decoder parses expressions into these and
/// lifts them back to IR.
enum NFTStatement: Hashable, Sendable {
    case match(Match)
    case counter
    case log(prefix: String?, level: UInt32?)
    case limit(rate: UInt64, unit: UInt64, burst: UInt32)
    case verdict(KernelVerdict)
    case vmap(Match.Left, map: String)
    case reject(type: UInt32, code: UInt8)
    case masquerade
    case nat(NATStatement)
    /// Decoder only: expressions this module does not produce.
    case unrecognised(String)
}
