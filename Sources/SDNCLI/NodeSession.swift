import ArgumentParser
import SDNDataplane
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNNFTablesNetlink
import SDNNetns
import SDNNetworkPlan
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

/// One conversation with a node's kernel about links and firewall together: read both, plan both as
/// one `Plan`, and run it with rollback.
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
                throw ExitCode(1)
            }
        } else {
            links = nil
        }
    }

    /// The firewall compiled for this node and kernel; exits on a refused policy.
    func compileFirewall(_ validated: Validated<DesiredState>, node: String, kernel: LiveKernelOptions, quiet: Bool = false) async throws -> (Ruleset, KernelFeatures)? {
        guard let firewall else { return nil }
        let features = await kernel.features(for: firewall)
        let compiled = FirewallCompiler.compile(validated, node: node, features: features)
        if !quiet { for diagnostic in compiled.diagnostics { printError(diagnostic.description) } }
        if compiled.diagnostics.hasErrors {
            printError("sdn: the firewall policy is refused (see the errors above); nothing was changed")
            throw ExitCode(1)
        }
        return (compiled.ruleset, features)
    }

    /// Reads the kernel and plans links and firewall as one.
    func plan(_ validated: Validated<DesiredState>, node: String, ruleset: Ruleset?) async throws -> Plan {
        var transaction: FirewallTransaction?
        if let firewall, let ruleset {
            transaction = try await firewall.transaction(to: ruleset)
        }
        var desired = NodeNetwork(node: node)
        var observed = ObservedNetwork()
        if let links {
            desired = NodeNetworkBuilder.build(validated, node: node)
            observed = try await links.observe(desired.observationScope)
        }
        return Planner.plan(desired: desired, observed: observed, firewall: transaction)
    }

    var applier: Applier {
        Applier(links: links ?? NoLinks(), firewall: firewall.map { StagedFirewall(netlink: $0.firewall) })
    }
}

/// A plan without link steps needs no link dataplane.
struct NoLinks: LinkDataplane {
    func observe(_ scope: ObservationScope) async throws -> ObservedNetwork { ObservedNetwork() }
    func perform(_ operation: LinkOperation) async throws(LinkOperationError) {
        throw LinkOperationError(operation: operation, message: "links are out of this command's scope")
    }
    var writeCount: Int { 0 }
    func linkEvents() -> AsyncThrowingStream<LinkEvent, any Error> { AsyncThrowingStream { $0.finish() } }
}

/// The netlink firewall, with very large first loads sent as staged batches whose last one hooks the
/// base chains (no packet meets a half-built ruleset, no single transaction holds the kernel long).
struct StagedFirewall: FirewallDataplane {
    static let stagedLoadThreshold = 50_000
    let netlink: NetlinkFirewall

    func observe(tables: [(TableFamily, String)]) async throws -> ObservedFirewall { try await netlink.observe(tables: tables) }

    func apply(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport {
        changes.count > Self.stagedLoadThreshold
            ? try await netlink.applyChunked(changes, expectedGeneration: expectedGeneration)
            : try await netlink.apply(changes, expectedGeneration: expectedGeneration)
    }
}
