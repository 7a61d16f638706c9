import Glibc
public import SDNNFTables
public import SDNNetns
internal import CNFTNL
internal import CNFTNLShim
internal import CNetlinkMessages

/// nf_tables change notifications from one network namespace (nfnetlink group NFNLGRP_NFTABLES): every
/// table, chain, rule, set and element added or deleted by anyone, and one ``RulesetChange/Kind/newGeneration``
/// per committed transaction, carrying the generation it made.
///
/// A controller notices edits to its tables from these (drift) and recognises its own commits by their
/// generation: ``NetlinkFirewall/apply(_:expectedGeneration:)`` reports the generation it committed, and
/// the commit's notifications end with a `newGeneration` event of that generation.
///
/// The socket is opened inside `namespace` when the monitor is made; notifications wait in it until the
/// first ``events()`` call starts reading on a thread of the monitor's own. When the kernel drops
/// notifications (receive buffer full), the streams get a ``RulesetChange/overrun`` event: observe again.
///
/// Keep the monitor while consuming: releasing it (or ``stop()``) ends every stream.
public final class RulesetChangeMonitor: Sendable {
    /// The namespace whose ruleset is watched.
    public let namespace: NetworkNamespace
    private let reader: SocketReaderThread<RulesetChange>

    /// Opens the subscription in `namespace`.
    ///
    /// - Throws: ``NFTNetlinkError`` if the namespace cannot be entered or the socket cannot be opened or
    ///   subscribed; `NetnsError` if the reader's stop pipe cannot be made.
    public init(namespace: NetworkNamespace) throws {
        self.namespace = namespace
        let socket = try NetlinkSocket(namespace: namespace)
        let joined = sdn_netlink_set_option(socket.descriptor, NETLINK_ADD_MEMBERSHIP, Int32(NFNLGRP_NFTABLES.rawValue))
        if joined < 0 {
            throw NFTNetlinkError(code: .transport, operation: "subscribe to NFNLGRP_NFTABLES in \(namespace)", message: errorText(-joined), errno: -joined)
        }
        // A first load announces every object it creates: tens of thousands of messages in one burst.
        _ = sdn_socket_force_buffer(socket.descriptor, true, 16 << 20)
        let subscription = Subscription(socket)
        reader = try SocketReaderThread(descriptor: socket.descriptor) { emit in subscription.readQueued(emit) }
    }

    /// The changes from the first call on (the first stream also gets those queued since the monitor was
    /// made). Each call makes a new stream; all of them end when the monitor stops or the socket fails.
    public func events() -> AsyncStream<RulesetChange> { reader.events() }

    /// Stops reading and ends every stream. Safe to call more than once.
    public func stop() { reader.stop() }
}

/// One nf_tables notification, or the news that some were lost.
public struct RulesetChange: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        case newTable, deleteTable, newChain, deleteChain, newRule, deleteRule, newSet, deleteSet
        case newSetElements, deleteSetElements
        /// A transaction was committed; the other notifications of the transaction came before it.
        case newGeneration
        /// Stateful objects, flowtables, and message types this module does not name.
        case other
        /// The kernel dropped notifications (ENOBUFS): observe again. Changes before it may be missing; every
        /// one after it is delivered (the kernel delivers again from then on).
        case overrun
    }

    public var kind: Kind
    /// The table's family; nil for `newGeneration`, `overrun` and families this module does not model.
    public var family: TableFamily?
    /// The table the object belongs to (or the table itself); nil for `newGeneration` and `overrun`.
    public var table: String?
    /// The chain (of a chain, or of a rule) or the set (of a set, or of its elements).
    public var object: String?
    /// The ruleset generation the commit made (NFTA_GEN_ID); `newGeneration` only.
    public var generation: UInt32?

    public init(kind: Kind, family: TableFamily? = nil, table: String? = nil, object: String? = nil, generation: UInt32? = nil) {
        self.kind = kind
        self.family = family
        self.table = table
        self.object = object
        self.generation = generation
    }

    public static let overrun = RulesetChange(kind: .overrun)

    public var description: String {
        var text = "\(kind)"
        if let family { text += " \(family)" }
        if let table { text += " \(table)" }
        if let object { text += " \(object)" }
        if let generation { text += " generation \(generation)" }
        return text
    }
}

/// The socket and the decoding, used only on the monitor's reader thread.
private final class Subscription: @unchecked Sendable {
    private let socket: NetlinkSocket

    init(_ socket: NetlinkSocket) { self.socket = socket }

    func readQueued(_ emit: (RulesetChange) -> Void) -> SocketReaderThread<RulesetChange>.Outcome {
        do {
            try socket.receive(timeout: 0) { message in
                if let change = Self.change(message.header) { emit(change) }
                return true
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
                try socket.receive(timeout: 0) { _ in true }
                emit(.overrun)
                return .continueReading
            } catch {
                guard error.errno == ENOBUFS else { return .finish }
            }
        }
    }

    static func change(_ header: UnsafePointer<nlmsghdr>) -> RulesetChange? {
        let type = header.pointee.nlmsg_type
        guard type >> 8 == UInt16(NFNL_SUBSYS_NFTABLES) else { return nil }
        let message = UInt32(type & 0xff)
        if message == NFT_MSG_NEWGEN.rawValue {
            var generation: UInt32 = 0
            return RulesetChange(kind: .newGeneration, generation: sdn_nft_parse_genid(header, &generation) == 0 ? generation : nil)
        }
        // Attribute numbers of the object's chain or set name, per message type.
        let (kind, objectAttribute): (RulesetChange.Kind, UInt16?) = switch message {
        case NFT_MSG_NEWTABLE.rawValue: (.newTable, nil)
        case NFT_MSG_DELTABLE.rawValue: (.deleteTable, nil)
        case NFT_MSG_NEWCHAIN.rawValue: (.newChain, UInt16(NFTA_CHAIN_NAME.rawValue))
        case NFT_MSG_DELCHAIN.rawValue: (.deleteChain, UInt16(NFTA_CHAIN_NAME.rawValue))
        case NFT_MSG_NEWRULE.rawValue: (.newRule, UInt16(NFTA_RULE_CHAIN.rawValue))
        case NFT_MSG_DELRULE.rawValue: (.deleteRule, UInt16(NFTA_RULE_CHAIN.rawValue))
        case NFT_MSG_NEWSET.rawValue: (.newSet, UInt16(NFTA_SET_NAME.rawValue))
        case NFT_MSG_DELSET.rawValue: (.deleteSet, UInt16(NFTA_SET_NAME.rawValue))
        case NFT_MSG_NEWSETELEM.rawValue: (.newSetElements, UInt16(NFTA_SET_ELEM_LIST_SET.rawValue))
        case NFT_MSG_DELSETELEM.rawValue: (.deleteSetElements, UInt16(NFTA_SET_ELEM_LIST_SET.rawValue))
        default: (.other, nil)
        }
        // Every object message names its table in attribute 1 (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, …).
        return RulesetChange(
            kind: kind, family: TableFamily(netfilterFamily: sdn_nft_message_family(header)),
            table: string(header, UInt16(NFTA_TABLE_NAME.rawValue)), object: objectAttribute.flatMap { string(header, $0) }
        )
    }

    private static func string(_ header: UnsafePointer<nlmsghdr>, _ attribute: UInt16) -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer in
            guard sdn_nft_string_attribute(header, attribute, buffer.baseAddress, buffer.count) == 0 else { return nil }
            return String(cString: buffer.baseAddress!)
        }
    }
}
