import ArgumentParser
import Glibc
import SDNDataplane
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNNFTablesNetlink
import SDNNetns
import SDNReconciler

/// Where `apply` and `diff` act: the host's network namespace or a named one.
struct TargetOptions: ParsableArguments {
    @Option(help: "Act in this network namespace (as `ip netns` names it) instead of the host's.")
    var netns: String?

    func namespace() throws -> NetworkNamespace {
        guard let netns else { return .current }
        do { return try NetworkNamespace.named(netns) } catch {
            printError("sdn: no network namespace '\(netns)': \(error)")
            throw ExitCode.badInput
        }
    }
}

/// A node's firewall over netlink: probe the kernel (so the compiler knows what it can do) and the
/// br_netfilter switch; reading and applying go through `NodeReconciler`.
struct FirewallSession: BridgeNetfilterSwitch {
    static let ourTables: [(TableFamily, String)] = [(.inet, FirewallNaming.tableName), (.bridge, FirewallNaming.tableName)]

    let namespace: NetworkNamespace
    let firewall: NetlinkFirewall

    init(namespace: NetworkNamespace) throws {
        self.namespace = namespace
        do { firewall = try NetlinkFirewall(namespace: namespace) } catch {
            printError("sdn: cannot open netlink in \(namespace): \(error)")
            throw ExitCode.failed
        }
    }

    /// What this kernel's nf_tables can do on bridges (see `NetlinkFirewall.probeFeatures()`).
    func probeFeatures() async throws(KernelProbeFailure) -> KernelFeatures {
        try await firewall.probeFeatures()
    }

    /// br_netfilter mode needs bridged IP traffic to pass the IP hooks (per namespace).
    func enable() throws { try BridgeNetfilter(namespace: namespace).enable() }
}

/// Kernel profile for commands that talk to a kernel: probed unless forced.
struct LiveKernelOptions: ParsableArguments {
    @Option(name: .customLong("kernel"), help: "Kernel profile: auto (probe the target), full or minimal.")
    var profile: KernelProfile = .auto

    func features(for session: FirewallSession) async -> KernelFeatures {
        if let fixed = profile.fixedFeatures { return fixed }
        do { return try await session.probeFeatures() } catch {
            return KernelProbe.assumeFull(because: error)
        }
    }
}
