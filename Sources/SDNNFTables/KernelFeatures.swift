/// What the running kernel's nf_tables can do on bridges; the firewall compiler (SDNFirewall) picks the
/// guest-firewall layout from it. Probed by the netlink adapter on the target node or namespace
/// (`NetlinkFirewall.probeFeatures()`); here so that both can name it without depending on each other.
public struct KernelFeatures: Hashable, Sendable, CustomStringConvertible {
    /// `ct` in the bridge family (nf_conntrack_bridge): stateful guest rules in `table bridge sdn`.
    public var bridgeConntrack: Bool
    /// `reject` in the bridge family (nft_reject_bridge).
    public var bridgeReject: Bool
    /// `meta ibrname` in the bridge family (nft_meta_bridge), for vnet forward policies.
    public var bridgeMeta: Bool

    public init(bridgeConntrack: Bool, bridgeReject: Bool, bridgeMeta: Bool) {
        self.bridgeConntrack = bridgeConntrack
        self.bridgeReject = bridgeReject
        self.bridgeMeta = bridgeMeta
    }

    /// A Debian or Proxmox kernel: everything as modules.
    public static let full = KernelFeatures(bridgeConntrack: true, bridgeReject: true, bridgeMeta: true)
    /// A kernel with nf_tables and br_netfilter but none of the bridge-family extras.
    public static let minimal = KernelFeatures(bridgeConntrack: false, bridgeReject: false, bridgeMeta: false)

    public var guestMode: GuestFirewallMode { bridgeConntrack ? .bridgeFamily : .brNetfilter }

    public var description: String {
        "bridge conntrack \(bridgeConntrack ? "yes" : "no"), bridge reject \(bridgeReject ? "yes" : "no"), bridge meta \(bridgeMeta ? "yes" : "no") → \(guestMode)"
    }
}

/// Where stateful guest rules live.
public enum GuestFirewallMode: String, Hashable, Sendable, CustomStringConvertible {
    /// `table bridge sdn`, dispatched by bridge port (`iifname` / `oifname`) on the bridge forward, input
    /// and output hooks. Needs nf_conntrack_bridge.
    case bridgeFamily = "bridge"
    /// `table inet sdn` on the IP forward hook, which bridged IP traffic reaches through br_netfilter
    /// (`net.bridge.bridge-nf-call-iptables=1`, as Proxmox's iptables firewall uses it); dispatched by the
    /// guest NIC's MAC (`ether saddr` / `ether daddr`), which the stateless anti-spoofing chain in
    /// `table bridge sdn` guarantees. Routed traffic *to* a guest is filtered by vnet and node forward
    /// policies only in this mode.
    case brNetfilter = "br_netfilter"

    public var description: String { rawValue }
}
