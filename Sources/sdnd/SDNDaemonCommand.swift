import ArgumentParser
import Foundation
import Glibc
import HummingbirdCore
import HummingbirdTLS
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
/// `--state-dir`, or etcd with `--etcd`), serves the API on a Unix socket (and TLS with tokens), and keeps the node's kernel at
/// the applied revision.
@main
struct SDNDaemonCommand: AsyncParsableCommand {
    static let version = "0.4.0"

    static let configuration = CommandConfiguration(
        commandName: "sdnd",
        abstract: "The sdn controller daemon: revisioned desired state, HTTP API, and the reconcile loop of one node.",
        discussion: """
            Listens on unix:///run/sdn/sdnd.sock by default (mode 0660: the socket's file permissions are the \
            access control). TCP listeners require API tokens (`sdn token create`): https://ADDRESS:PORT on any \
            address, plain http://127.0.0.1:PORT on loopback only. Without --tls-cert, the first start with an \
            https:// listener makes a self-signed certificate in STATE-DIR/tls (server.crt, server.key 0600) and \
            every start prints its SHA-256 fingerprint for clients to pin (sdn --fingerprint). Stops on SIGTERM \
            or SIGINT after the running apply finished; a restart adopts what the kernel holds.
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

    @Option(help: ArgumentHelp("With --etcd: copy this single node's SQLite store (revisions, target, audit log, tokens) into the empty etcd prefix, then exit (what `sdn cluster init --from-sqlite` runs).", valueName: "file"))
    var importSqlite: String?

    @Option(help: ArgumentHelp("How long this node counts as live after it last said so (it does every third of it); the cluster's `sdn apply --wait` stops waiting for it once that passed.", valueName: "seconds"))
    var livenessTtl: Double = 10

    @Option(name: .customLong("listen"), help: ArgumentHelp("unix:///PATH, https://ADDRESS:PORT, or http://127.0.0.1:PORT (loopback only) (repeatable).", valueName: "url"))
    var listeners: [String] = []

    @Option(help: ArgumentHelp("The https:// listeners' certificate (PEM, the chain after it) instead of the self-signed one in STATE-DIR/tls.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The private key of --tls-cert (PEM, unencrypted).", valueName: "file"))
    var tlsKey: String?

    @Option(help: "Run as this node of the topology (default: the only node).")
    var node: String?

    @Option(help: "Act on the kernel of this network namespace (as `ip netns` names it) instead of the daemon's own.")
    var netns: String?

    @Option(help: ArgumentHelp("The libvirt connection that says whether KVM guests run (`sdn guests`); 'none' to infer it from their ports.", valueName: "uri"))
    var libvirt = "qemu:///system"

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
        guard livenessTtl >= 2 else { throw ValidationError("--liveness-ttl must be at least 2 seconds (etcd's shortest lease)") }
        if importSqlite != nil, etcdEndpoints.isEmpty {
            throw ValidationError("--import-sqlite copies a store into etcd: give the cluster's --etcd URL too")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let addresses = try listeners.map(ListenAddress.init(parsing:))
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together: give the certificate and its private key, or neither (a self-signed certificate is made in \(stateDir)/tls)")
        }
        if tlsCert != nil, !addresses.contains(where: { $0.tlsHost != nil }) {
            throw ValidationError("--tls-cert is for https:// listeners, and there is none: add --listen https://ADDRESS:PORT")
        }
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
        if let importSqlite {
            try await importIntoEtcd(from: importSqlite, logger: logger)
            return
        }

        do {
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            logger.critical("cannot create the state directory \(stateDir): \(error)")
            throw ExitCode.failure
        }

        // Before the store: a certificate sdnd cannot use stops it having opened nothing.
        var tls: TLSConfiguration?
        let tlsHosts = addresses.compactMap(\.tlsHost)
        if !tlsHosts.isEmpty {
            let identity: ServerCertificate
            do { identity = try serverCertificate(listenHosts: tlsHosts) } catch {
                logger.critical("cannot serve https: \(error)")
                throw ExitCode.failure
            }
            if identity.created {
                logger.notice("made a self-signed TLS certificate", metadata: ["tls.certificate": "\(identity.certificatePath)", "tls.key": "\(identity.keyPath)"])
            }
            logger.info("TLS certificate", metadata: ["tls.certificate": "\(identity.certificatePath)", "tls.fingerprint": "\(identity.fingerprint)"])
            // As Incus shows it: clients compare it and pin it (`sdn --fingerprint`).
            // Unbuffered: a log file or a pipe sees it at once, not when sdnd exits.
            FileHandle.standardOutput.write(Data("TLS certificate fingerprint (SHA-256): \(identity.fingerprint)\n".utf8))
            tls = identity.tlsConfiguration
        }

        let store: any StateStore
        if etcdEndpoints.isEmpty {
            do {
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
                                        resyncInterval: .milliseconds(Int64(resync * 1000)),
                                        guestStates: libvirt == "none" ? nil : LibvirtGuestStates(uri: libvirt, logger: logger).states,
                                        livenessTTL: .milliseconds(Int64(livenessTtl * 1000)))
        // The API parses (or makes) each revision's model once; the loop reads it from here.
        let stateCache = RevisionStateCache()
        let controller = NodeController(store: store, kernel: kernel, options: options, stateCache: stateCache)
        let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)

        let firewall = kernel.firewall
        let metrics = ServerMetrics(registry: registry, scrapeExtra: { await RuleCounterExposition.render(firewall) })
        let api = APIServer(store: store, control: controller, metrics: metrics, options: APIServerOptions(maximumBodySize: maxBody),
                            stateCache: stateCache)
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
            var server = HTTPServerBuilder.http1()
            if address.tlsHost != nil, let tls {
                do { server = try .tls(.http1(), tlsConfiguration: tls) } catch {
                    logger.critical("cannot serve https on \(address): \(error)")
                    throw ExitCode.failure
                }
            }
            services.append(api.makeApplication(trusted: address.trusted, address: address.bindAddress, server: server, logger: Logger(label: "sdnd.api"),
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

extension SDNDaemonCommand {
    /// `--import-sqlite`: one node's history into the cluster's etcd, the SQLite file left as it was.
    func importIntoEtcd(from path: String, logger: Logger) async throws {
        guard FileManager.default.fileExists(atPath: path) else {
            logger.critical("no SQLite store at \(path) (a node keeps it at STATE-DIR/sdn.sqlite, /var/lib/sdn/sdn.sqlite by default)")
            throw ExitCode.failure
        }
        do {
            let source = try SQLiteStateStore(path: path)
            let target = try await EtcdStateStore.connect(endpoints: etcdEndpoints, prefix: etcdPrefix)
            defer { target.close() }
            let summary = try await target.importHistory(from: source)
            FileHandle.standardOutput.write(Data("imported \(path) into etcd \(etcdEndpoints.joined(separator: ",")) under \(etcdPrefix): \(summary)\n".utf8))
        } catch {
            logger.critical("cannot import \(path) into etcd: \(error)")
            throw ExitCode.failure
        }
    }

    /// `--tls-cert`/`--tls-key`, else STATE-DIR/tls/server.crt + server.key (made on the first start).
    func serverCertificate(listenHosts: [String]) throws(ServerCertificateError) -> ServerCertificate {
        if let tlsCert, let tlsKey {
            return try ServerCertificate.load(certificatePath: tlsCert, keyPath: tlsKey,
                                              fix: "give --tls-cert a readable PEM certificate and --tls-key its unencrypted PEM private key")
        }
        var name = [UInt8](repeating: 0, count: 256)
        let named = name.withUnsafeMutableBufferPointer { $0.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, $0.count - 1) } }
        let hostName = named == 0 ? String(decoding: name.prefix { $0 != 0 }, as: UTF8.self) : "localhost"
        return try ServerCertificate.loadOrCreate(directory: stateDir + "/tls", names: .init(hostName: hostName, listenHosts: listenHosts))
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
