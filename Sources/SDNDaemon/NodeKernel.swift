public import SDNDataplane
public import SDNNFTables
public import SDNReconciler

/// Why the kernel may no longer be what the applied revision says.
public enum KernelTrigger: Hashable, Sendable {
    /// A link appeared, changed or went (a guest's tap or veth, or someone's `ip link`).
    case link(LinkEvent)
    /// Someone committed an nf_tables transaction (perhaps the daemon itself: its own commits are
    /// known by their generation).
    case ruleset(generation: UInt32?)
    /// Notifications were lost (socket overrun): only a full check can tell what changed.
    case overrun
}

/// The daemon's view of one node's kernel: the reconciler over its dataplanes, what its nf_tables can
/// do, and what changes in it. `NetlinkNodeKernel` (in `sdnd`) is the real one; the daemon's tests use
/// the in-memory dataplanes to test the loop's logic.
public protocol NodeKernel: Sendable {
    var reconciler: NodeReconciler { get }
    /// The links, for which guest ports are present (`sdn status`).
    var links: (any LinkDataplane)? { get }
    /// Probed once when the daemon starts.
    func features() async -> KernelFeatures
    /// Kernel notifications until the stream is cancelled.
    func triggers() -> AsyncStream<KernelTrigger>
}

extension LinkEvent {
    public var name: String {
        switch self {
        case .added(let name, _), .changed(let name, _), .removed(let name, _): name
        }
    }
}
