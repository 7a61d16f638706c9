import Dispatch
import Glibc
import SDNDataplane
import SDNNetns
internal import CNLRoute

/// A subscription to RTNLGRP_LINK on a socket opened in the namespace, read on its own dispatch queue
/// until ``stop()``. A pipe wakes the reader, which then closes the socket.
final class LinkEventSubscription: @unchecked Sendable {
    // The socket is used only by the reader; `stop` only writes to the pipe.
    private let socket: RouteSocket
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let queue: DispatchQueue

    init(namespace: NetworkNamespace) throws(RouteNetlinkError) {
        socket = try RouteSocket(namespace: namespace, groups: [RTNLGRP_LINK.rawValue])
        var descriptors: [Int32] = [0, 0]
        guard pipe(&descriptors) == 0 else {
            throw RouteNetlinkError(operation: "pipe for link events", errno: errno)
        }
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
            _ = fcntl(descriptor, F_SETFL, O_NONBLOCK)
        }
        wakeRead = descriptors[0]
        wakeWrite = descriptors[1]
        queue = DispatchQueue(label: "sdn.routenetlink.events.\(namespace)")
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Starts reading; `event` is called for each link notification, `finished` once at the end (with an
    /// error if the subscription broke, e.g. ENOBUFS when the kernel dropped events).
    func start(event: @escaping @Sendable (LinkEvent) -> Void, finished: @escaping @Sendable ((any Error)?) -> Void) {
        queue.async { [self] in
            do {
                try read(event)
                finished(nil)
            } catch {
                finished(error)
            }
        }
    }

    /// Makes the reader stop (it finishes without error). Safe to call more than once and from any thread.
    func stop() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func read(_ event: (LinkEvent) -> Void) throws(RouteNetlinkError) {
        while true {
            var descriptors = [pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            if poll(&descriptors, 2, -1) < 0 {
                if errno == EINTR { continue }
                throw RouteNetlinkError(operation: "wait for link events", errno: errno)
            }
            if descriptors[1].revents != 0 { return }
            do {
                while let length = try socket.receiveQueuedDatagram() {
                    socket.forEachMessage(length: length) { message, type in
                        if let decoded = Self.event(message, type: type) { event(decoded) }
                    }
                }
            } catch {
                if error.errno == ENOBUFS {
                    throw RouteNetlinkError(
                        operation: "receive link events", errno: ENOBUFS,
                        message: "the kernel dropped link events (receive buffer full); observe again"
                    )
                }
                throw error
            }
        }
    }

    /// RTM_NEWLINK with every flag marked as changed (ifi_change ~0) announces a new link.
    static func event(_ message: UnsafePointer<nlmsghdr>, type: UInt16) -> LinkEvent? {
        guard type == UInt16(RTM_NEWLINK) || type == UInt16(RTM_DELLINK),
              let header = AttributeTable.header(ifinfomsg.self, of: message) else { return nil }
        let attributes = AttributeTable(message: message, headerLength: MemoryLayout<ifinfomsg>.size, maxType: IFLA_IFNAME)
        let name = attributes.string(IFLA_IFNAME) ?? ""
        // AF_BRIDGE notifications (also RTM_DELLINK when a port leaves its bridge) are about bridge port
        // settings: the link itself changed, it did not come or go.
        guard header.ifi_family == UInt8(AF_UNSPEC) else { return .changed(name: name, index: header.ifi_index) }
        if type == UInt16(RTM_DELLINK) { return .removed(name: name, index: header.ifi_index) }
        return header.ifi_change == UInt32.max ? .added(name: name, index: header.ifi_index) : .changed(name: name, index: header.ifi_index)
    }
}
