public import SDNModel
public import SDNNFTables

/// The firewall objects that belong to a set of guests: their NIC chains and their elements of the
/// shared maps and sets. Changing one guest's policy recompiles just this and sends just its delta,
/// so the cost follows the change, not the size of the ruleset.
public struct GuestFragment: Sendable, Equatable {
    /// Chains by table family (spoof chains in `bridge`; policy chains where the kernel mode puts them).
    public var chains: [TableFamily: [Chain]]
    /// Elements of shared maps and sets, by table family and set name.
    public var elements: [TableFamily: [String: [SetElement]]]
    /// Security groups the guests jump to (their chains must already exist).
    public var groups: [TableFamily: Set<String>]
    /// Named sets the guests' rules reference: shared constant sets and IP sets (they must already exist).
    public var sets: [TableFamily: Set<String>]
    /// What compiling these guests found (the full compile reports the same for them); an error means
    /// the guests' policies cannot be applied.
    public var diagnostics: [Diagnostic] = []

    private static func isInterval(_ element: SetElement) -> Bool {
        element.key.contains { if case .prefix = $0 { true } else if case .range = $0 { true } else { false } }
    }

    /// Whether every chain and set outside the fragment that its rules name exists in `ruleset`. When
    /// not (a guest starts using a security group or IP set nothing used before), its changes cannot be
    /// applied alone: compile the whole ruleset and diff instead.
    ///
    /// With `old`, the fragment this one replaces (whose dependencies the ruleset already has), the
    /// common case of needing nothing new is answered without looking at the ruleset.
    public func dependenciesSatisfied(by ruleset: Ruleset, replacing old: GuestFragment? = nil) -> Bool {
        if let old, groups.allSatisfy({ $0.value.isSubset(of: old.groups[$0.key] ?? []) }),
           sets.allSatisfy({ $0.value.isSubset(of: old.sets[$0.key] ?? []) }),
           !elements.values.contains(where: { $0.values.contains { $0.contains(where: Self.isInterval) } }) {
            return true
        }
        for table in ruleset.tables where table.name == FirewallNaming.tableName {
            // A set kept without the interval flag (all host addresses) cannot take a subnet element.
            for (name, list) in elements[table.family] ?? [:] where list.contains(where: Self.isInterval) {
                if let set = table.sets.first(where: { $0.name == name }), !set.flags.contains(.interval) { return false }
            }
            let needed = groups[table.family] ?? []
            if !needed.isEmpty {
                let chains = Set(table.chains.lazy.filter { $0.name.hasPrefix("group-") }.map(\.name))
                for group in needed {
                    for direction in Direction.allCases where !chains.contains(FirewallNaming.groupChain(group, direction)) { return false }
                }
            }
            let sets = Set(table.sets.map(\.name))
            if !(self.sets[table.family] ?? []).isSubset(of: sets) { return false }
        }
        let families = Set(ruleset.tables.filter { $0.name == FirewallNaming.tableName }.map(\.family))
        return Set(groups.filter { !$0.value.isEmpty }.keys).union(sets.filter { !$0.value.isEmpty }.keys).isSubset(of: families)
    }
}

extension FirewallCompiler {
    /// Compiles only the given guests of a node. The rest of the ruleset is assumed unchanged; callers
    /// fall back to a full compile when a guest starts using a security group nothing used before.
    public static func compileGuests(_ ids: Set<Int>, of validated: Validated<DesiredState>, node: String, features: KernelFeatures = .full) -> GuestFragment {
        let builder = Builder(state: validated.value, nodeName: node, features: features, guestIDs: ids)
        return builder.fragment(for: ids)
    }

    /// The changes that replace `old`'s objects with `new`'s in the kernel (same guests on both sides).
    public static func changes(from old: GuestFragment, to new: GuestFragment) -> [FirewallChange] {
        var changes: [FirewallChange] = []
        let table = FirewallNaming.tableName
        for (family, newChains) in new.chains.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let oldChains = Dictionary((old.chains[family] ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for chain in newChains {
                if let previous = oldChains[chain.name] {
                    guard previous.rules != chain.rules else { continue }
                    changes.append(.flushChain(family, table: table, chain: chain.name))
                } else {
                    changes.insert(.addChain(family, table: table, Chain(name: chain.name)), at: 0)
                }
                for rule in chain.rules { changes.append(.addRule(family, table: table, chain: chain.name, rule)) }
            }
        }
        var removals: [FirewallChange] = []
        var additions: [FirewallChange] = []
        let families = Set(old.elements.keys).union(new.elements.keys).sorted { $0.rawValue < $1.rawValue }
        for family in families {
            let oldSets = old.elements[family] ?? [:], newSets = new.elements[family] ?? [:]
            for name in Set(oldSets.keys).union(newSets.keys).sorted() {
                let before = oldSets[name] ?? [], after = newSets[name] ?? []
                let afterSet = Set(after), beforeSet = Set(before)
                let removed = before.filter { !afterSet.contains($0) }
                let added = after.filter { !beforeSet.contains($0) }
                if !removed.isEmpty { removals.append(.deleteElements(family, table: table, set: name, removed)) }
                if !added.isEmpty { additions.append(.addElements(family, table: table, set: name, added)) }
            }
        }
        // Chains that are gone (a NIC removed) are flushed and deleted after their map elements.
        var gone: [FirewallChange] = []
        for (family, oldChains) in old.chains {
            let names = Set((new.chains[family] ?? []).map(\.name))
            for chain in oldChains where !names.contains(chain.name) {
                gone.append(.flushChain(family, table: table, chain: chain.name))
                gone.append(.deleteChain(family, table: table, chain: chain.name))
            }
        }
        let creations = changes.filter { if case .addChain = $0 { true } else { false } }
        let contents = changes.filter { if case .addChain = $0 { false } else { true } }
        return creations + removals + contents + additions + gone
    }
}

extension GuestFragment {
    /// This fragment's objects written into a full ruleset (for keeping a compiled ruleset current
    /// after an incremental apply).
    public func patch(_ ruleset: inout Ruleset, replacing old: GuestFragment) {
        for index in ruleset.tables.indices {
            let family = ruleset.tables[index].family
            let oldNames = Set((old.chains[family] ?? []).map(\.name))
            var replacements = Dictionary((chains[family] ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            ruleset.tables[index].chains = ruleset.tables[index].chains.compactMap { chain in
                if let replacement = replacements.removeValue(forKey: chain.name) { return replacement }
                return oldNames.contains(chain.name) ? nil : chain
            }
            ruleset.tables[index].chains += replacements.values.sorted { $0.name < $1.name }
            for setIndex in ruleset.tables[index].sets.indices {
                let name = ruleset.tables[index].sets[setIndex].name
                let before = Set(old.elements[family]?[name] ?? [])
                let after = elements[family]?[name] ?? []
                guard !before.isEmpty || !after.isEmpty else { continue }
                ruleset.tables[index].sets[setIndex].elements.removeAll { before.contains($0) }
                ruleset.tables[index].sets[setIndex].elements += after
            }
        }
    }
}
