/// One rule in kernel form: its expressions, the anonymous sets its lookups use (created in the same
/// batch just before the rule, as nft does), and its userdata (the comment holding the rule's id).
struct KernelRule: Hashable, Sendable {
    var expressions: [KernelExpression]
    var anonymousSets: [KernelSet]
    var userdata: [UInt8]
}
