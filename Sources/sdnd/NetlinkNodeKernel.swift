import Logging
import SDNDaemon
import SDNDataplane
import SDNFirewall
import SDNNFTables
import SDNNFTablesNetlink
import SDNNetns
import SDNReconciler
import SDNRouteNetlink

/// The reconciler's switch, over the adapter's /proc writer.
private struct BridgeNetfilterSwitchInNamespace: BridgeNetfilterSwitch {
    let bridgeNetfilter: BridgeNetfilter
    func enable() throws { try bridgeNetfilter.enable() }
}

/// One node's kernel as the daemon sees it: links over rtnetlink, the firewall over nf_tables netlink,
/// both in the daemon's network namespace, and their notifications.
struct NetlinkNodeKernel: NodeKernel {
    static let ourTables: [(TableFamily, String)] = [(.inet, FirewallNaming.tableName), (.bridge, FirewallNaming.tableName)]

    let namespace: NetworkNamespace
    let linkPlane: NetlinkLinks
    let firewall: NetlinkFirewall
    let logger: Logger

    init(namespace: NetworkNamespace, logger: Logger) throws {
        self.namespace = namespace
        linkPlane = try NetlinkLinks(namespace: namespace)
        firewall = try NetlinkFirewall(namespace: namespace)
        self.logger = logger
    }

    var reconciler: NodeReconciler {
        NodeReconciler(links: linkPlane, firewall: firewall, firewallTables: Self.ourTables,
                       bridgeNetfilter: BridgeNetfilterSwitchInNamespace(bridgeNetfilter: BridgeNetfilter(namespace: namespace)),
                       log: ReconcilerLog { [logger] level, message in
                           switch level {
                           case .debug: logger.debug("\(message)")
                           case .info: logger.info("\(message)")
                           case .warning: logger.warning("\(message)")
                           case .error: logger.error("\(message)")
                           }
                       })
    }

    var links: (any LinkDataplane)? { linkPlane }

    func features() async -> KernelFeatures {
        do { return try await firewall.probeFeatures() } catch {
            logger.warning("cannot probe the kernel (\(error)); assuming the full layout (bridge conntrack, as Debian and Proxmox kernels have)")
            return .full
        }
    }

    /// Link notifications and nf_tables commits, merged. A lost notification (or a subscription that
    /// could not be made, or ended) becomes `.overrun`: the loop then compares everything; the
    /// subscription is made again after a pause.
    func triggers() -> AsyncStream<KernelTrigger> {
        let (stream, continuation) = AsyncStream.makeStream(of: KernelTrigger.self, bufferingPolicy: .bufferingNewest(4096))
        let linkPlane = self.linkPlane
        let namespace = self.namespace
        let logger = self.logger
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        do {
                            for try await event in linkPlane.linkEvents() { continuation.yield(.link(event)) }
                        } catch {
                            logger.warning("link notifications: \(error); comparing everything")
                        }
                        continuation.yield(.overrun)
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        do {
                            let monitor = try RulesetChangeMonitor(namespace: namespace)
                            for await change in monitor.events() {
                                // One NEWGEN ends every commit: one trigger per transaction, with its generation.
                                if change == .overrun {
                                    continuation.yield(.overrun)
                                } else if change.kind == .newGeneration {
                                    continuation.yield(.ruleset(generation: change.generation))
                                }
                            }
                        } catch {
                            logger.warning("nf_tables notifications: \(error)")
                        }
                        continuation.yield(.overrun)
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
