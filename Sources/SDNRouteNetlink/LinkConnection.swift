import Glibc
import SDNDataplane
import SDNModel
import SDNNetns
import Synchronization
internal import CNLRoute

/// Counts kernel writes; shared between the connection (which sends them) and ``NetlinkLinks`` (which
/// reports them without waiting for the connection's lock).
final class WriteCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// The state behind one ``NetlinkLinks``: its rtnetlink socket and a name → ifindex map. Used by one
/// operation at a time (``NetlinkLinks`` holds it in a mutex).
///
/// The map is filled by link dumps, by the echo of links we create, and by single RTM_GETLINK requests
/// on a miss; it is never refilled wholesale per operation. A cached index that no longer exists makes the
/// kernel answer ENODEV: the operation is then retried once with fresh lookups.
final class LinkConnection {
    let namespace: NetworkNamespace
    let socket: RouteSocket
    let writes: WriteCounter
    private var indexByName: [String: Int32] = [:]
    /// Indices taken from the map during the current operation: if the kernel refuses one, it may be stale.
    private var cachedIndicesUsed: [String: Int32] = [:]

    init(namespace: NetworkNamespace, writes: WriteCounter) throws(RouteNetlinkError) {
        self.namespace = namespace
        self.writes = writes
        socket = try RouteSocket(namespace: namespace)
    }

    // MARK: - Names and indices

    /// The ifindex of link `name` in this namespace.
    ///
    /// - Throws: ENODEV when there is no such link.
    func index(of name: String) throws(RouteNetlinkError) -> Int32 {
        if let index = indexByName[name] {
            cachedIndicesUsed[name] = index
            return index
        }
        guard let link = try getLink(name) else {
            throw RouteNetlinkError(operation: "find link \(name)", errno: ENODEV, message: "no link named \"\(name)\" in \(namespace)")
        }
        return link.index
    }

    /// The link named `name` as the kernel reports it now, or nil if there is none (one RTM_GETLINK).
    func getLink(_ name: String) throws(RouteNetlinkError) -> KernelLink? {
        let message = RouteMessage(type: RTM_GETLINK)
        message.append(ifinfomsg())
        message.put(IFLA_IFNAME, string: name)
        message.put(IFLA_EXT_MASK, u32: UInt32(RTEXT_FILTER_SKIP_STATS))
        var found: KernelLink?
        do {
            try socket.request(message, operation: "get link \(name)", reply: { reply in
                if let link = KernelLink(message: reply) { found = link }
            })
        } catch {
            // (Not `catch where`: typed throws with a `where` clause crash the Swift 6.3 compiler.)
            guard error.errno == ENODEV else { throw error }
            indexByName[name] = nil
            return nil
        }
        if let found { indexByName[found.name] = found.index }
        return found
    }

    func remember(_ links: [KernelLink]) {
        indexByName = Dictionary(links.map { ($0.name, $0.index) }, uniquingKeysWith: { _, last in last })
    }

    func forget(_ name: String) { indexByName[name] = nil }

    /// Learns the index of a link from the echo of its creation (RTM_NEWLINK with our sequence number).
    func learn(fromEcho message: UnsafePointer<nlmsghdr>) {
        guard message.pointee.nlmsg_type == UInt16(RTM_NEWLINK),
              let header = AttributeTable.header(ifinfomsg.self, of: message) else { return }
        let attributes = AttributeTable(message: message, headerLength: MemoryLayout<ifinfomsg>.size, maxType: IFLA_IFNAME)
        if let name = attributes.string(IFLA_IFNAME) { indexByName[name] = header.ifi_index }
    }

    // MARK: - Writing

    /// Sends one state-changing request and counts it.
    func write(
        _ message: RouteMessage, _ operation: @autoclosure () -> String, hint: ((Int32) -> String?)? = nil,
        reply: ((UnsafePointer<nlmsghdr>) -> Void)? = nil
    ) throws(RouteNetlinkError) {
        writes.increment()
        try socket.request(message, operation: operation(), hint: hint, reply: reply)
    }

    /// Runs `body` (one operation). When the kernel refuses it with ENODEV or EINVAL (what an unknown
    /// IFLA_MASTER index gets) and an index came from the map, the names used are looked up again; if any
    /// of them now has another index (the link was replaced behind our back), `body` runs once more.
    func withFreshIndicesOnStale(_ body: () throws(RouteNetlinkError) -> Void) throws(RouteNetlinkError) {
        cachedIndicesUsed = [:]
        do {
            try body()
        } catch {
            // (Not `catch where`: typed throws with a `where` clause crash the Swift 6.3 compiler.)
            guard error.errno == ENODEV || error.errno == EINVAL, !cachedIndicesUsed.isEmpty else { throw error }
            let used = cachedIndicesUsed
            var stale = false
            for (name, index) in used {
                indexByName[name] = nil
                if (try? getLink(name))?.index != index { stale = true }
            }
            guard stale else { throw error }
            cachedIndicesUsed = [:]
            try body()
        }
    }
}
