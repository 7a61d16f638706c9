/// `snat` / `dnat` with the registers holding its addresses and port.
struct NATExpression: Hashable, Sendable {
    /// `NFT_NAT_SNAT` 0, `NFT_NAT_DNAT` 1.
    var type: UInt32
    /// `NFPROTO_IPV4` 2 or `NFPROTO_IPV6` 10.
    var family: UInt32
    var addressMinimum: UInt32?
    var addressMaximum: UInt32?
    var portMinimum: UInt32?
    var portMaximum: UInt32?
    /// `NF_NAT_RANGE_*` flags; nft sends `PROTO_SPECIFIED` (2) with a port and nothing otherwise.
    var flags: UInt32?
}
