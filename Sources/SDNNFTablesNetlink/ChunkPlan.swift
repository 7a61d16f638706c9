import SDNDataplane
import SDNNFTables

/// Which changes of a list can go ahead of the rest without being reachable by packets.
struct ChunkPlan {
    var early: [FirewallChange] = []
    var final: [FirewallChange] = []

    init(_ changes: [FirewallChange], socket: NetlinkSocket) throws(FirewallApplyError) {
        struct Name: Hashable {
            var family: TableFamily
            var table: String
            var name: String
        }
        var deletedTables = Set<Name>()
        var deletedSets = Set<Name>()
        var touchedChains = Set<Name>()
        for change in changes {
            switch change {
            case .deleteTable(let family, let table): deletedTables.insert(Name(family: family, table: table, name: ""))
            case .deleteSet(let family, let table, let set): deletedSets.insert(Name(family: family, table: table, name: set))
            case .deleteChain(let family, let table, let chain), .flushChain(let family, let table, let chain):
                touchedChains.insert(Name(family: family, table: table, name: chain))
            default: break
            }
        }

        // What already exists in the kernel, for the tables the list creates things in.
        var existing: [Name: RulesetReader.Names] = [:]
        let reader = RulesetReader(socket: socket)
        func names(_ family: TableFamily, _ table: String) throws(FirewallApplyError) -> RulesetReader.Names {
            let key = Name(family: family, table: table, name: "")
            if let known = existing[key] { return known }
            do throws(NFTNetlinkError) {
                let found = try reader.names(family, table)
                existing[key] = found
                return found
            } catch {
                throw FirewallApplyError(code: .transport, message: "cannot list \(family.rawValue) \(table): \(error)", errno: error.errno)
            }
        }

        var newChains = Set<Name>()
        for change in changes {
            switch change {
            case .addTable(let family, let table):
                let key = Name(family: family, table: table, name: "")
                if try !names(family, table).tableExists && !deletedTables.contains(key) {
                    early.append(change)
                    continue
                }
            case .addSet(let family, let table, let set):
                let key = Name(family: family, table: table, name: set.name)
                if try !names(family, table).sets.contains(set.name) && !deletedSets.contains(key) && !deletedTables.contains(Name(family: family, table: table, name: "")) {
                    early.append(change)
                    continue
                }
            case .addChain(let family, let table, let chain) where chain.base == nil:
                let key = Name(family: family, table: table, name: chain.name)
                if try !names(family, table).chains.contains(chain.name) && !touchedChains.contains(key) && !deletedTables.contains(Name(family: family, table: table, name: "")) {
                    early.append(change)
                    newChains.insert(key)
                    continue
                }
            case .addRule(let family, let table, let chain, let rule):
                let usesDeletedSet = rule.statements.contains { statement in
                    Self.setNames(statement).contains { deletedSets.contains(Name(family: family, table: table, name: $0)) }
                }
                if newChains.contains(Name(family: family, table: table, name: chain)) && !usesDeletedSet {
                    early.append(change)
                    continue
                }
            default:
                break
            }
            final.append(change)
        }
    }

    /// Named sets and maps a statement refers to.
    static func setNames(_ statement: Statement) -> [String] {
        switch statement {
        case .match(_, _, .setReference(let name)): [name]
        case .vmap(_, let map): [map]
        default: []
        }
    }
}
