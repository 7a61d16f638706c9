import ArgumentParser
import SDNDataplane
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNNFTablesNetlink
import SDNNetns
import SDNHostNetwork
import SDNReconciler
import SDNRouteNetlink

/// What a command acts on: links, the firewall, or (the default) both.
struct ScopeOptions: ParsableArguments {
    @Flag(help: "Only the links (bridges, bonds, VLANs, VXLAN, addresses, FDB, bridge VLANs).")
    var links = false

    @Flag(help: "Only the firewall.")
    var firewall = false

    var includesLinks: Bool { links || !firewall }
    var includesFirewall: Bool { firewall || !links }
}

/// One conversation with a node's kernel about links and firewall together: the netlink adapters in
/// the target namespace, and the `NodeReconciler` over them that plans and applies both as one `Plan`.
struct NodeSession {
    let namespace: NetworkNamespace
    let scope: ScopeOptions
    let links: NetlinkLinks?
    let firewall: FirewallSession?

    init(namespace: NetworkNamespace, scope: ScopeOptions) throws {
        self.namespace = namespace
        self.scope = scope
        firewall = scope.includesFirewall ? try FirewallSession(namespace: namespace) : nil
        if scope.includesLinks {
            do { links = try NetlinkLinks(namespace: namespace) } catch {
                printError("sdn: cannot open rtnetlink in \(namespace): \(error)")
                throw ExitCode.failed
            }
        } else {
            links = nil
        }
    }

    /// The firewall compiled for this node and kernel; exits on a refused policy.
    func compileFirewall(_ validated: Validated<DesiredState>, node: String, kernel: LiveKernelOptions, quiet: Bool = false) async throws -> (Ruleset, KernelFeatures)? {
        guard let firewall else { return nil }
        let features = await kernel.features(for: firewall)
        let compiled = await FirewallCompiler.compile(validated, node: node, features: features)
        if !quiet { for diagnostic in compiled.diagnostics { printError(diagnostic.description) } }
        if compiled.diagnostics.hasErrors {
            printError("sdn: the firewall policy is refused (see the errors above); nothing was changed")
            throw ExitCode.failed
        }
        return (compiled.ruleset, features)
    }

    /// The control loop over this namespace's kernel (the same one a daemon runs).
    var reconciler: NodeReconciler {
        NodeReconciler(links: links, firewall: firewall?.firewall, firewallTables: FirewallSession.ourTables,
                       bridgeNetfilter: firewall)
    }
}
