public import SDNModel

/// What the kernel holds of the node's network: every link (ours and not), and the addresses, routes,
/// FDB entries, bridge VLANs, forwarding switches and router-advertisement settings on them, and the
/// node-wide forwarding switches.
public struct ObservedNetwork: Hashable, Sendable, Codable {
    public var links: [ObservedLink]
    public var addresses: [AddressSpec]
    /// Main-table unicast routes `sdn` installed (protocol `RouteSpec.ownProtocol`); others are not its business.
    public var routes: [RouteSpec]
    /// Permanent/static FDB entries only (learned entries come and go and are not state).
    public var fdb: [FDBEntrySpec]
    public var bridgeVLANs: [BridgeVLANEntry]
    public var forwarding: [ForwardingSetting]
    /// `net.ipv4.conf.all.forwarding` and `net.ipv6.conf.all.forwarding`, where the kernel reports them.
    public var nodeForwarding: [NodeForwardingSetting]
    /// Every link's `net.ipv6.conf.<if>.accept_ra` (links without IPv6 have none).
    public var routerAdvertisements: [RouterAdvertisementSetting]
    /// `net.ipv6.conf.default.accept_ra`: what a link created now starts with; nil when not read
    /// (``ObservationScope/nodeWideIPv6``).
    public var defaultAcceptRA: Int?

    public init(links: [ObservedLink] = [], addresses: [AddressSpec] = [], routes: [RouteSpec] = [], fdb: [FDBEntrySpec] = [],
                bridgeVLANs: [BridgeVLANEntry] = [], forwarding: [ForwardingSetting] = [], nodeForwarding: [NodeForwardingSetting] = [],
                routerAdvertisements: [RouterAdvertisementSetting] = [], defaultAcceptRA: Int? = nil) {
        self.links = links
        self.addresses = addresses
        self.routes = routes
        self.fdb = fdb
        self.bridgeVLANs = bridgeVLANs
        self.forwarding = forwarding
        self.nodeForwarding = nodeForwarding
        self.routerAdvertisements = routerAdvertisements
        self.defaultAcceptRA = defaultAcceptRA
    }

    /// The node-wide forwarding switch of `family`, when the kernel reported it.
    public func nodeForwarding(_ family: IPAddress.Family) -> Bool? { nodeForwarding.first { $0.family == family }?.enabled }

    public func link(named name: String) -> ObservedLink? { links.first { $0.spec.name == name } }
}

public struct ObservedLink: Hashable, Sendable, Codable {
    public var spec: LinkSpec
    public var index: Int32
    /// Operational state says the link carries traffic (IFF_RUNNING / oper up).
    public var operationallyUp: Bool

    public init(spec: LinkSpec, index: Int32, operationallyUp: Bool) {
        self.spec = spec
        self.index = index
        self.operationallyUp = operationallyUp
    }
}

/// One kernel write. The planner orders them; the dataplane performs each as is (it decides nothing).
public enum LinkOperation: Hashable, Sendable, Codable {
    /// Creates the link down, with its alias (ownership mark), MTU, MAC and kind settings; `spec.master`
    /// and `spec.up` are applied by later `setMaster` / `setUp` steps.
    case createLink(LinkSpec)
    case deleteLink(name: String)
    case setMTU(name: String, mtu: Int)
    case setMACAddress(name: String, mac: MACAddress)
    case setAlias(name: String, alias: String?)
    /// Changes kind settings that the kernel changes on a live link (bridge stp/vlan filtering/default
    /// pvid, bond miimon/min links/primary, …). Settings that need the link down are sent between a
    /// `setUp(false)` and a `setUp(true)` by the planner.
    case changeKind(name: String, kind: LinkKind)
    case setMaster(name: String, master: String?)
    case setUp(name: String, up: Bool)
    case setBridgePort(name: String, settings: BridgePortSettings)
    case addAddress(AddressSpec)
    case deleteAddress(AddressSpec)
    case addRoute(RouteSpec)
    case deleteRoute(RouteSpec)
    case addFDB(FDBEntrySpec)
    case deleteFDB(FDBEntrySpec)
    case addBridgeVLAN(BridgeVLANEntry)
    case deleteBridgeVLAN(BridgeVLANEntry)
    case setForwarding(ForwardingSetting)
    /// `net.ipv4.conf.all.forwarding` / `net.ipv6.conf.all.forwarding`: every interface's switch at once.
    case setNodeForwarding(NodeForwardingSetting)
    /// `net.ipv6.conf.<if>.accept_ra`.
    case setRouterAdvertisements(RouterAdvertisementSetting)

    /// The link the operation writes to.
    public var linkName: String {
        switch self {
        case .createLink(let spec): spec.name
        case .deleteLink(let name), .setMTU(let name, _), .setMACAddress(let name, _), .setAlias(let name, _),
             .changeKind(let name, _), .setMaster(let name, _), .setUp(let name, _), .setBridgePort(let name, _):
            name
        case .addAddress(let address), .deleteAddress(let address): address.interface
        case .addRoute(let route), .deleteRoute(let route): route.interface ?? "-"
        case .addFDB(let entry), .deleteFDB(let entry): entry.interface
        case .addBridgeVLAN(let entry), .deleteBridgeVLAN(let entry): entry.interface
        case .setForwarding(let setting): setting.interface
        case .setNodeForwarding: "all"
        case .setRouterAdvertisements(let setting): setting.interface
        }
    }
}

/// Why a link operation failed.
public struct LinkOperationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var operation: LinkOperation
    /// errno the kernel (or libnl) reported, when there is one.
    public var errno: Int32?
    /// libnl's / the kernel's own words (including the extended ack text when the kernel sent one).
    public var message: String

    public init(operation: LinkOperation, errno: Int32? = nil, message: String) {
        self.operation = operation
        self.errno = errno
        self.message = message
    }

    public var description: String { "\(message) (while: \(operation.summary))" }
}

/// What `observe` reads. A node without VLAN-aware bridges in its topology has no bridge VLANs to
/// manage, and skipping that dump is a tenth of a no-op reconcile at a thousand vnets.
public struct ObservationScope: Hashable, Sendable {
    public var bridgeVLANs: Bool
    /// IPv6 settings that no link dump carries (`net.ipv6.conf.default.accept_ra`): read only for a
    /// node that routes IPv6, where they decide what a new uplink needs.
    public var nodeWideIPv6: Bool

    public init(bridgeVLANs: Bool = true, nodeWideIPv6: Bool = true) {
        self.bridgeVLANs = bridgeVLANs
        self.nodeWideIPv6 = nodeWideIPv6
    }

    public static let everything = ObservationScope()
}

extension LinkDataplane {
    public func observe() async throws -> ObservedNetwork { try await observe(.everything) }

    public func perform(_ operations: [LinkOperation]) async -> (completed: Int, failure: LinkOperationError?) {
        for (index, operation) in operations.enumerated() {
            do { try await perform(operation) } catch { return (index, error) }
        }
        return (operations.count, nil)
    }
}

public enum LinkEvent: Hashable, Sendable {
    case added(name: String, index: Int32)
    case changed(name: String, index: Int32)
    case removed(name: String, index: Int32)
}

/// The link side effect: observe the node's network and perform single writes. One real implementation
/// (rtnetlink over libnl-3, `SDNRouteNetlink`) and one in-memory fake for reconciler tests (`SDNTesting`).
public protocol LinkDataplane: Sendable {
    /// Reads the node's network; `scope` leaves out parts the caller does not manage.
    func observe(_ scope: ObservationScope) async throws -> ObservedNetwork
    /// Performs one kernel write (one netlink request, or a few for operations the kernel splits).
    func perform(_ operation: LinkOperation) async throws(LinkOperationError)
    /// Performs `operations` in order, stopping at the first that fails; returns how many succeeded and
    /// the failure. (One call for a run of writes: a dataplane that serializes calls pays its hop once.)
    func perform(_ operations: [LinkOperation]) async -> (completed: Int, failure: LinkOperationError?)
    /// Netlink requests that changed something, since this dataplane was made (for "zero writes" checks).
    var writeCount: Int { get }
    /// Link add/change/remove notifications until the stream is cancelled.
    func linkEvents() -> AsyncThrowingStream<LinkEvent, any Error>
    /// The kernel's packet counters of every link, by name (`sdn guests`). Kept out of `observe`, whose
    /// readings are compared: counters change with every packet.
    func counters() async throws -> [String: LinkCounters]
}

extension LinkDataplane {
    public func counters() async throws -> [String: LinkCounters] { [:] }
}

/// A link's packet counters (the kernel's rtnl_link_stats64), as the host sees the port: `received` is
/// what the guest sent.
public struct LinkCounters: Hashable, Sendable, Codable {
    public var receivedPackets: UInt64
    public var sentPackets: UInt64
    public var receivedBytes: UInt64
    public var sentBytes: UInt64
    public var receiveDropped: UInt64
    public var sendDropped: UInt64

    public init(receivedPackets: UInt64, sentPackets: UInt64, receivedBytes: UInt64, sentBytes: UInt64, receiveDropped: UInt64, sendDropped: UInt64) {
        self.receivedPackets = receivedPackets
        self.sentPackets = sentPackets
        self.receivedBytes = receivedBytes
        self.sentBytes = sentBytes
        self.receiveDropped = receiveDropped
        self.sendDropped = sendDropped
    }
}
