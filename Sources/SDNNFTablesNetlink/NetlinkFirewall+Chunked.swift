import Dispatch
import Glibc
import Synchronization
public import SDNDataplane
public import SDNNFTables

extension NetlinkFirewall {
    /// Applies a very large change list (a first load of 100,000 rules) as several transactions without
    /// ever exposing a partial ruleset to traffic.
    ///
    /// Objects nothing can reach yet go first, in batches of at most `maximumMessagesPerBatch`
    /// messages: new tables, new sets, new regular chains, then the rules of those new chains. A new
    /// regular chain is reached only through a jump, a goto or a verdict map, and those come last: the
    /// final transaction holds everything else in the given order — base chains (hooks and policies),
    /// rules of existing and base chains, element changes, deletions. Until it commits, packets see
    /// exactly the ruleset from before; when it commits, they see all of the new one at once.
    ///
    /// Every transaction is guarded by the generation the previous one produced (the first by
    /// `expectedGeneration`), so a concurrent change stops the sequence with `.generationChanged`. If
    /// a later transaction fails, the earlier ones stay applied: they add only unreachable objects,
    /// which the next observe reports and the next plan removes or completes.
    ///
    /// For change lists that fit one batch this is ``apply(_:expectedGeneration:)``.
    public func applyChunked(_ changes: [FirewallChange], expectedGeneration: UInt32?, maximumMessagesPerBatch: Int = 20_000) async throws(FirewallApplyError) -> FirewallApplyReport {
        try await perform { socket throws(FirewallApplyError) in
            try Self.applyChunked(changes, expectedGeneration: expectedGeneration, limit: max(maximumMessagesPerBatch, 1), socket: socket)
        }.get()
    }

    /// ``FirewallDataplane``'s staged load: ``applyChunked(_:expectedGeneration:maximumMessagesPerBatch:)``.
    public func applyStaged(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport {
        try await applyChunked(changes, expectedGeneration: expectedGeneration)
    }

    static func applyChunked(_ changes: [FirewallChange], expectedGeneration: UInt32?, limit: Int, socket: NetlinkSocket) throws(FirewallApplyError) -> FirewallApplyReport {
        let plan = try ChunkPlan(changes, socket: socket)
        guard !plan.early.isEmpty else { return try apply(changes, expectedGeneration: expectedGeneration, socket: socket) }

        // Message counts decide the batch boundaries; a rule with anonymous sets takes several messages.
        var batches: [[FirewallChange]] = []
        var current: [FirewallChange] = []
        var currentMessages = 0
        for change in plan.early {
            let messages = Self.estimatedMessages(change)
            if !current.isEmpty && currentMessages + messages > limit {
                batches.append(current)
                current = []
                currentMessages = 0
            }
            current.append(change)
            currentMessages += messages
        }
        if !current.isEmpty { batches.append(current) }
        batches.append(plan.final)

        // Set definitions are read before anything is sent: the early transactions only create new
        // objects, so what they are read for (element changes of existing sets) does not change.
        let definitions = try existingSetDefinitions(for: changes, socket: socket)
        let pipeline = EncodingPipeline(batches: batches, definitions: definitions, expectedGeneration: expectedGeneration,
                                        firstSequence: socket.firstFreeSequence(room: 1 << 26))
        pipeline.start()
        defer { pipeline.cancel() }

        var generation = expectedGeneration
        var total = 0
        var report = FirewallApplyReport(messageCount: 0, generation: expectedGeneration ?? 0)
        var offset = 0
        for (index, batchChanges) in batches.enumerated() {
            do throws(FirewallApplyError) {
                let (batch, sequences) = try pipeline.next()
                socket.advanceSequences(by: sequences)
                report = try commit(batch, changes: batchChanges, expectedGeneration: generation, socket: socket)
            } catch {
                var error = error
                // Report the index in the caller's list, not in the batch.
                if let batchIndex = error.failedChangeIndex, let change = error.failedChange {
                    error.failedChangeIndex = changes.firstIndex(of: change) ?? batchIndex + offset
                }
                if index > 0 { error.message += " (after \(offset) changes were committed in earlier transactions of this chunked apply; they are not reachable)" }
                throw error
            }
            offset += batchChanges.count
            total += report.messageCount
            // Later transactions are guarded by the generation the previous one committed.
            generation = expectedGeneration == nil ? nil : report.generation
        }
        return FirewallApplyReport(messageCount: total, generation: report.generation)
    }

    private static func estimatedMessages(_ change: FirewallChange) -> Int {
        switch change {
        case .addRule(_, _, _, let rule):
            1 + 2 * rule.statements.filter { if case .match(_, _, .set) = $0 { true } else { false } }.count
        case .addSet(_, _, let set):
            1 + max(1, set.elements.count / 500)
        default:
            1
        }
    }
}

/// Encodes the transactions of a chunked apply on another thread while the kernel processes the
/// previous one: a first load spends about as long building messages as the kernel spends on them, and
/// the two overlap. At most two encoded transactions wait, to bound memory.
///
/// Each transaction's generation guard is the generation the previous one commits (predictable: the
/// next one, as `commit` reports it), so encoding never waits for the kernel.
private final class EncodingPipeline: @unchecked Sendable {
    private let batches: [[FirewallChange]]
    private let definitions: [NetlinkFirewall.TableName: [String: NamedSet]]
    private let expectedGeneration: UInt32?
    private let firstSequence: UInt32
    private let slots = DispatchSemaphore(value: 2)
    private let ready = DispatchSemaphore(value: 0)
    private let results = Mutex<[(Result<EncodedBatch, FirewallApplyError>, Int)]>([])
    private let cancelled = Atomic<Bool>(false)

    init(batches: [[FirewallChange]], definitions: [NetlinkFirewall.TableName: [String: NamedSet]], expectedGeneration: UInt32?, firstSequence: UInt32) {
        self.batches = batches
        self.definitions = definitions
        self.expectedGeneration = expectedGeneration
        self.firstSequence = firstSequence
    }

    func start() {
        DispatchQueue.global(qos: .userInitiated).async { self.run() }
    }

    private func run() {
        var sequence = firstSequence
        var generation = expectedGeneration
        for changes in batches {
            slots.wait()
            guard !cancelled.load(ordering: .relaxed) else { return }
            if UInt64(sequence) + (1 << 26) > UInt64(UInt32.max) { sequence = 1 }
            let result = Result { () throws(FirewallApplyError) -> EncodedBatch in
                try NetlinkFirewall.encode(changes, firstSequence: sequence, expectedGeneration: generation, definitions: definitions)
            }
            var used = 0
            if case .success(let batch) = result {
                used = batch.sequenceCount
                sequence &+= UInt32(truncatingIfNeeded: used)
                generation = NetlinkFirewall.generation(after: batch, expected: generation)
            }
            results.withLock { $0.append((result, used)) }
            ready.signal()
            if case .failure = result { return }
        }
    }

    /// The next transaction in order and the sequence numbers it uses (waits for the encoder).
    func next() throws(FirewallApplyError) -> (EncodedBatch, Int) {
        ready.wait()
        let (result, used) = results.withLock { $0.removeFirst() }
        slots.signal()
        return (try result.get(), used)
    }

    func cancel() {
        cancelled.store(true, ordering: .relaxed)
        slots.signal()
        slots.signal()
    }
}
