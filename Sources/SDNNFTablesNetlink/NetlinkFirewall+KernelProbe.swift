import Glibc
import SDNDataplane
public import SDNNFTables

/// The kernel probe could not run at all (no privileges, no nf_tables): nothing is known about the kernel.
public struct KernelProbeFailure: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

extension NetlinkFirewall {
    /// The table the probe loads and removes again (bridge family).
    public static let probeTableName = "sdn_probe"

    /// Finds what this namespace's nf_tables can do on bridges by loading one-rule probe tables, each in a
    /// transaction of its own and removed again (or never committed). Needs CAP_NET_ADMIN.
    ///
    /// - Throws: ``KernelProbeFailure`` when even a plain accept rule cannot be loaded: then the answers
    ///   would mean nothing (the caller decides what to assume).
    public func probeFeatures() async throws(KernelProbeFailure) -> KernelFeatures {
        let table = Self.probeTableName
        func load(_ statements: [Statement]) async throws(FirewallApplyError) {
            let chain = Chain(name: "probe", base: BaseChain(type: .filter, hook: .forward, priority: 0, policy: .accept))
            let changes: [FirewallChange] = [
                .addTable(.bridge, table), .addChain(.bridge, table: table, chain),
                .addRule(.bridge, table: table, chain: "probe", Rule(id: "probe", statements: statements)),
            ]
            _ = try await apply(changes, expectedGeneration: nil)
            _ = try? await apply([.deleteTable(.bridge, table)], expectedGeneration: nil)
        }
        func supports(_ statements: [Statement]) async -> Bool {
            do { try await load(statements) } catch { return false }
            return true
        }
        do { try await load([.verdict(.accept)]) } catch {
            throw KernelProbeFailure(description: error.errno == EPERM ? "no permission to change nf_tables (run as root)" : error.description)
        }
        return KernelFeatures(
            bridgeConntrack: await supports([.match(.ct(.state), .implicit, .value(.flags(["established"]))), .verdict(.accept)]),
            bridgeReject: await supports([.match(.meta(.l4proto), .equal, .value(.symbol(.tcp))), .reject(.tcpReset)]),
            bridgeMeta: await supports([.match(.meta(.ibrname), .equal, .value(.string("probe0"))), .verdict(.accept)]))
    }
}
