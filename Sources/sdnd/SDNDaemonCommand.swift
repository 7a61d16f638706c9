import ArgumentParser
import Foundation
import Glibc
import Logging
import Metrics
import Prometheus
import SDNDaemon
import SDNEtcd
import SDNNFTablesNetlink
import SDNNetns
import SDNServer
import SDNStore
import ServiceLifecycle
import Synchronization

/// `sdnd`: the controller daemon of one node. It keeps the desired state's revisions (SQLite under
/// `--state-dir`, or etcd with `--etcd`), serves the API on a Unix socket (and TCP with tokens), and keeps the node's kernel at
/// the applied revision.
@main
struct SDNDaemonCommand: AsyncParsableCommand {
    static let version = "0.4.0"

    static let configuration = CommandConfiguration(
        commandName: "sdnd",
        abstract: "The sdn controller daemon: revisioned desired state, HTTP API, and the reconcile loop of one node.",
        discussion: """
            Listens on unix:///run/sdn/sdnd.sock by default (mode 0660: the socket's file permissions are the \
            access control). TCP listeners (http://127.0.0.1:PORT, loopback only in this build) require API \
            tokens (`sdn token create`). Stops on SIGTERM or SIGINT after the running apply finished; a restart \
            adopts what the kernel holds.
            """,
        version: version
    )

    @Option(help: "Where the store lives (sdn.sqlite) — created 0700 if missing.")
    var stateDir = "/var/lib/sdn"

    @Option(name: .customLong("etcd"),
            help: ArgumentHelp("Keep the desired state in etcd v3 at this client URL instead of SQLite (repeatable: one cluster's members).",
                               valueName: "url"))
    var etcdEndpoints: [String] = []

    @Option(help: "Where in etcd the state lives: a key prefix starting and ending with /.")
    var etcdPrefix = "/sdn/"

    @Option(name: .customLong("listen"), help: ArgumentHelp("unix:///PATH or http://ADDRESS:PORT (repeatable).", valueName: "url"))
    var listeners: [String] = []

    @Option(help: "Run as this node of the topology (default: the only node).")
    var node: String?

    @Option(help: "Act on the kernel of this network namespace (as `ip netns` names it) instead of the daemon's own.")
    var netns: String?

    @Option(help: "What to do when the kernel drifts from the applied revision: repair or report.")
    var drift: String = "repair"

    @Option(help: "Seconds between full comparisons of the kernel with the applied revision.")
    var resync: Double = 60

    @Option(help: "The largest request body accepted, in bytes (larger: 413).")
    var maxBody = 8 << 20

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard ControllerOptions.DriftMode(rawValue: drift) != nil else {
            throw ValidationError("--drift must be repair or report, not '\(drift)'")
        }
        guard resync >= 1 else { throw ValidationError("--resync must be at least 1 second") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for listener in listeners { _ = try ListenAddress(parsing: listener) }
        if !etcdEndpoints.isEmpty {
            do { _ = try EtcdClient(endpoints: etcdEndpoints) } catch { throw ValidationError("--etcd: \(error)") }
            guard etcdPrefix.hasPrefix("/"), etcdPrefix.hasSuffix("/"), etcdPrefix.count >= 2 else {
                throw ValidationError("--etcd-prefix must start and end with / and name something, like /sdn/ (not '\(etcdPrefix)')")
            }
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return handler
        }
        let logger = Logger(label: "sdnd")
        // Before anything makes a swift-metrics counter (the controller does in its init).
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let addresses = try (listeners.isEmpty ? ["unix:///run/sdn/sdnd.sock"] : listeners).map(ListenAddress.init(parsing:))

        let store: any StateStore
        if etcdEndpoints.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                store = try SQLiteStateStore(path: stateDir + "/sdn.sqlite")
            } catch {
                logger.critical("cannot open the store in \(stateDir): \(error)")
                throw ExitCode.failure
            }
        } else {
            do {
                store = try EtcdStateStore(endpoints: etcdEndpoints, prefix: etcdPrefix)
            } catch {
                logger.critical("cannot use etcd at \(etcdEndpoints.joined(separator: ", ")): \(error)")
                throw ExitCode.failure
            }
            // Not fatal: a node starts (and keeps its kernel as it is) while etcd is away; the API and the
            // reconcile loop report the store's errors until it is back.
            do { _ = try await store.headNumber() } catch { logger.warning("\(error)") }
        }

        let namespace: NetworkNamespace
        if let netns {
            do { namespace = try NetworkNamespace.named(netns) } catch {
                logger.critical("no network namespace '\(netns)': \(error)")
                throw ExitCode.failure
            }
        } else {
            namespace = .current
        }
        let kernel: NetlinkNodeKernel
        do { kernel = try NetlinkNodeKernel(namespace: namespace, logger: Logger(label: "sdnd.kernel")) } catch {
            logger.critical("cannot open netlink in \(namespace): \(error)")
            throw ExitCode.failure
        }

        let options = ControllerOptions(node: node, driftMode: ControllerOptions.DriftMode(rawValue: drift) ?? .repair,
                                        resyncInterval: .milliseconds(Int64(resync * 1000)))
        let controller = NodeController(store: store, kernel: kernel, options: options)
        let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)

        let firewall = kernel.firewall
        let metrics = ServerMetrics(registry: registry, scrapeExtra: { await RuleCounterExposition.render(firewall) })
        let api = APIServer(store: store, control: controller, metrics: metrics, options: APIServerOptions(maximumBodySize: maxBody))
        for address in addresses {
            do { try address.prepare() } catch {
                logger.critical("\(error)")
                throw ExitCode.failure
            }
        }

        let ready = ReadinessGate(count: addresses.count + 1) {
            notifier.notify("READY=1\nSTATUS=serving \(addresses.map(\.description).joined(separator: ", "))")
            logger.info("ready: listening on \(addresses.map(\.description).joined(separator: ", "))")
        }
        var services: [any Service] = [ControllerService(controller: controller, ready: ready)]
        for address in addresses {
            services.append(api.makeApplication(trusted: address.trusted, address: address.bindAddress, logger: Logger(label: "sdnd.api"),
                                                onServerRunning: { _ in
                                                    address.listening()
                                                    ready.pass()
                                                }))
        }
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        notifier.notify("STOPPING=1")
    }
}

/// The reconcile loop as a service: stops taking work on graceful shutdown and waits for the apply in
/// flight (never a half-applied plan: links are undone on failure, the ruleset is one transaction).
struct ControllerService: Service {
    let controller: NodeController
    let ready: ReadinessGate

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await controller.run(onStarted: { ready.pass() })
        }
        await controller.drain()
    }
}

/// Calls `action` once `count` parties passed.
final class ReadinessGate: Sendable {
    private let remaining: Mutex<Int>
    private let action: @Sendable () -> Void

    init(count: Int, action: @escaping @Sendable () -> Void) {
        remaining = Mutex(count)
        self.action = action
    }

    func pass() {
        let fire = remaining.withLock { value -> Bool in
            value -= 1
            return value == 0
        }
        if fire { action() }
    }
}

/// The kernel's per-rule counters as Prometheus counters, labelled by the rule's stable id.
enum RuleCounterExposition {
    static func render(_ firewall: NetlinkFirewall) async -> String {
        guard let counters = try? await firewall.ruleCounters(tables: NetlinkNodeKernel.ourTables), !counters.isEmpty else { return "" }
        var text = "# HELP sdn_rule_packets_total Packets that matched the rule (its nftables counter), by stable rule id.\n# TYPE sdn_rule_packets_total counter\n"
        var bytes = "# HELP sdn_rule_bytes_total Bytes that matched the rule, by stable rule id.\n# TYPE sdn_rule_bytes_total counter\n"
        for counter in counters {
            let labels = "family=\"\(counter.family.rawValue)\",chain=\"\(ServerMetrics.labelValue(counter.chain))\",rule=\"\(ServerMetrics.labelValue(counter.ruleID))\""
            text += "sdn_rule_packets_total{\(labels)} \(counter.packets)\n"
            bytes += "sdn_rule_bytes_total{\(labels)} \(counter.bytes)\n"
        }
        return text + bytes
    }
}
