/// `snat` / `dnat` resolved to the family and the bytes of their addresses and port.
struct NATStatement: Hashable, Sendable {
    var isDestination: Bool
    /// `NFPROTO_IPV4` or `NFPROTO_IPV6`.
    var family: UInt32
    var addressMinimum: [UInt8]
    var addressMaximum: [UInt8]?
    var port: [UInt8]?
}
