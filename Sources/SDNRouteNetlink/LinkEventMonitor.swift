import Glibc
public import SDNModel
public import SDNNetns
internal import CNLRoute

/// Link and address notifications from one network namespace (rtnetlink groups RTNLGRP_LINK,
/// RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR), for a controller that reconciles when something changes.
///
/// The socket is opened inside `namespace` when the monitor is made, so nothing that happens from then on
/// is missed: notifications wait in the socket (8 MiB) until the first ``events()`` call starts reading on
/// a thread of the monitor's own. When the kernel drops notifications because that buffer overflowed, the
/// streams get an ``Event/overrun`` event: observe the whole namespace again.
///
/// Keep the monitor while consuming: releasing it (or ``stop()``) ends every stream.
public final class LinkEventMonitor: Sendable {
    /// The namespace whose links are watched.
    public let namespace: NetworkNamespace
    private let reader: SocketReaderThread<Event>

    /// Opens the subscription in `namespace`.
    ///
    /// - Throws: ``RouteNetlinkError`` if the namespace cannot be entered or the socket cannot be opened
    ///   or subscribed; `NetnsError` if the reader's stop pipe cannot be made.
    ///   `receiveBufferBytes` is the socket's buffer for bursts (8 MiB: a thousand links created at once
    ///   fit); tests make it small to provoke an overrun cheaply.
    public init(namespace: NetworkNamespace, receiveBufferBytes: Int32 = 8 << 20) throws {
        self.namespace = namespace
        let socket = try RouteSocket(
            namespace: namespace, groups: [RTNLGRP_LINK.rawValue, RTNLGRP_IPV4_IFADDR.rawValue, RTNLGRP_IPV6_IFADDR.rawValue],
            receiveBufferBytes: receiveBufferBytes
        )
        let subscription = Subscription(socket)
        reader = try SocketReaderThread(descriptor: socket.descriptor) { emit in subscription.readQueued(emit) }
    }

    /// The events from the first call on (the first stream also gets those queued since the monitor was
    /// made). Each call makes a new stream; all of them end when the monitor stops or the socket fails.
    public func events() -> AsyncStream<Event> { reader.events() }

    /// Stops reading and ends every stream. Safe to call more than once.
    public func stop() { reader.stop() }
}

extension LinkEventMonitor {
    /// One notification: a link came, changed or went; an address was added to or removed from a link;
    /// or notifications were lost (`overrun`).
    public struct Event: Hashable, Sendable, CustomStringConvertible {
        public enum Kind: Hashable, Sendable {
            /// A new link (the kernel marks every flag as changed).
            case added
            /// Any later change of a link: flags, name, master, carrier, bridge port settings.
            case changed
            case removed
            case addressAdded
            case addressRemoved
            /// The kernel dropped notifications (ENOBUFS): observe the namespace again. Events before it may be
            /// missing; every one after it is delivered (the kernel delivers again from then on).
            case overrun
        }

        public var kind: Kind
        /// The link's name. Address notifications carry it only for IPv4 (its label); IPv6 ones leave it
        /// empty: use ``index``. Empty for `overrun`.
        public var name: String
        /// The link's ifindex in the namespace (0 for `overrun`).
        public var index: Int32
        /// The ifindex of the link's master (bridge) if it has one; link events only.
        public var masterIndex: Int32?
        /// The link is administratively up (IFF_UP); link events only.
        public var isUp: Bool?
        /// RFC 2863 operational state (IFLA_OPERSTATE); link events that carry it.
        public var operationalState: OperationalState?
        /// The address added or removed; address events only.
        public var address: IPPrefix?

        public init(
            kind: Kind, name: String, index: Int32, masterIndex: Int32? = nil, isUp: Bool? = nil,
            operationalState: OperationalState? = nil, address: IPPrefix? = nil
        ) {
            self.kind = kind
            self.name = name
            self.index = index
            self.masterIndex = masterIndex
            self.isUp = isUp
            self.operationalState = operationalState
            self.address = address
        }

        public static let overrun = Event(kind: .overrun, name: "", index: 0)

        public var description: String {
            var text = "\(kind) \(name.isEmpty ? "#\(index)" : name)"
            if let address { text += " \(address)" }
            if let isUp { text += isUp ? " up" : " down" }
            if let operationalState { text += " oper \(operationalState)" }
            if let masterIndex { text += " master #\(masterIndex)" }
            return text
        }
    }

    /// IFLA_OPERSTATE (RFC 2863 ifOperStatus as Linux reports it).
    public enum OperationalState: UInt8, Hashable, Sendable {
        case unknown = 0, notPresent, down, lowerLayerDown, testing, dormant, up
    }
}

/// The socket and the decoding, used only on the monitor's reader thread.
private final class Subscription: @unchecked Sendable {
    private let socket: RouteSocket

    init(_ socket: RouteSocket) { self.socket = socket }

    func readQueued(_ emit: (LinkEventMonitor.Event) -> Void) -> SocketReaderThread<LinkEventMonitor.Event>.Outcome {
        do {
            while let length = try socket.receiveQueuedDatagram() {
                socket.forEachMessage(length: length) { message, type in
                    if let event = Self.event(message, type: type) { emit(event) }
                }
            }
            return .continueReading
        } catch {
            guard error.errno == ENOBUFS else { return .finish }
        }
        // The kernel drops every notification until the queue has been emptied, without a second ENOBUFS.
        // So the queue is emptied first (what it holds predates the consumer's next observation anyway), and
        // only then is the overrun reported: everything after it is delivered.
        while true {
            do {
                while try socket.receiveQueuedDatagram() != nil {}
                emit(.overrun)
                return .continueReading
            } catch {
                guard error.errno == ENOBUFS else { return .finish }
            }
        }
    }

    static func event(_ message: UnsafePointer<nlmsghdr>, type: UInt16) -> LinkEventMonitor.Event? {
        switch Int32(type) {
        case Int32(RTM_NEWLINK), Int32(RTM_DELLINK): linkEvent(message, type: type)
        case Int32(RTM_NEWADDR), Int32(RTM_DELADDR): addressEvent(message, type: type)
        default: nil
        }
    }

    private static func linkEvent(_ message: UnsafePointer<nlmsghdr>, type: UInt16) -> LinkEventMonitor.Event? {
        guard let header = AttributeTable.header(ifinfomsg.self, of: message) else { return nil }
        let attributes = AttributeTable(message: message, headerLength: MemoryLayout<ifinfomsg>.size, maxType: __IFLA_MAX - 1)
        let kind: LinkEventMonitor.Event.Kind
        if header.ifi_family != UInt8(AF_UNSPEC) {
            // AF_BRIDGE notifications (also RTM_DELLINK when a port leaves its bridge) are about bridge port
            // settings: the link itself changed, it did not come or go.
            kind = .changed
        } else if type == UInt16(RTM_DELLINK) {
            kind = .removed
        } else {
            kind = header.ifi_change == UInt32.max ? .added : .changed
        }
                return LinkEventMonitor.Event(
            kind: kind, name: attributes.string(IFLA_IFNAME) ?? "", index: header.ifi_index,
            masterIndex: attributes.int32(IFLA_MASTER).flatMap { $0 == 0 ? nil : $0 }, isUp: header.ifi_flags & UInt32(IFF_UP) != 0,
            operationalState: attributes.u8(IFLA_OPERSTATE).flatMap(LinkEventMonitor.OperationalState.init(rawValue:))
        )
    }

    private static func addressEvent(_ message: UnsafePointer<nlmsghdr>, type: UInt16) -> LinkEventMonitor.Event? {
        guard let header = AttributeTable.header(ifaddrmsg.self, of: message) else { return nil }
        let attributes = AttributeTable(message: message, headerLength: MemoryLayout<ifaddrmsg>.size, maxType: __IFA_MAX - 1)
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on point-to-point links.
        let prefix = (attributes.address(IFA_LOCAL) ?? attributes.address(IFA_ADDRESS)).flatMap { address in
            Int(header.ifa_prefixlen) <= address.family.bitWidth ? IPPrefix(address: address, length: Int(header.ifa_prefixlen)) : nil
        }
        return LinkEventMonitor.Event(
            kind: type == UInt16(RTM_NEWADDR) ? .addressAdded : .addressRemoved,
            name: attributes.string(IFA_LABEL) ?? "", index: Int32(bitPattern: header.ifa_index), address: prefix
        )
    }
}
