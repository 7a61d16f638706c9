public import Glibc
public import SDNDataplane
public import SDNNFTables
import Synchronization

/// nf_tables' ruleset in memory, for reconciler tests only (never to claim a capability). It follows
/// the kernel's rules that matter to a planner: a batch is one transaction (any failing message fails
/// the whole batch and nothing changes), a committed non-empty batch moves the ruleset generation by one
/// (skipping zero, as the kernel does), a batch guarded by a stale generation is refused whole, objects
/// need their table (and rules their chain), deleting what is not there is `ENOENT`, and creating a
/// table or set that exists is `EEXIST`. It does not validate rules (jumps to missing chains, loops).
///
/// Every batch is recorded in `trace`; faults are injected with ``rejectMessage(_:ofBatch:errno:)``,
/// ``anotherWriterCommitsBefore(nextBatches:)`` and ``commitAsAnotherWriter(_:)``.
public final class InMemoryFirewallDataplane: FirewallDataplane {
    private struct Rejection {
        var batch: Int
        var message: Int
        var errno: Int32
    }

    private struct State {
        var ruleset: Ruleset
        var generation: UInt32
        var batches = 0
        /// Batches refused (stale generation) or rejected (a failing message).
        var rejectedBatches = 0
        var messages = 0
        var stagedLoads = 0
        var trace: [String] = []
        var rejections: [Rejection] = []
        var racesPending = 0
    }

    private let state: Mutex<State>

    /// A kernel holding `ruleset` at `generation`.
    public init(_ ruleset: Ruleset = Ruleset(), generation: UInt32 = 1) {
        state = Mutex(State(ruleset: ruleset, generation: generation))
    }

    /// Everything the kernel holds (all tables, not only ours).
    public var ruleset: Ruleset { state.withLock { $0.ruleset } }
    public var generation: UInt32 { state.withLock { $0.generation } }
    public var trace: [String] { state.withLock { $0.trace } }
    /// Batches committed (refused ones are not counted): the "zero writes" check of a no-op round.
    public var committedBatches: Int { state.withLock { $0.batches } }
    /// Messages in committed batches.
    public var committedMessages: Int { state.withLock { $0.messages } }
    /// Calls of ``applyStaged(_:expectedGeneration:)``.
    public var stagedLoads: Int { state.withLock { $0.stagedLoads } }

    public func clearTrace() { state.withLock { $0.trace = [] } }

    /// Makes message `message` (1-based) of the `batch`-th batch from now fail with `errno`: the kernel
    /// rejects that message, so the whole batch is aborted and nothing of it is applied.
    public func rejectMessage(_ message: Int, ofBatch batch: Int = 1, errno: Int32 = EINVAL) {
        state.withLock { $0.rejections.append(Rejection(batch: $0.batches + $0.rejectedBatches + batch, message: message, errno: errno)) }
    }

    /// Before each of the next `count` guarded batches, another process commits a transaction of its
    /// own (the generation moves), so the batch meets a stale generation and is refused whole.
    public func anotherWriterCommitsBefore(nextBatches count: Int) {
        state.withLock { $0.racesPending = count }
    }

    /// Another process commits `changes` now (drift, or the "someone else" of a generation race).
    public func commitAsAnotherWriter(_ changes: [FirewallChange]) throws(FirewallApplyError) {
        try state.withLock { state throws(FirewallApplyError) in
            var ruleset = state.ruleset
            for (index, change) in changes.enumerated() {
                if let errno = Self.apply(change, to: &ruleset) {
                    throw FirewallApplyError(code: .rejected, message: String(cString: strerror(errno)), failedChangeIndex: index, failedChange: change, errno: errno)
                }
            }
            state.ruleset = ruleset
            state.generation = Self.next(state.generation)
            state.trace.append("another writer commits \(changes.count) message\(changes.count == 1 ? "" : "s") → generation \(state.generation)")
        }
    }

    public func observe(tables: [(TableFamily, String)]) async throws -> ObservedFirewall {
        state.withLock { state in
            let ours = tables.compactMap { state.ruleset.table($0.0, $0.1) }
            return ObservedFirewall(ruleset: Ruleset(tables: ours), generation: state.generation)
        }
    }

    public func apply(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport {
        try state.withLock { state throws(FirewallApplyError) in try Self.commit(changes, expectedGeneration: expectedGeneration, staged: false, state: &state) }
    }

    /// The fake stages nothing (one batch), but counts the call, so tests see which path a plan took.
    public func applyStaged(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport {
        try state.withLock { state throws(FirewallApplyError) in
            state.stagedLoads += 1
            return try Self.commit(changes, expectedGeneration: expectedGeneration, staged: true, state: &state)
        }
    }

    private static func commit(_ changes: [FirewallChange], expectedGeneration: UInt32?, staged: Bool, state: inout State) throws(FirewallApplyError) -> FirewallApplyReport {
        let batch = state.batches + state.rejectedBatches + 1
        let name = staged ? "staged firewall load" : "firewall batch"
        if expectedGeneration != nil, state.racesPending > 0 {
            state.racesPending -= 1
            state.generation = next(state.generation)
            state.trace.append("another writer commits → generation \(state.generation)")
        }
        if let expectedGeneration, expectedGeneration != state.generation {
            state.rejectedBatches += 1
            state.trace.append("REFUSED \(name) of \(changes.count) messages: generation \(expectedGeneration) expected, \(state.generation) found (ERESTART)")
            throw FirewallApplyError(code: .generationChanged,
                                     message: "the ruleset changed since generation \(expectedGeneration): nothing was applied; observe and plan again", errno: ERESTART)
        }
        var ruleset = state.ruleset
        for (index, change) in changes.enumerated() {
            let injected = state.rejections.first { $0.batch == batch && $0.message == index + 1 }?.errno
            if let errno = injected ?? apply(change, to: &ruleset) {
                state.rejectedBatches += 1
                state.trace.append("REJECTED \(name) of \(changes.count) messages at message \(index + 1): \(change.objectDescription) (\(injected != nil ? "injected " : "")errno \(errno)); nothing applied")
                throw FirewallApplyError(code: .rejected, message: "the kernel rejected \(change.objectDescription): \(String(cString: strerror(errno)))",
                                         failedChangeIndex: index, failedChange: change, errno: errno)
            }
        }
        state.ruleset = ruleset
        if !changes.isEmpty {
            state.generation = next(state.generation)
            state.batches += 1
            state.messages += changes.count
        }
        state.trace.append("\(name): \(changes.count) messages → generation \(state.generation)")
        state.trace += changes.map { "  " + summary($0) }
        return FirewallApplyReport(messageCount: changes.count, generation: state.generation)
    }

    /// One line per change, short enough for a golden file (rules by id, not by text).
    static func summary(_ change: FirewallChange) -> String {
        switch change {
        case .addRule(_, _, _, let rule): "add rule \(rule.id) to \(change.objectDescription.split(separator: " ").dropFirst(3).prefix(4).joined(separator: " "))"
        default: change.description
        }
    }

    private static func next(_ generation: UInt32) -> UInt32 { generation &+ 1 == 0 ? 1 : generation &+ 1 }

    // MARK: kernel rules

    /// Applies one message; returns the errno the kernel would give, or nil.
    private static func apply(_ change: FirewallChange, to ruleset: inout Ruleset) -> Int32? {
        func table(_ family: TableFamily, _ name: String) -> Int? { ruleset.tables.firstIndex { $0.family == family && $0.name == name } }
        switch change {
        case .addTable(let family, let name):
            // `add table` of an existing table is accepted (NLM_F_CREATE without EXCL) and changes nothing.
            if table(family, name) == nil { ruleset.tables.append(Table(family: family, name: name)) }
        case .deleteTable(let family, let name):
            guard let t = table(family, name) else { return ENOENT }
            ruleset.tables.remove(at: t)
        case .addChain(let family, let tableName, let chain):
            guard let t = table(family, tableName) else { return ENOENT }
            if let c = ruleset.tables[t].chains.firstIndex(where: { $0.name == chain.name }) {
                // An existing chain: a base chain's policy may change; its hook may not.
                let old = ruleset.tables[t].chains[c].base
                guard (old == nil) == (chain.base == nil), old?.hook == chain.base?.hook, old?.type == chain.base?.type else { return EOPNOTSUPP }
                ruleset.tables[t].chains[c].base = chain.base
            } else {
                ruleset.tables[t].chains.append(Chain(name: chain.name, base: chain.base, rules: chain.rules))
            }
        case .deleteChain(let family, let tableName, let name):
            guard let t = table(family, tableName), let c = ruleset.tables[t].chains.firstIndex(where: { $0.name == name }) else { return ENOENT }
            ruleset.tables[t].chains.remove(at: c)
        case .flushChain(let family, let tableName, let name):
            guard let t = table(family, tableName), let c = ruleset.tables[t].chains.firstIndex(where: { $0.name == name }) else { return ENOENT }
            ruleset.tables[t].chains[c].rules = []
        case .addRule(let family, let tableName, let name, let rule):
            guard let t = table(family, tableName), let c = ruleset.tables[t].chains.firstIndex(where: { $0.name == name }) else { return ENOENT }
            ruleset.tables[t].chains[c].rules.append(rule)
        case .addSet(let family, let tableName, let set):
            guard let t = table(family, tableName) else { return ENOENT }
            guard ruleset.tables[t].set(set.name) == nil else { return EEXIST }
            ruleset.tables[t].sets.append(set)
        case .deleteSet(let family, let tableName, let name):
            guard let t = table(family, tableName), let s = ruleset.tables[t].sets.firstIndex(where: { $0.name == name }) else { return ENOENT }
            ruleset.tables[t].sets.remove(at: s)
        case .addElements(let family, let tableName, let name, let elements):
            guard let t = table(family, tableName), let s = ruleset.tables[t].sets.firstIndex(where: { $0.name == name }) else { return ENOENT }
            for element in elements {
                if let existing = ruleset.tables[t].sets[s].elements.first(where: { $0.key == element.key }) {
                    // A map key with other data is a conflict; the same element again is accepted.
                    guard existing == element else { return EEXIST }
                } else {
                    ruleset.tables[t].sets[s].elements.append(element)
                }
            }
        case .deleteElements(let family, let tableName, let name, let elements):
            guard let t = table(family, tableName), let s = ruleset.tables[t].sets.firstIndex(where: { $0.name == name }) else { return ENOENT }
            for element in elements {
                guard let e = ruleset.tables[t].sets[s].elements.firstIndex(where: { $0.key == element.key }) else { return ENOENT }
                ruleset.tables[t].sets[s].elements.remove(at: e)
            }
        }
        return nil
    }
}
