import Dispatch
import Glibc
public import SDNDataplane
public import SDNNetns
import Synchronization

/// The link dataplane over rtnetlink (libnl-3's message and attribute API, the kernel's uapi headers): reads
/// a namespace's links, addresses, main-table routes, static FDB entries, bridge VLANs, forwarding
/// switches (per link and node-wide) and IPv6 accept_ra, and performs single writes to them.
///
/// Every socket is opened inside the namespace given at creation (through ``NetworkNamespace``), never in
/// the caller's. One rtnetlink socket serves all calls, one at a time, on a private dispatch queue so a
/// request never blocks Swift concurrency's cooperative threads. Links are addressed by name where the
/// kernel accepts names (RTM_NEWLINK, RTM_DELLINK); elsewhere by an ifindex from a name → index map that
/// dumps and the echo of created links keep fresh, refreshed by one RTM_GETLINK on a miss.
///
/// Requests that are not netlink: tap devices are made with TUNSETIFF/TUNSETPERSIST on /dev/net/tun
/// (rtnetlink cannot create tun devices); IPv6 forwarding and accept_ra are the per-interface sysctls
/// (the kernel takes no IPv6 devconf over netlink), and the node-wide forwarding switches and
/// `net.ipv6.conf.default.accept_ra` are sysctls too (no netlink request writes "all" or reads
/// `default`'s accept_ra); all of these run on a thread inside the namespace.
public final class NetlinkLinks: LinkDataplane {
    private let connection: Mutex<LinkConnection>
    private let queue: DispatchQueue
    private let writes = WriteCounter()
    /// The namespace these links live in.
    public let namespace: NetworkNamespace

    /// Opens an rtnetlink socket inside `namespace`.
    ///
    /// - Throws: ``RouteNetlinkError`` if the namespace cannot be entered or the socket cannot be opened.
    public init(namespace: NetworkNamespace) throws {
        self.namespace = namespace
        connection = Mutex(try LinkConnection(namespace: namespace, writes: writes))
        queue = DispatchQueue(label: "sdn.routenetlink.\(namespace)")
    }

    // MARK: - LinkDataplane

    /// Every link (ours and not) with addresses (without the kernel's IPv6 link-local ones), main-table
    /// routes (without kernel-protocol connected routes), permanent/static FDB entries (without the
    /// bridge's entries for its own and its ports' addresses, multicast and learned ones), bridge VLANs,
    /// forwarding switches, every link's IPv6 accept_ra, the node-wide forwarding switches
    /// (RTM_GETNETCONF) and, when `scope.nodeWideIPv6`, `net.ipv6.conf.default.accept_ra`. Sends no writes.
    ///
    /// Kind settings are reported as the kernel holds them, with the model's defaults for what it does not
    /// report (a kernel without bridge VLAN filtering reports no VLAN settings: `vlanFiltering` false, PVID
    /// 1). A veth whose peer is in another namespace reports its peer as "" and no `peerNamespace`; IPv6
    /// routes carry the metric the kernel gave them (1024 when none was asked for).
    public func observe(_ scope: ObservationScope) async throws -> ObservedNetwork {
        try await run { connection throws(RouteNetlinkError) in try connection.observe(scope) }.get()
    }

    /// Performs `operation`: one netlink request, or a few where the kernel splits it (a created link's
    /// alias is a second request; `changeKind` first reads the link to send only the settings that differ,
    /// and sends nothing when none does).
    ///
    /// - Throws: `LinkOperationError` with the kernel's errno and a message naming the request, the
    ///   kernel's reason (its extended-ack text when it sent one) and a hint where the errno is terse.
    public func perform(_ operation: LinkOperation) async throws(LinkOperationError) {
        let result = await run { connection throws(RouteNetlinkError) in try connection.perform(operation) }
        if case .failure(let error) = result {
            throw LinkOperationError(operation: operation, errno: error.errno, message: "\(error.operation): \(error.message)")
        }
    }

    /// Performs `operations` in order in one hop to the connection's queue, stopping at the first failure.
    public func perform(_ operations: [LinkOperation]) async -> (completed: Int, failure: LinkOperationError?) {
        await run { connection -> (Int, LinkOperationError?) in
            for (index, operation) in operations.enumerated() {
                do throws(RouteNetlinkError) {
                    try connection.perform(operation)
                } catch {
                    return (index, LinkOperationError(operation: operation, errno: error.errno, message: "\(error.operation): \(error.message)"))
                }
            }
            return (operations.count, nil)
        }.get()
    }

    /// Every link's packet counters (one dump with statistics; a read, not a write).
    public func counters() async throws -> [String: LinkCounters] {
        try await run { connection throws(RouteNetlinkError) in try connection.dumpCounters() }.get()
    }

    /// Kernel writes sent so far: netlink requests that change state (each request of an operation that
    /// needs several), tap creations and sysctl writes. Failed requests count too: they
    /// were attempts to change state. Reads (`observe`, index lookups) never count.
    public var writeCount: Int { writes.value }

    /// Link notifications from a ``LinkEventMonitor`` opened in the namespace when this is called, until
    /// the stream is cancelled or its consumer goes away. A new link arrives as `.added` (the kernel marks
    /// every flag as changed), its later changes (including bridge port changes) as `.changed`. If the
    /// kernel drops events (ENOBUFS), the stream ends with an error: observe again.
    public func linkEvents() -> AsyncThrowingStream<LinkEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<LinkEvent, any Error>.makeStream()
        let monitor: LinkEventMonitor
        do {
            monitor = try LinkEventMonitor(namespace: namespace)
        } catch {
            continuation.finish(throwing: error)
            return stream
        }
        let events = monitor.events()
        let forwarding = Task {
            for await event in events {
                switch event.kind {
                case .added: continuation.yield(.added(name: event.name, index: event.index))
                case .changed: continuation.yield(.changed(name: event.name, index: event.index))
                case .removed: continuation.yield(.removed(name: event.name, index: event.index))
                case .addressAdded, .addressRemoved: continue
                case .overrun:
                    continuation.finish(throwing: RouteNetlinkError(
                        operation: "receive link events", errno: ENOBUFS,
                        message: "the kernel dropped link events (receive buffer full); observe again"
                    ))
                    return
                }
            }
            continuation.finish()
        }
        // The stream holds the monitor: it lives until the consumer is done.
        continuation.onTermination = { _ in
            forwarding.cancel()
            monitor.stop()
        }
        return stream
    }

    // MARK: - Serialisation

    private func run<Value: Sendable, Failure: Error>(
        _ body: @escaping @Sendable (LinkConnection) throws(Failure) -> Value
    ) async -> Result<Value, Failure> {
        await withCheckedContinuation { continuation in
            queue.async {
                let result = self.connection.withLock { connection in Result { () throws(Failure) -> Value in try body(connection) } }
                continuation.resume(returning: result)
            }
        }
    }
}
