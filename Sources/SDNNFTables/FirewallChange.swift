/// One step of a firewall transaction. A list of these, in order, is one atomic netlink batch.
public enum FirewallChange: Hashable, Sendable, CustomStringConvertible {
    case addTable(TableFamily, String)
    case deleteTable(TableFamily, String)
    /// Creates the chain (without rules), or updates a base chain's policy when it exists.
    case addChain(TableFamily, table: String, Chain)
    case deleteChain(TableFamily, table: String, chain: String)
    /// Removes every rule of a chain (the chain stays, so jumps to it stay valid).
    case flushChain(TableFamily, table: String, chain: String)
    /// Appends a rule at the end of the chain.
    case addRule(TableFamily, table: String, chain: String, Rule)
    /// Creates the set with its elements.
    case addSet(TableFamily, table: String, NamedSet)
    case deleteSet(TableFamily, table: String, set: String)
    case addElements(TableFamily, table: String, set: String, [SetElement])
    case deleteElements(TableFamily, table: String, set: String, [SetElement])

    /// What a kernel error about this step should name.
    public var objectDescription: String {
        switch self {
        case .addTable(let family, let name), .deleteTable(let family, let name):
            "table \(family.rawValue) \(name)"
        case .addChain(let family, let table, let chain):
            "chain \(family.rawValue) \(table) \(chain.name)"
        case .deleteChain(let family, let table, let chain), .flushChain(let family, let table, let chain):
            "chain \(family.rawValue) \(table) \(chain)"
        case .addRule(let family, let table, let chain, let rule):
            "rule \(rule.id) in chain \(family.rawValue) \(table) \(chain)" + (rule.origin.map { " (from \($0))" } ?? "")
        case .addSet(let family, let table, let set):
            "set \(family.rawValue) \(table) \(set.name)"
        case .deleteSet(let family, let table, let set), .addElements(let family, let table, let set, _), .deleteElements(let family, let table, let set, _):
            "set \(family.rawValue) \(table) \(set)"
        }
    }

    public var description: String {
        switch self {
        case .addTable: "add \(objectDescription)"
        case .deleteTable: "delete \(objectDescription)"
        case .addChain: "add \(objectDescription)"
        case .deleteChain: "delete \(objectDescription)"
        case .flushChain: "flush \(objectDescription)"
        case .addRule(_, _, _, let rule): "add \(objectDescription): \(NFTTextRenderer.render(rule))"
        case .addSet(_, _, let set): "add \(objectDescription) (\(set.elements.count) elements)"
        case .deleteSet: "delete \(objectDescription)"
        case .addElements(_, _, _, let elements): "add \(elements.count) element\(elements.count == 1 ? "" : "s") to \(objectDescription)"
        case .deleteElements(_, _, _, let elements): "delete \(elements.count) element\(elements.count == 1 ? "" : "s") from \(objectDescription)"
        }
    }
}

/// The structural diff of two rulesets, keyed by stable ids: tables, chains and sets by name, rules by id.
/// Only what differs is touched: a chain whose rules are unchanged is left alone; a set whose definition
/// is unchanged only gets element adds and deletes.
public enum RulesetDiff {
    /// The steps that turn `current` into `desired`, in an order the kernel accepts within one batch:
    /// new tables, sets and chains first (so jumps and vmap elements can name them), then contents,
    /// then deletions of what is gone.
    public static func changes(from current: Ruleset, to desired: Ruleset) -> [FirewallChange] {
        var creates: [FirewallChange] = []
        var contents: [FirewallChange] = []
        var removals: [FirewallChange] = []
        var tableRemovals: [FirewallChange] = []

        for table in desired.tables {
            let family = table.family
            guard let old = current.table(family, table.name) else {
                creates.append(.addTable(family, table.name))
                // Chains before sets: verdict-map elements name chains.
                for chain in table.chains { creates.append(.addChain(family, table: table.name, Chain(name: chain.name, base: chain.base))) }
                for set in table.sets { creates.append(.addSet(family, table: table.name, set)) }
                for chain in table.chains {
                    for rule in chain.rules { contents.append(.addRule(family, table: table.name, chain: chain.name, rule)) }
                }
                continue
            }
            // Name lookups through dictionaries: a 10,000-guest ruleset has 40,000 chains.
            let oldSets = Dictionary(old.sets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let oldChains = Dictionary(old.chains.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let newChainNames = Set(table.chains.map(\.name))
            let newSetNames = Set(table.sets.map(\.name))
            for set in table.sets {
                if let oldSet = oldSets[set.name] {
                    if oldSet.keyType == set.keyType && oldSet.data == set.data && oldSet.flags == set.flags {
                        let oldElements = Set(oldSet.elements), newElements = Set(set.elements)
                        let removed = oldSet.elements.filter { !newElements.contains($0) }
                        let added = set.elements.filter { !oldElements.contains($0) }
                        // Map elements whose key stays but whose data changes are deleted and re-added.
                        if !removed.isEmpty { removals.insert(.deleteElements(family, table: table.name, set: set.name, removed), at: 0) }
                        if !added.isEmpty { contents.append(.addElements(family, table: table.name, set: set.name, added)) }
                    } else {
                        // A changed type cannot be altered in place: recreate (references are re-added with
                        // the chains that hold them, which are flushed below).
                        removals.append(.deleteSet(family, table: table.name, set: set.name))
                        contents.append(.addSet(family, table: table.name, set))
                    }
                } else {
                    creates.append(.addSet(family, table: table.name, set))
                }
            }
            for chain in table.chains {
                if let oldChain = oldChains[chain.name] {
                    if oldChain.base != chain.base {
                        creates.append(.addChain(family, table: table.name, Chain(name: chain.name, base: chain.base)))
                    }
                    if oldChain.rules != chain.rules {
                        contents.append(.flushChain(family, table: table.name, chain: chain.name))
                        for rule in chain.rules { contents.append(.addRule(family, table: table.name, chain: chain.name, rule)) }
                    }
                } else {
                    creates.append(.addChain(family, table: table.name, Chain(name: chain.name)))
                    if let base = chain.base {
                        creates[creates.count - 1] = .addChain(family, table: table.name, Chain(name: chain.name, base: base))
                    }
                    for rule in chain.rules { contents.append(.addRule(family, table: table.name, chain: chain.name, rule)) }
                }
            }
            // Chains that disappear: flush first (their rules may jump to other doomed chains), then delete.
            let goneChains = old.chains.filter { !newChainNames.contains($0.name) }
            for chain in goneChains where !chain.rules.isEmpty {
                removals.insert(.flushChain(family, table: table.name, chain: chain.name), at: 0)
            }
            for chain in goneChains { removals.append(.deleteChain(family, table: table.name, chain: chain.name)) }
            for set in old.sets where !newSetNames.contains(set.name) {
                removals.append(.deleteSet(family, table: table.name, set: set.name))
            }
        }
        for table in current.tables where desired.table(table.family, table.name) == nil {
            tableRemovals.append(.deleteTable(table.family, table.name))
        }
        // Recreated sets must be deleted before they are added again.
        let setRecreations = removals.filter { if case .deleteSet = $0 { true } else { false } }
            .filter { change in contents.contains { if case .addSet(let f, let t, let s) = $0, case .deleteSet(let f2, let t2, let n) = change { f == f2 && t == t2 && s.name == n } else { false } } }
        if !setRecreations.isEmpty {
            removals.removeAll { setRecreations.contains($0) }
            contents.insert(contentsOf: setRecreations, at: 0)
        }
        // Within the creations: tables, then chains, then sets (verdict-map elements name chains).
        func rank(_ change: FirewallChange) -> Int {
            switch change {
            case .addTable: 0
            case .addChain: 1
            default: 2
            }
        }
        let orderedCreates = creates.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
        return orderedCreates + removalsOfElements(removals) + contents + removalsAfterContents(removals) + tableRemovals
    }

    // Element deletions go before additions (a map key may be re-added with new data); chain and set
    // deletions go after the rules that referenced them have been replaced.
    private static func removalsOfElements(_ removals: [FirewallChange]) -> [FirewallChange] {
        removals.filter { if case .deleteElements = $0 { true } else { false } }
    }

    private static func removalsAfterContents(_ removals: [FirewallChange]) -> [FirewallChange] {
        removals.filter { if case .deleteElements = $0 { false } else { true } }
    }
}
