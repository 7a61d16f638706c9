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
