import ArgumentParser
import Glibc
import SDNDataplane
import SDNFirewall
import SDNNFTables
import SDNNFTablesNetlink
import SDNNetns

/// Finds what the running kernel's nf_tables can do on bridges by loading one-rule probe tables, each
/// in a transaction of its own and removed again (or never committed). It needs CAP_NET_ADMIN.
enum KernelProbe {
    /// The probe could not run at all (no privileges, no nf_tables): nothing is known about the kernel.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let tableName = "sdn_probe"

    static func features(of firewall: NetlinkFirewall) async throws(Failure) -> KernelFeatures {
        func load(_ statements: [Statement]) async throws(FirewallApplyError) {
            let chain = Chain(name: "probe", base: BaseChain(type: .filter, hook: .forward, priority: 0, policy: .accept))
            let changes: [FirewallChange] = [
                .addTable(.bridge, tableName), .addChain(.bridge, table: tableName, chain),
                .addRule(.bridge, table: tableName, chain: "probe", Rule(id: "probe", statements: statements)),
            ]
            _ = try await firewall.apply(changes, expectedGeneration: nil)
            _ = try? await firewall.apply([.deleteTable(.bridge, tableName)], expectedGeneration: nil)
        }
        func supports(_ statements: [Statement]) async -> Bool {
            do { try await load(statements) } catch { return false }
            return true
        }
        // A rule every nf_tables accepts: if even this fails, the answers below would mean nothing.
        do { try await load([.verdict(.accept)]) } catch {
            throw Failure(description: error.errno == EPERM ? "no permission to change nf_tables (run as root)" : error.description)
        }
        return KernelFeatures(
            bridgeConntrack: await supports([.match(.ct(.state), .implicit, .value(.flags(["established"]))), .verdict(.accept)]),
            bridgeReject: await supports([.match(.meta(.l4proto), .equal, .value(.symbol("tcp"))), .reject(.tcpReset)]),
            bridgeMeta: await supports([.match(.meta(.ibrname), .equal, .value(.string("probe0"))), .verdict(.accept)]))
    }

    /// The features of the kernel this process runs on (its network namespace).
    static func localFeatures() async throws(Failure) -> KernelFeatures {
        let firewall: NetlinkFirewall
        do { firewall = try NetlinkFirewall(namespace: .current) } catch {
            throw Failure(description: "cannot open netlink: \(error)")
        }
        return try await features(of: firewall)
    }

    /// What a command assumes when it cannot probe: the layout of Debian and Proxmox kernels, said on stderr.
    static func assumeFull(because failure: Failure) -> KernelFeatures {
        printError("sdn: cannot probe the kernel: \(failure); assuming the full layout (bridge conntrack, as Debian and Proxmox kernels have); "
                   + "pass --kernel full or --kernel minimal to choose")
        return .full
    }
}
