import SDNDataplane
import SDNNFTables
internal import CNFTNL
internal import CNFTNLShim

/// One nf_tables transaction ready to send: NFNL_MSG_BATCH_BEGIN (with the generation guard), the
/// messages of each change in order, NFNL_MSG_BATCH_END. Every message has its own sequence number, so
/// an error names the message and through it the change. Only the last message asks for an
/// acknowledgement (as `nft` asks for none): the kernel reports every failing message anyway and keeps
/// processing the batch after an error, so that acknowledgement marks the end of the answers, and a
/// first load of 860,000 messages does not make the kernel build and queue 860,000 of them.
///
/// Sendable by hand: its buffer is written once by the encoder and only read afterwards (a chunked
/// apply hands it from the encoding thread to the sending one).
struct EncodedBatch: @unchecked Sendable {
    let buffer: BatchBuffer
    let beginSequence: UInt32
    let firstMessageSequence: UInt32
    let messageCount: Int
    /// For each change, the index of its first message (changes without messages repeat the next index).
    let changeFirstMessage: [Int]
    /// Where each message starts in `buffer`.
    let messageOffsets: [Int]

    var lastMessageSequence: UInt32 { firstMessageSequence &+ UInt32(max(messageCount, 1) - 1) }
    var sequenceCount: Int { messageCount + 2 }

    /// For a rule message and a byte offset the kernel pointed at: which expression it lies in.
    func expression(atOffset offset: UInt32, ofMessageWithSequence sequence: UInt32) -> (index: Int, name: String)? {
        let message = Int(sequence &- firstMessageSequence)
        guard message >= 0, message < messageCount else { return nil }
        let header = (buffer.base + messageOffsets[message]).assumingMemoryBound(to: nlmsghdr.self)
        guard header.pointee.nlmsg_type == Nftnl.messageType(NFT_MSG_NEWRULE) else { return nil }
        var name = [CChar](repeating: 0, count: 32)
        let index = sdn_nft_rule_expression_at(header, offset, &name, name.count)
        guard index >= 0 else { return nil }
        return (Int(index), name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }

    /// The change whose messages include `sequence`.
    func changeIndex(forSequence sequence: UInt32) -> Int? {
        let offset = Int(sequence &- firstMessageSequence)
        guard offset >= 0, offset < messageCount else { return nil }
        var low = 0, high = changeFirstMessage.count - 1, found: Int?
        while low <= high {
            let middle = (low + high) / 2
            if changeFirstMessage[middle] <= offset { found = middle; low = middle + 1 } else { high = middle - 1 }
        }
        // Several changes may start at the same message when some produce none: the last of them owns it.
        return found
    }
}

/// Encodes ``FirewallChange`` steps as libnftnl objects into one netlink batch.
struct BatchEncoder {
    /// The definition of a set that exists in the kernel, needed to encode element changes of a set not
    /// created in the same batch.
    var existingSet: (TableFamily, String, String) throws(NFTNetlinkError) -> NamedSet

    /// Room reserved before each message: libnftnl writes without bounds checks.
    static let messageReserve = 1 << 17
    /// Element lists are split so each message's element nest stays well under netlink's 64 KiB
    /// attribute length limit.
    static let elementChunkBytes = 48 * 1024

    private struct LoweringKey: Hashable {
        var family: TableFamily
        var statements: [Statement]
    }

    private struct SetKey: Hashable {
        var family: TableFamily
        var table: String
        var name: String
    }

    func encode(_ changes: [FirewallChange], firstSequence: UInt32, expectedGeneration: UInt32?) throws(FirewallApplyError) -> EncodedBatch {
        let buffer = BatchBuffer(capacity: max(1 << 16, changes.count * 512))
        var sequence = firstSequence
        func nextSequence() -> UInt32 {
            defer { sequence &+= 1 }
            return sequence
        }
        let beginSequence = nextSequence()
        buffer.reserve(64)
        buffer.commit(messageLength: sdn_nft_batch_begin(buffer.tail, beginSequence, expectedGeneration != nil, expectedGeneration ?? 0))
        let firstMessageSequence = sequence

        var messageCount = 0
        var messageOffsets: [Int] = []
        var changeFirstMessage: [Int] = []
        var nextSetID: UInt32 = 1
        var createdSets: [SetKey: (id: UInt32, set: NamedSet)] = [:]
        // Lowering depends only on the family and the statements, and a first load repeats the same
        // statements (every guest chain's conntrack, NDP, DHCP … rules) hundreds of thousands of times.
        var lowered: [LoweringKey: KernelRule] = [:]

        func message(_ type: nf_tables_msg_types, family: TableFamily, flags: Int32, build: (UnsafeMutablePointer<nlmsghdr>) throws(NFTNetlinkError) -> Void) throws(NFTNetlinkError) {
            buffer.reserve(Self.messageReserve)
            let header = nftnl_nlmsg_build_hdr(buffer.tail.assumingMemoryBound(to: CChar.self), Nftnl.messageType(type), UInt16(family.netfilterFamily),
                                               UInt16(flags), nextSequence())!
            try build(header)
            messageOffsets.append(buffer.length)
            buffer.commit(messageLength: Int(header.pointee.nlmsg_len))
            messageCount += 1
        }

        func elementMessages(_ type: nf_tables_msg_types, family: TableFamily, table: String, set name: String, id: UInt32?, elements: [KernelElement], flags: Int32) throws(NFTNetlinkError) {
            var start = 0
            while start < elements.count {
                var end = start
                var size = 0
                while end < elements.count && (end == start || size + Self.estimatedSize(elements[end]) <= Self.elementChunkBytes) {
                    size += Self.estimatedSize(elements[end])
                    end += 1
                }
                let set = try NftnlSet(family: family.netfilterFamily, table: table, name: name, id: id)
                try set.add(elements[start..<end])
                try message(type, family: family, flags: flags) { header in
                    nftnl_set_elems_nlmsg_build_payload(header, set.pointer)
                }
                start = end
            }
        }

        func addSet(_ kernelSet: KernelSet, family: TableFamily, table: String) throws(NFTNetlinkError) -> UInt32 {
            let id = nextSetID
            nextSetID += 1
            let set = try NftnlSet(family: family.netfilterFamily, table: table, set: kernelSet, id: id)
            try message(NFT_MSG_NEWSET, family: family, flags: NLM_F_CREATE) { header in
                nftnl_set_nlmsg_build_payload(header, set.pointer)
            }
            try elementMessages(NFT_MSG_NEWSETELEM, family: family, table: table, set: kernelSet.name, id: id, elements: kernelSet.elements, flags: NLM_F_CREATE)
            return id
        }

        func namedSet(_ family: TableFamily, _ table: String, _ name: String) throws(NFTNetlinkError) -> NamedSet {
            if let created = createdSets[SetKey(family: family, table: table, name: name)] { return created.set }
            return try existingSet(family, table, name)
        }

        for (index, change) in changes.enumerated() {
            changeFirstMessage.append(messageCount)
            do throws(NFTNetlinkError) {
                switch change {
                case .addTable(let family, let name):
                    let table = try NftnlTable(family: family.netfilterFamily, name: name)
                    nftnl_table_set_u32(table.pointer, Nftnl.attribute(NFTNL_TABLE_FLAGS), 0)
                    try message(NFT_MSG_NEWTABLE, family: family, flags: NLM_F_CREATE) { nftnl_table_nlmsg_build_payload($0, table.pointer) }
                case .deleteTable(let family, let name):
                    let table = try NftnlTable(family: family.netfilterFamily, name: name)
                    try message(NFT_MSG_DELTABLE, family: family, flags: 0) { nftnl_table_nlmsg_build_payload($0, table.pointer) }
                case .addChain(let family, let table, let chain):
                    var base: (hook: UInt32, priority: Int32, type: String, policy: UInt32)?
                    if let hook = chain.base {
                        guard let priority = Int32(exactly: hook.priority) else { throw .unsupported("chain priority \(hook.priority)") }
                        base = (try family.hookNumber(hook.hook), priority, hook.type.rawValue, hook.policy == .accept ? 1 : 0)
                    }
                    let object = try NftnlChain(family: family.netfilterFamily, table: table, name: chain.name, base: base)
                    try message(NFT_MSG_NEWCHAIN, family: family, flags: NLM_F_CREATE) { nftnl_chain_nlmsg_build_payload($0, object.pointer) }
                case .deleteChain(let family, let table, let chain):
                    let object = try NftnlChain(family: family.netfilterFamily, table: table, name: chain)
                    try message(NFT_MSG_DELCHAIN, family: family, flags: 0) { nftnl_chain_nlmsg_build_payload($0, object.pointer) }
                case .flushChain(let family, let table, let chain):
                    let rule = try NftnlRule(family: family.netfilterFamily, table: table, chain: chain)
                    try message(NFT_MSG_DELRULE, family: family, flags: 0) { nftnl_rule_nlmsg_build_payload($0, rule.pointer) }
                case .addRule(let family, let table, let chain, let rule):
                    let key = LoweringKey(family: family, statements: rule.statements)
                    var kernelRule: KernelRule
                    if let cached = lowered[key] {
                        kernelRule = cached
                        kernelRule.userdata = try RuleEncoder.userdata(of: rule)
                    } else {
                        kernelRule = try RuleEncoder(family: family).encode(rule)
                        lowered[key] = kernelRule
                    }
                    var anonymousIDs: [UInt32] = []
                    for set in kernelRule.anonymousSets {
                        anonymousIDs.append(try addSet(set, family: family, table: table))
                    }
                    let object = try NftnlRule(family: family.netfilterFamily, table: table, chain: chain, rule: kernelRule) { reference in
                        switch reference {
                        case .anonymous(let index): return .init(name: "__set%d", id: anonymousIDs[index])
                        case .named(let name): return .init(name: name, id: createdSets[SetKey(family: family, table: table, name: name)]?.id)
                        }
                    }
                    try message(NFT_MSG_NEWRULE, family: family, flags: NLM_F_CREATE | NLM_F_APPEND) { nftnl_rule_nlmsg_build_payload($0, object.pointer) }
                case .addSet(let family, let table, let set):
                    let id = try addSet(try SetEncoding.namedSet(set), family: family, table: table)
                    createdSets[SetKey(family: family, table: table, name: set.name)] = (id, set)
                case .deleteSet(let family, let table, let name):
                    let set = try NftnlSet(family: family.netfilterFamily, table: table, name: name)
                    try message(NFT_MSG_DELSET, family: family, flags: 0) { nftnl_set_nlmsg_build_payload($0, set.pointer) }
                    createdSets[SetKey(family: family, table: table, name: name)] = nil
                case .addElements(let family, let table, let name, let elements):
                    let definition = try namedSet(family, table, name)
                    let encoded = try SetEncoding.elements(elements, of: definition, creating: false, deleting: false)
                    let id = createdSets[SetKey(family: family, table: table, name: name)]?.id
                    try elementMessages(NFT_MSG_NEWSETELEM, family: family, table: table, set: name, id: id, elements: encoded, flags: NLM_F_CREATE)
                case .deleteElements(let family, let table, let name, let elements):
                    let definition = try namedSet(family, table, name)
                    let encoded = try SetEncoding.elements(elements, of: definition, creating: false, deleting: true)
                    let id = createdSets[SetKey(family: family, table: table, name: name)]?.id
                    try elementMessages(NFT_MSG_DELSETELEM, family: family, table: table, set: name, id: id, elements: encoded, flags: 0)
                }
            } catch {
                throw FirewallApplyError(
                    code: error.code == .unsupported ? .rejected : .transport,
                    message: error.code == .unsupported ? "cannot encode \(change.objectDescription): \(error.message)" : "\(error)",
                    failedChangeIndex: index, failedChange: change, errno: error.errno
                )
            }
        }

        if let last = messageOffsets.last {
            let header = (buffer.base + last).assumingMemoryBound(to: nlmsghdr.self)
            header.pointee.nlmsg_flags |= UInt16(NLM_F_ACK)
        }
        buffer.reserve(64)
        buffer.commit(messageLength: sdn_nft_batch_end(buffer.tail, nextSequence()))
        return EncodedBatch(buffer: buffer, beginSequence: beginSequence, firstMessageSequence: firstMessageSequence,
                            messageCount: messageCount, changeFirstMessage: changeFirstMessage, messageOffsets: messageOffsets)
    }

    /// An upper bound of an element's size in a NEWSETELEM message.
    static func estimatedSize(_ element: KernelElement) -> Int {
        func attribute(_ length: Int) -> Int { 4 + (length + 3) / 4 * 4 }
        var size = 4 + attribute(attribute(element.key.count))
        if let end = element.keyEnd { size += attribute(attribute(end.count)) }
        if element.flags != 0 { size += attribute(4) }
        if let verdict = element.verdict { size += 12 + attribute(4) + attribute((verdict.chain?.utf8.count ?? 0) + 1) }
        if let data = element.data { size += attribute(attribute(data.count)) }
        if let userdata = element.userdata { size += attribute(userdata.count) }
        return size
    }
}
