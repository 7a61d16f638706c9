import Glibc
import SDNModel
import SDNNFTables
internal import CNFTNL

/// Dumps our tables through netlink and decodes them into the IR.
struct RulesetReader {
    let socket: NetlinkSocket

    /// One table as the kernel holds it, before decoding.
    struct DumpedTable {
        var family: TableFamily
        var name: String
        var chains: [NftnlChain] = []
        var sets: [KernelSet] = []
        var rules: [NftnlRule] = []
    }

    /// The table, or nil if it does not exist.
    func dump(_ family: TableFamily, _ name: String) throws(NFTNetlinkError) -> DumpedTable? {
        guard try tableExists(family, name) else { return nil }
        var table = DumpedTable(family: family, name: name)
        table.chains = try chains(family, name)
        for set in try sets(family, name) {
            let setName = set.name
            try dumpObjects(NFT_MSG_GETSETELEM, family: family, "list elements of set \(family.rawValue) \(name) \(setName)", payload: { (header) throws(NFTNetlinkError) in
                let request = try NftnlSet(family: family.netfilterFamily, table: name, name: setName)
                nftnl_set_elems_nlmsg_build_payload(header, request.pointer)
            }) { header throws(NFTNetlinkError) in
                guard nftnl_set_elems_nlmsg_parse(header, set.pointer) >= 0 else { throw .malformed("list set elements", "unparsable elements of \(setName)") }
            }
            table.sets.append(set.value)
        }

        // Rules are dumped chain by chain: a whole-table dump makes the kernel walk the table's rules from
        // the start for every message it fills (quadratic; 100,000 rules took seconds), a per-chain dump
        // only that chain's.
        for chain in table.chains {
            let chainName = chain.name
            try dumpObjects(NFT_MSG_GETRULE, family: family, "list rules of chain \(family.rawValue) \(name) \(chainName)", payload: { (header) throws(NFTNetlinkError) in
                let rule = try NftnlRule(family: family.netfilterFamily, table: name, chain: chainName)
                nftnl_rule_nlmsg_build_payload(header, rule.pointer)
            }) { header throws(NFTNetlinkError) in
                let rule = try NftnlRule()
                guard nftnl_rule_nlmsg_parse(header, rule.pointer) >= 0 else { throw .malformed("list rules", "unparsable rule") }
                table.rules.append(rule)
            }
        }
        return table
    }

    /// What exists of a table, by name only.
    struct Names {
        var tableExists = false
        var chains = Set<String>()
        var sets = Set<String>()
    }

    /// The names of a table's chains and sets (a cheap dump: no rules, no elements).
    func names(_ family: TableFamily, _ name: String) throws(NFTNetlinkError) -> Names {
        var result = Names()
        guard try tableExists(family, name) else { return result }
        result.tableExists = true
        result.chains = Set(try chains(family, name).map(\.name))
        result.sets = Set(try sets(family, name).map(\.name))
        return result
    }

    private func tableExists(_ family: TableFamily, _ name: String) throws(NFTNetlinkError) -> Bool {
        do throws(NFTNetlinkError) {
            try socket.request("list table \(family.rawValue) \(name)", build: { (buffer, sequence) throws(NFTNetlinkError) -> Int in
                let table = try NftnlTable(family: family.netfilterFamily, name: name)
                let header = nftnl_nlmsg_build_hdr(buffer.assumingMemoryBound(to: CChar.self), Nftnl.messageType(NFT_MSG_GETTABLE),
                                                   UInt16(family.netfilterFamily), UInt16(NLM_F_ACK), sequence)!
                nftnl_table_nlmsg_build_payload(header, table.pointer)
                return Int(header.pointee.nlmsg_len)
            }, handle: { _ in })
        } catch {
            if error.errno == ENOENT { return false }
            throw error
        }
        return true
    }

    /// The table's chains, without their rules.
    private func chains(_ family: TableFamily, _ name: String) throws(NFTNetlinkError) -> [NftnlChain] {
        var chains: [NftnlChain] = []
        try dumpObjects(NFT_MSG_GETCHAIN, family: family, "list chains of \(family.rawValue) \(name)", payload: { (header) throws(NFTNetlinkError) in
            let chain = try NftnlChain(family: family.netfilterFamily, table: name, name: "")
            nftnl_chain_unset(chain.pointer, Nftnl.attribute(NFTNL_CHAIN_NAME))
            nftnl_chain_nlmsg_build_payload(header, chain.pointer)
        }) { header throws(NFTNetlinkError) in
            let chain = try NftnlChain()
            guard nftnl_chain_nlmsg_parse(header, chain.pointer) >= 0 else { throw .malformed("list chains", "unparsable chain") }
            if chain.table == name { chains.append(chain) }
        }
        return chains
    }

    /// The table's sets, without their elements.
    private func sets(_ family: TableFamily, _ name: String) throws(NFTNetlinkError) -> [NftnlSet] {
        var sets: [NftnlSet] = []
        try dumpObjects(NFT_MSG_GETSET, family: family, "list sets of \(family.rawValue) \(name)", payload: { (header) throws(NFTNetlinkError) in
            let set = try NftnlSet(family: family.netfilterFamily, table: name, name: "")
            nftnl_set_unset(set.pointer, Nftnl.attribute(NFTNL_SET_NAME))
            nftnl_set_nlmsg_build_payload(header, set.pointer)
        }) { header throws(NFTNetlinkError) in
            let set = try NftnlSet()
            guard nftnl_set_nlmsg_parse(header, set.pointer) >= 0 else { throw .malformed("list sets", "unparsable set") }
            if set.table == name { sets.append(set) }
        }
        return sets
    }

    /// The definition (without elements) of an existing set, for encoding element changes.
    func setDefinition(_ family: TableFamily, _ table: String, _ name: String) throws(NFTNetlinkError) -> NamedSet {
        var found: KernelSet?
        try socket.request("get set \(family.rawValue) \(table) \(name)", build: { (buffer, sequence) throws(NFTNetlinkError) -> Int in
            let set = try NftnlSet(family: family.netfilterFamily, table: table, name: name)
            let header = nftnl_nlmsg_build_hdr(buffer.assumingMemoryBound(to: CChar.self), Nftnl.messageType(NFT_MSG_GETSET),
                                               UInt16(family.netfilterFamily), UInt16(NLM_F_ACK), sequence)!
            nftnl_set_nlmsg_build_payload(header, set.pointer)
            return Int(header.pointee.nlmsg_len)
        }, handle: { header throws(NFTNetlinkError) in
            let set = try NftnlSet()
            guard nftnl_set_nlmsg_parse(header, set.pointer) >= 0 else { throw .malformed("get set", "unparsable set") }
            found = set.value
        })
        guard let found, let set = Self.namedSet(found) else {
            throw NFTNetlinkError(code: .unsupported, operation: "get set \(family.rawValue) \(table) \(name)", message: "the kernel's set has a type this encoder does not know")
        }
        return set
    }

    private func dumpObjects(
        _ type: nf_tables_msg_types, family: TableFamily, _ operation: String,
        payload: (UnsafeMutablePointer<nlmsghdr>) throws(NFTNetlinkError) -> Void,
        handle: (UnsafePointer<nlmsghdr>) throws(NFTNetlinkError) -> Void
    ) throws(NFTNetlinkError) {
        try socket.request(operation, build: { (buffer, sequence) throws(NFTNetlinkError) -> Int in
            let header = nftnl_nlmsg_build_hdr(buffer.assumingMemoryBound(to: CChar.self), Nftnl.messageType(type),
                                               UInt16(family.netfilterFamily), UInt16(NLM_F_DUMP), sequence)!
            try payload(header)
            return Int(header.pointee.nlmsg_len)
        }, handle: handle)
    }

    // MARK: - Decoding

    /// The IR of a dumped table: chains and sets in the kernel's order (creation order), rules in chain
    /// order, set elements sorted.
    static func decode(_ dumped: DumpedTable) -> Table {
        var table = Table(family: dumped.family, name: dumped.name)
        var anonymous: [String: KernelSet] = [:]
        for set in dumped.sets {
            if set.isAnonymous {
                anonymous[set.name] = set
            } else {
                table.sets.append(namedSet(set) ?? NamedSet(name: set.name, keyType: []))
            }
        }
        let decoder = RuleDecoder(family: dumped.family, anonymousSets: anonymous)
        var rulesByChain: [String: [Rule]] = [:]
        for rule in dumped.rules {
            let id = UserData.ruleComment(in: rule.userdata) ?? ""
            rulesByChain[rule.chain, default: []].append(Rule(id: id, statements: decoder.decode(rule.expressions)))
        }
        for chain in dumped.chains {
            var base: BaseChain?
            if let hook = chain.base {
                // A type or hook we do not model keeps the chain a base chain that cannot equal ours.
                base = BaseChain(
                    type: BaseChain.ChainType(rawValue: hook.type) ?? .route,
                    hook: dumped.family.hook(number: hook.hook) ?? .ingress,
                    priority: Int(hook.priority),
                    policy: hook.policy == 1 ? .accept : .drop
                )
            }
            table.chains.append(Chain(name: chain.name, base: base, rules: rulesByChain[chain.name] ?? []))
        }
        return table
    }

    /// A named set's IR, or nil when its key or data type is unknown.
    static func namedSet(_ set: KernelSet) -> NamedSet? {
        guard let kinds = SetEncoding.kinds(keyType: set.keyType, keyLength: set.keyLength) else { return nil }
        var keyTypes: [SetKeyType] = []
        for kind in kinds {
            guard let type = kind.setKeyType else { return nil }
            keyTypes.append(type)
        }
        var dataKind: ValueKind?
        if let dataType = set.dataType, set.flags & KernelSet.map != 0 {
            if dataType == SetEncoding.verdictDataType {
                dataKind = .verdict
            } else {
                guard let kind = SetEncoding.kinds(keyType: dataType, keyLength: set.dataLength ?? 0)?.first, kind.setKeyType != nil else { return nil }
                dataKind = kind
            }
        }
        var flags: Set<NamedSet.Flag> = []
        if set.flags & KernelSet.constant != 0 { flags.insert(.constant) }
        if set.flags & KernelSet.interval != 0 { flags.insert(.interval) }
        if set.flags & KernelSet.timeout != 0 { flags.insert(.timeout) }
        guard let elements = SetEncoding.decodeElements(set, kinds: kinds, dataKind: dataKind) else { return nil }
        return NamedSet(name: set.name, keyType: keyTypes, data: dataKind?.setKeyType, flags: flags, elements: elements)
    }
}
