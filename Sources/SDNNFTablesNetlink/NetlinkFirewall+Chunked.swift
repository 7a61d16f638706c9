import Glibc
import SDNDataplane
import SDNNFTables

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

        var generation = expectedGeneration
        var total = 0
        var report = FirewallApplyReport(messageCount: 0, generation: expectedGeneration ?? 0)
        var offset = 0
        for batch in batches {
            do throws(FirewallApplyError) {
                report = try apply(batch, expectedGeneration: generation, socket: socket)
            } catch {
                var error = error
                // Report the index in the caller's list, not in the batch.
                if let index = error.failedChangeIndex, let change = error.failedChange {
                    error.failedChangeIndex = changes.firstIndex(of: change) ?? index + offset
                }
                if offset > 0 { error.message += " (after \(offset) changes were committed in earlier transactions of this chunked apply; they are not reachable)" }
                throw error
            }
            offset += batch.count
            total += report.messageCount
            // Later transactions are guarded by the generation the previous one committed.
            generation = report.generation
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
