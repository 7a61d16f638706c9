import SDNNFTables

extension TableFamily {
    /// `NFPROTO_*`.
    var netfilterFamily: UInt8 {
        switch self {
        case .inet: 1
        case .ip: 2
        case .arp: 3
        case .netdev: 5
        case .bridge: 7
        case .ip6: 10
        }
    }

    init?(netfilterFamily: UInt8) {
        guard let family = TableFamily.allCases.first(where: { $0.netfilterFamily == netfilterFamily }) else { return nil }
        self = family
    }

    /// The hook number of a base chain (`NF_INET_*`, `NF_ARP_*`, `NF_NETDEV_*`).
    func hookNumber(_ hook: BaseChain.Hook) throws(NFTNetlinkError) -> UInt32 {
        switch (self, hook) {
        case (.arp, .input): 0
        case (.arp, .output): 1
        case (.arp, .forward): 2
        case (.arp, _): throw .unsupported("hook \(hook.rawValue) in arp tables")
        case (.netdev, _), (_, .ingress):
            // Ingress hooks are bound to a device, which BaseChain does not carry.
            throw .unsupported("hook \(hook.rawValue) in \(rawValue) tables (needs a device)")
        case (_, .prerouting): 0
        case (_, .input): 1
        case (_, .forward): 2
        case (_, .output): 3
        case (_, .postrouting): 4
        }
    }

    func hook(number: UInt32) -> BaseChain.Hook? {
        if self == .arp {
            return [0: .input, 1: .output, 2: .forward][number]
        }
        return [0: .prerouting, 1: .input, 2: .forward, 3: .output, 4: .postrouting][number]
    }
}
