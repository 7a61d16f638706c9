import Dispatch
import Glibc
public import SDNDataplane
import SDNModel
public import SDNNFTables
public import SDNNetns
import Synchronization
internal import CNFTNL

/// The firewall dataplane over libnftnl and libmnl: reads our tables through netlink dumps and applies
/// change lists as single nf_tables transactions, in one network namespace.
///
/// The netfilter socket is opened inside the namespace given at creation (through ``NetworkNamespace``),
/// so the caller's own namespace is never touched. Calls are serialised on one socket and run on a
/// private dispatch queue, so a long apply does not block Swift concurrency's cooperative threads.
///
/// Applies are exact: every IR statement is encoded as the expressions `nft -f` generates for the same
/// text (implicit protocol dependencies, merged payload loads, prefixes, sets), so `nft list ruleset` of
/// our load equals that of `nft -f` loading ``NFTTextRenderer``'s output. A form the encoder cannot
/// express fails the apply before anything is sent, naming the change.
public final class NetlinkFirewall: FirewallDataplane {
    private let connection: Mutex<NetlinkSocket>
    private let queue: DispatchQueue
    /// The namespace this firewall acts in.
    public let namespace: NetworkNamespace

    /// Opens a netfilter netlink socket inside `namespace`.
    ///
    /// - Throws: ``NFTNetlinkError`` if the namespace cannot be entered or the socket cannot be opened.
    public init(namespace: NetworkNamespace) throws {
        self.namespace = namespace
        connection = Mutex(try NetlinkSocket(namespace: namespace))
        queue = DispatchQueue(label: "sdn.nftables.netlink.\(namespace)")
    }

    // MARK: - FirewallDataplane

    /// Reads the listed tables (those that exist) into the IR, with the generation they were read at.
    ///
    /// Chains and sets come in the kernel's order (creation order), rules in chain order, set elements
    /// sorted; rule ids come from the rules' comments. The read is repeated when the generation changes
    /// during it, so the result is one consistent snapshot. Expressions this module does not produce are
    /// decoded into an `unrecognised` match that can never equal a compiled rule.
    public func observe(tables: [(TableFamily, String)]) async throws -> ObservedFirewall {
        let requested = tables.map { TableName(family: $0.0, name: $0.1) }
        return try await perform { socket throws(NFTNetlinkError) in try Self.observe(requested, socket: socket) }.get()
    }

    /// Applies `changes` as one netlink batch transaction (see ``FirewallDataplane``).
    ///
    /// Every message asks for an acknowledgement and has its own sequence number; a kernel error is
    /// reported as `.rejected` naming the change (and the rule's origin) it belongs to. With
    /// `expectedGeneration`, the batch carries `NFNL_BATCH_GENID` and a concurrent commit makes the kernel
    /// refuse it whole (`.generationChanged`).
    public func apply(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport {
        try await perform { socket throws(FirewallApplyError) in
            try Self.apply(changes, expectedGeneration: expectedGeneration, socket: socket)
        }.get()
    }

    /// The current ruleset generation id.
    public func generation() async throws -> UInt32 {
        try await perform { socket throws(NFTNetlinkError) in try socket.generation() }.get()
    }

    /// Each rule encoded and decoded again, without a kernel: what ``observe(tables:)`` returns after
    /// `ruleset` has been applied. Production code uses SDNNFTables' pure `Ruleset.canonical()`; this
    /// is the reference the tests hold it to (`decode(encode(x)) == x.canonical()`).
    ///
    /// - Throws: ``NFTNetlinkError`` (`.unsupported`) for a form the encoder cannot express.
    static func canonicalForm(of ruleset: Ruleset) throws -> Ruleset {
        var result = Ruleset()
        for table in ruleset.tables {
            var canonical = Table(family: table.family, name: table.name)
            for set in table.sets {
                let kernel = try SetEncoding.namedSet(set)
                canonical.sets.append(RulesetReader.namedSet(kernel) ?? set)
            }
            let encoder = RuleEncoder(family: table.family)
            for chain in table.chains {
                var rules: [Rule] = []
                for rule in chain.rules {
                    let kernel = try encoder.encode(rule)
                    var anonymous: [String: KernelSet] = [:]
                    var expressions = kernel.expressions
                    for (index, expression) in expressions.enumerated() {
                        // The kernel reports a log level even when none was set: its default, warn (4).
                        if case .log(let prefix, nil) = expression { expressions[index] = .log(prefix: prefix, level: 4) }
                        if case .lookup(let source, let destination, .anonymous(let position), let inverted) = expression {
                            let name = "__set\(position)"
                            anonymous[name] = kernel.anonymousSets[position]
                            expressions[index] = .lookup(source: source, destination: destination, set: .named(name), inverted: inverted)
                        }
                    }
                    let decoder = RuleDecoder(family: table.family, anonymousSets: anonymous)
                    rules.append(Rule(id: rule.id, statements: decoder.decode(expressions), origin: rule.origin))
                }
                canonical.chains.append(Chain(name: chain.name, base: chain.base, rules: rules))
            }
            result.tables.append(canonical)
        }
        return result
    }

    // MARK: - Serialisation

    func perform<Value: Sendable, Failure: Error>(
        _ body: @escaping @Sendable (NetlinkSocket) throws(Failure) -> Value
    ) async -> Result<Value, Failure> {
        await withCheckedContinuation { continuation in
            queue.async {
                let result = self.connection.withLock { socket in Result { () throws(Failure) -> Value in try body(socket) } }
                continuation.resume(returning: result)
            }
        }
    }

    struct TableName: Hashable, Sendable {
        var family: TableFamily
        var name: String
    }

    // MARK: - Observe

    static func observe(_ tables: [TableName], socket: NetlinkSocket) throws(NFTNetlinkError) -> ObservedFirewall {
        let reader = RulesetReader(socket: socket)
        for _ in 0..<8 {
            let before = try socket.generation()
            var result: [Table] = []
            var interrupted = false
            for table in tables {
                do throws(NFTNetlinkError) {
                    if let dumped = try reader.dump(table.family, table.name) { result.append(RulesetReader.decode(dumped)) }
                } catch {
                    guard error.errno == EINTR else { throw error }
                    interrupted = true
                    break
                }
            }
            if !interrupted, try socket.generation() == before {
                return ObservedFirewall(ruleset: Ruleset(tables: result), generation: before)
            }
        }
        throw NFTNetlinkError(code: .transport, operation: "observe", message: "the ruleset kept changing while it was being read")
    }

    // MARK: - Apply

    static func apply(_ changes: [FirewallChange], expectedGeneration: UInt32?, socket: NetlinkSocket) throws(FirewallApplyError) -> FirewallApplyReport {
        let definitions = try existingSetDefinitions(for: changes, socket: socket)
        // A batch never needs more sequence numbers than changes times messages per change; leave room for
        // huge set element lists too.
        let first = socket.firstFreeSequence(room: 1 << 26)
        let batch = try encode(changes, firstSequence: first, expectedGeneration: expectedGeneration, definitions: definitions)
        socket.advanceSequences(by: batch.sequenceCount)
        return try commit(batch, changes: changes, expectedGeneration: expectedGeneration, socket: socket)
    }

    /// Encodes one transaction; `definitions` holds the existing sets whose elements change.
    static func encode(_ changes: [FirewallChange], firstSequence: UInt32, expectedGeneration: UInt32?,
                       definitions: [TableName: [String: NamedSet]]) throws(FirewallApplyError) -> EncodedBatch {
        let encoder = BatchEncoder { family, table, name throws(NFTNetlinkError) in
            guard let set = definitions[TableName(family: family, name: table), default: [:]][name] else {
                throw NFTNetlinkError(code: .kernel, operation: "get set \(family.rawValue) \(table) \(name)", message: "no such set", errno: ENOENT)
            }
            return set
        }
        return try encoder.encode(changes, firstSequence: firstSequence, expectedGeneration: expectedGeneration)
    }

    /// The generation a transaction guarded by `expected` commits (nil when unguarded: read it).
    static func generation(after batch: EncodedBatch, expected: UInt32?) -> UInt32? {
        guard let expected else { return nil }
        // The kernel held the commit lock from the generation check to the commit: our commit is the
        // next generation (which skips zero); an empty transaction commits nothing.
        return batch.messageCount == 0 ? expected : (expected &+ 1 == 0 ? 1 : expected &+ 1)
    }

    /// Sends an encoded transaction and reports what it committed.
    static func commit(_ batch: EncodedBatch, changes: [FirewallChange], expectedGeneration: UInt32?, socket: NetlinkSocket) throws(FirewallApplyError) -> FirewallApplyReport {
        try send(batch, changes: changes, expectedGeneration: expectedGeneration, socket: socket)
        let generation: UInt32
        if let predicted = Self.generation(after: batch, expected: expectedGeneration) {
            generation = predicted
        } else {
            do throws(NFTNetlinkError) {
                generation = try socket.generation()
            } catch {
                throw FirewallApplyError(code: .transport, message: "applied, but reading the generation failed: \(error)", errno: error.errno)
            }
        }
        return FirewallApplyReport(messageCount: batch.messageCount, generation: generation)
    }

    /// Definitions of the sets whose elements change without the set being created in the same list.
    static func existingSetDefinitions(for changes: [FirewallChange], socket: NetlinkSocket) throws(FirewallApplyError) -> [TableName: [String: NamedSet]] {
        var created = Set<[String]>()
        var result: [TableName: [String: NamedSet]] = [:]
        let reader = RulesetReader(socket: socket)
        for (index, change) in changes.enumerated() {
            switch change {
            case .addSet(let family, let table, let set):
                created.insert([family.rawValue, table, set.name])
            case .addElements(let family, let table, let name, _), .deleteElements(let family, let table, let name, _):
                let key = TableName(family: family, name: table)
                guard !created.contains([family.rawValue, table, name]), result[key]?[name] == nil else { continue }
                do throws(NFTNetlinkError) {
                    result[key, default: [:]][name] = try reader.setDefinition(family, table, name)
                } catch {
                    throw FirewallApplyError(code: error.code == .kernel ? .rejected : .transport,
                                             message: "cannot read \(change.objectDescription) to encode its elements: \(error.message)",
                                             failedChangeIndex: index, failedChange: change, errno: error.errno)
                }
            default:
                continue
            }
        }
        return result
    }

    private struct KernelFailure {
        var sequence: UInt32
        var errno: Int32
        var text: String
        var offset: UInt32?
    }

    /// Sends the batch and reads every answer. nf_tables processes a batch inside our `sendmsg` and
    /// queues all answers before it returns: an error for each failing message (any error means the
    /// whole batch failed), an error on the batch header for a refused or failed commit, and the
    /// acknowledgement of the last message, which only it asks for.
    private static func send(_ batch: EncodedBatch, changes: [FirewallChange], expectedGeneration: UInt32?, socket: NetlinkSocket) throws(FirewallApplyError) {
        var acknowledged = 0
        var failures: [KernelFailure] = []
        var refusal: KernelFailure?
        var complete = batch.messageCount == 0
        func handle(_ message: NetlinkSocket.Message) -> Bool {
            guard Int32(message.type) == NLMSG_ERROR else { return true }
            let failure = KernelFailure(sequence: message.errorSequence, errno: -message.error, text: message.errorText, offset: message.errorOffset)
            if message.errorSequence == batch.beginSequence {
                if message.error != 0 { refusal = failure; complete = true }
                return true
            }
            guard batch.changeIndex(forSequence: message.errorSequence) != nil else { return true }
            if message.error == 0 { acknowledged += 1 } else { failures.append(failure) }
            if message.errorSequence == batch.lastMessageSequence { complete = true }
            return true
        }
        do throws(NFTNetlinkError) {
            socket.prepareForAcknowledgements(batch.messageCount)
            try socket.send(batch.buffer.bytes)
            try socket.receive(timeout: 0) { message in handle(message) }
            while !complete {
                try socket.receive(timeout: 30_000) { message in handle(message) && !complete }
            }
            try socket.receive(timeout: 0) { message in handle(message) }
        } catch {
            if error.errno == ENOBUFS {
                throw FirewallApplyError(code: .transport, message: "acknowledgements were lost (receive buffer overrun): whether the batch was committed is unknown; observe again", errno: ENOBUFS)
            }
            throw FirewallApplyError(code: .transport, message: "\(error)", errno: error.errno)
        }

        if let refusal {
            if refusal.errno == ERESTART {
                throw FirewallApplyError(code: .generationChanged, message: "the ruleset changed since generation \(expectedGeneration.map(String.init) ?? "?"): nothing was applied; observe and plan again", errno: refusal.errno)
            }
            throw FirewallApplyError(code: .rejected, message: "the kernel refused the transaction: \(errorText(refusal.errno))" + (refusal.text.isEmpty ? "" : " (\(refusal.text))"), errno: refusal.errno)
        }
        if let failure = failures.min(by: { ($0.sequence &- batch.firstMessageSequence) < ($1.sequence &- batch.firstMessageSequence) }) {
            let index = batch.changeIndex(forSequence: failure.sequence)
            let change = index.map { changes[$0] }
            var message = "the kernel rejected it: \(errorText(failure.errno))"
            if !failure.text.isEmpty { message += " (\(failure.text))" }
            if let offset = failure.offset {
                if let expression = batch.expression(atOffset: offset, ofMessageWithSequence: failure.sequence) {
                    message += ", in expression \(expression.index + 1) (\(expression.name))"
                } else {
                    message += ", at byte \(offset) of its message"
                }
            }
            if case .addRule(_, _, _, let rule)? = change { message += "; the rule is: \(NFTTextRenderer.render(rule))" }
            message += "; the whole batch was aborted, nothing was applied"
            throw FirewallApplyError(code: .rejected, message: message, failedChangeIndex: index, failedChange: change, errno: failure.errno)
        }
        guard acknowledged == min(batch.messageCount, 1) else {
            throw FirewallApplyError(code: .transport, message: "the last of \(batch.messageCount) messages was not acknowledged; observe again")
        }
    }
}
