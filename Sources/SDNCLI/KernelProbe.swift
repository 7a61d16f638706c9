import SDNNFTables
import SDNNFTablesNetlink
import SDNNetns

/// What commands do about the kernel's features: probe this process's own kernel (through
/// `NetlinkFirewall.probeFeatures()`), or say on stderr which layout they assume when they cannot.
enum KernelProbe {
    /// The features of the kernel this process runs on (its network namespace).
    static func localFeatures() async throws(KernelProbeFailure) -> KernelFeatures {
        let firewall: NetlinkFirewall
        do { firewall = try NetlinkFirewall(namespace: .current) } catch {
            throw KernelProbeFailure(description: "cannot open netlink: \(error)")
        }
        return try await firewall.probeFeatures()
    }

    /// What a command assumes when it cannot probe: the layout of Debian and Proxmox kernels, said on stderr.
    static func assumeFull(because failure: KernelProbeFailure) -> KernelFeatures {
        printError("sdn: cannot probe the kernel: \(failure); assuming the full layout (bridge conntrack, as Debian and Proxmox kernels have); "
                   + "pass --kernel full or --kernel minimal to choose")
        return .full
    }
}
